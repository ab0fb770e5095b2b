"""Every exception class defined under ``timeseal.cli`` derives from ``CliError``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import timeseal.cli
from timeseal.cli.errors import CliError


def _exception_classes() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(timeseal.cli.__path__, "timeseal.cli."):
        if info.name.endswith(".__main__"):  # importing it runs the command
            continue
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if value.__module__ == info.name and issubclass(value, BaseException):
                found.append(value)
    return found


def test_every_cli_exception_derives_from_cli_error() -> None:
    classes = _exception_classes()
    names = {f"{c.__module__}.{c.__qualname__}" for c in classes}
    assert {  # the walk did find them, wherever they moved
        "timeseal.cli.errors.CliError",
        "timeseal.cli.server_client.ServerCallFailed",
        "timeseal.cli.vault.download._PackageChanged",
    } <= names
    outside = [f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, CliError)]
    assert outside == []
