"""A service says no: the one error type the server's services raise at a request they refuse.

Services speak no HTTP. A refusal names itself by a stable ``code`` (the same snake_case code
the JSON API answers with) and carries what the caller needs to act on it: how long to wait,
how many tries are left. The HTTP layer picks the status (one table,
``timeseal.server.api.errors.REFUSAL_STATUS``) and the words. The HTTP layer's own error,
``ApiError``, is a refusal too, with its status chosen where it is raised, so a web page
catches both with one ``except Refusal``.
"""

from __future__ import annotations

import math


class Refusal(Exception):
    """The request is refused for the reason ``code``; nothing was changed because of it
    (a wrong access code or login code is counted, which is the point of counting)."""

    def __init__(
        self, code: str, *, retry_after: float | None = None, attempts_left: int | None = None
    ) -> None:
        super().__init__(code)
        self.code = code
        #: Whole seconds to wait before asking again (at least 1), when waiting is the remedy.
        self.retry_after = None if retry_after is None else max(1, math.ceil(retry_after))
        #: Tries left before the next one is refused, when tries are counted.
        self.attempts_left = attempts_left
