"""docs/architecture.md lists every module under its room, so the map cannot fall behind."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def _map() -> dict[str, set[str]]:
    rooms: dict[str, set[str]] = {}
    room = None
    for line in (ROOT / "docs" / "architecture.md").read_text().splitlines():
        if heading := re.fullmatch(r"## `(.+)/`", line):
            room = heading.group(1)
            rooms[room] = set()
        elif (entry := re.match(r"- `([\w.]+\.py)`: \S", line)) and room is not None:
            rooms[room].add(entry.group(1))
    return rooms


def test_every_module_is_on_the_map_in_its_room() -> None:
    rooms = _map()
    actual: dict[str, set[str]] = {}
    for init in (SRC / "timeseal").rglob("__init__.py"):
        package = init.parent
        if package.name == "versions":  # migrations: one per change, named by number
            continue
        modules = {p.name for p in package.glob("*.py") if p.name != "__init__.py"}
        actual[str(package.relative_to(SRC))] = modules
    assert rooms == actual
