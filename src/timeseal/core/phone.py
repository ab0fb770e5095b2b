"""Mainland China mobile numbers: validation and normalisation to E.164 (``+86…``).

Accepted: the 11-digit mobile number ``1[3-9]xxxxxxxxx``, optionally prefixed by the country
code as ``+86`` or ``0086``, with ASCII spaces and dashes anywhere as separators
(``138 1234 5678``, ``+86-138-1234-5678``, ``0086 13812345678``). Everything else is refused:
other characters (letters, dots, brackets, full-width digits), ``86`` without ``+`` or ``00``,
landlines, and numbers of the wrong length. We only check the shape (ITU-T E.164 country code
86, MIIT mobile prefixes 13x-19x), not that the number is in service.
"""

from __future__ import annotations

import enum
import re

from timeseal.core.errors import TimeSealError

MAX_INPUT_LENGTH = 32
_SEPARATORS = str.maketrans("", "", " -")
# ASCII digits only: ``\d`` would also accept other scripts' digits.
_SHAPE = re.compile(r"(?:\+86|0086)?([0-9]+)")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")


class PhoneProblem(enum.Enum):
    """Why a number was refused; ``value`` is stable and safe to show to clients."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    BAD_CHARACTERS = "bad_characters"
    WRONG_LENGTH = "wrong_length"
    NOT_MOBILE = "not_mobile"


class InvalidPhoneNumber(TimeSealError, ValueError):
    """The text is not a mainland mobile number."""

    def __init__(self, problem: PhoneProblem) -> None:
        super().__init__(f"not a mainland China mobile number ({problem.value})")
        self.problem = problem


def normalise_phone(text: str) -> str:
    """``text`` as E.164, e.g. ``"138-1234-5678"`` -> ``"+8613812345678"``."""
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidPhoneNumber(PhoneProblem.TOO_LONG)
    compact = text.strip().translate(_SEPARATORS)
    if not compact:
        raise InvalidPhoneNumber(PhoneProblem.EMPTY)
    shape = _SHAPE.fullmatch(compact)
    if shape is None:
        raise InvalidPhoneNumber(PhoneProblem.BAD_CHARACTERS)
    national = shape.group(1)
    if len(national) != 11:
        raise InvalidPhoneNumber(PhoneProblem.WRONG_LENGTH)
    if _MOBILE.fullmatch(national) is None:
        raise InvalidPhoneNumber(PhoneProblem.NOT_MOBILE)
    return "+86" + national


def mask_phone(e164: str) -> str:
    """For logs and prompts: ``+8613812345678`` -> ``+86 138****5678``."""
    national = e164.removeprefix("+86")
    return f"+86 {national[:3]}****{national[-4:]}"
