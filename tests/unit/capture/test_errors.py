"""Every exception class defined under ``timeseal.capture`` derives from ``CaptureError``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import timeseal.capture
from timeseal.capture.errors import CaptureError


def _exception_classes() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(timeseal.capture.__path__, "timeseal.capture."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if value.__module__ == info.name and issubclass(value, BaseException):
                found.append(value)
    return found


def test_every_capture_exception_derives_from_capture_error() -> None:
    classes = _exception_classes()
    assert len(classes) >= 15  # the walk did find them
    names = {f"{c.__module__}.{c.__qualname__}" for c in classes}
    assert {  # the log client's errors, in the package it became
        "timeseal.capture.clients.log.errors.LogClientError",
        "timeseal.capture.clients.log.errors.ReceiptTimeout",
        "timeseal.capture.clients.log.errors.ReceiptInvalid",
    } <= names
    outside = [
        f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, CaptureError)
    ]
    assert outside == []


def test_value_errors_stay_value_errors() -> None:
    from timeseal.capture.environment.known_targets import KnownTargetsError
    from timeseal.capture.offline.queue import QueueError
    from timeseal.capture.offline.upload_meta import CaptureMetadataError

    for cls in (KnownTargetsError, QueueError, CaptureMetadataError):
        assert issubclass(cls, ValueError)
