"""Every exception class defined under ``timeseal.core`` derives from ``TimeSealError``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import timeseal.core
from timeseal.core.errors import TimeSealError


def test_every_core_exception_derives_from_timeseal_error() -> None:
    classes: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(timeseal.core.__path__, "timeseal.core."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if value.__module__ == info.name and issubclass(value, BaseException):
                classes.append(value)
    assert len(classes) >= 10  # the walk did find them
    outside = [
        f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, TimeSealError)
    ]
    assert outside == []
