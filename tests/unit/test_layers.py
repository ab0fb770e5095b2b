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
    "cli": {"core", "store", "capture", "server"},
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
