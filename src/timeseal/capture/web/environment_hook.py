"""The call site of the environment check (:mod:`timeseal.capture.environment.check`), kept apart so
the capture still works where that module is not installed.

>>> ENVIRONMENT CHECK CALL SITE <<<  Imported lazily (it is written alongside this package);
without it the capture records ``"environment_check": null``. With it,
``run_environment_check`` gets the target URL, the server whose TSA sets the clock, the
site's private CA (``--ca-file``, trusted as the browser will trust it), the fresh profile
directory the browser will use (not yet created), and ``force``; its report's ``to_json()``
goes into ``capture.json``. A failed check (``EnvironmentCheckFailed``) stops the capture
before the browser starts (as ``EnvironmentRefused``, which ``timeseal capture web`` turns
into exit 2 like every capture command), unless ``--force`` — then the report says
``"forced": true``.
"""

from __future__ import annotations

from pathlib import Path

from timeseal.capture.web.errors import EnvironmentRefused
from timeseal.core.package.canonical import JSONValue

MODULE = "timeseal.capture.environment.check"


def run_environment_check(
    target: str,
    *,
    server: str | None,
    ca_file: Path | None,
    browser_profile_dir: Path,
    force: bool,
) -> dict[str, JSONValue] | None:
    try:
        from timeseal.capture.environment import check as environment
    except ModuleNotFoundError as exc:
        if exc.name != MODULE:
            raise
        return None
    try:
        report = environment.run_environment_check(
            target,
            server,
            ca_file=ca_file,
            browser_profile_dir=browser_profile_dir,
            force=force,
        )
    except environment.EnvironmentCheckFailed as exc:
        raise EnvironmentRefused(exc) from exc
    data: dict[str, JSONValue] = dict(report.to_json())
    return data
