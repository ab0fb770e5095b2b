"""The dependency rule of DESIGN.md, enforced on the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "timeseal"

# layer -> layers it may import (besides itself)
ALLOWED = {
    "core": set(),
    "store": {"core"},
    "server": {"core", "store"},
    "capture": {"core"},
    "witness": {"core"},
    "cli": {"core", "store", "capture", "server", "witness"},
}
# The core's third-party imports: the trust library stays pure.
CORE_THIRD_PARTY = {"asn1crypto", "cryptography", "pkcs11"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _modules(layer: str) -> list[Path]:
    return sorted((SRC / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    assert _modules(layer), f"layer {layer} has no modules"
    for path in _modules(layer):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] != "timeseal" or len(parts) < 2 or parts[1] == "__init__":
                continue
            target = parts[1]
            if target in ALLOWED and target != layer:
                assert target in ALLOWED[layer], f"{path.relative_to(SRC)} imports {name}"


def test_core_is_pure() -> None:
    import sys

    stdlib = sys.stdlib_module_names
    for path in _modules("core"):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top in stdlib or top == "timeseal" or top in CORE_THIRD_PARTY, (
                f"{path.relative_to(SRC)} imports {name}"
            )
            assert top not in {"subprocess", "socket", "sqlite3", "urllib", "http"}, (
                f"{path.relative_to(SRC)} imports {name}"
            )


# The server's rooms that hold its services: no HTTP in them (routes, requests, API errors live
# in server/api and server/web, cross-cutting HTTP in server/middleware; they call the services).
SERVER_SERVICE_ROOMS = ("accounts", "certificate", "evidence", "journal", "log", "runtime")
HTTP_MODULES = ("timeseal.server.api", "timeseal.server.web", "fastapi", "starlette")


@pytest.mark.parametrize("room", SERVER_SERVICE_ROOMS)
def test_server_services_speak_no_http(room: str) -> None:
    assert _modules(f"server/{room}"), f"server/{room} has no modules"
    for path in _modules(f"server/{room}"):
        where = str(path.relative_to(SRC))
        speaking = [
            name
            for name in _imports(path)
            if any(name == http or name.startswith(http + ".") for http in HTTP_MODULES)
        ]
        assert not speaking, f"{where} imports {speaking}"


def test_every_package_says_what_it_holds() -> None:
    packages = sorted(p.parent for p in SRC.rglob("__init__.py"))
    assert len(packages) > 20
    for package in packages:
        tree = ast.parse((package / "__init__.py").read_text())
        assert ast.get_docstring(tree), f"{package.relative_to(SRC)}/__init__.py has no docstring"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``path`` imports, at the top or inside a function (a
    deferred import still ties the two modules together)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & known
            found |= submodules  # ``from package import module`` needs only the module
            if len(submodules) < len(node.names):
                found.add(node.module)
    return found & known


@pytest.mark.parametrize("layer", ["core", "store", "server", "capture", "cli"])
def test_no_import_circle(layer: str) -> None:
    """No two modules of the layer need each other, directly or through others: the part both
    need lives where both can import it."""
    paths = {_module_name(p): p for p in _modules(layer)}
    graph = {name: _imported_modules(path, set(paths)) - {name} for name, path in paths.items()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            circle = [*trail[trail.index(name) :], name]
            raise AssertionError(f"import circle: {' -> '.join(circle)}")
        if name in done:
            return
        for other in sorted(graph[name]):
            visit(other, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
