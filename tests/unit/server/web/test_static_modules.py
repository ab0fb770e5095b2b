"""The page scripts are ES modules served under content-hashed names: every relative import is
linked to the hashed URL of the module it names (no build step, no import map), so a module's
URL changes when anything it imports changes; the capture and verify pages share one hashing
module (one Web Crypto limit); a broken import or an import cycle stops the start."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.unit.server.web.test_verify_page import parse
from timeseal.server.web.assets import StaticAssets

_SPECIFIER = re.compile(r"""\b(?:from|import)\s*\(?\s*["']([^"']+)["']""")


def imports(assets: StaticAssets, name: str) -> list[str]:
    body = assets._by_name[name].body.decode()  # the linked text, as served
    return _SPECIFIER.findall(body)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_every_import_of_the_shipped_modules_is_a_served_module() -> None:
    assets = StaticAssets()
    modules = [n for n in assets.names() if n.startswith("js/") and n.endswith(".js")]
    assert {"js/capture.js", "js/verify.js", "js/lib/hashing.js"} <= set(modules)
    by_url = {assets.url(n): n for n in assets.names()}
    for name in modules:
        for specifier in imports(assets, name):
            assert specifier in by_url, f"{name} imports {specifier}, which is not served"
            assert by_url[specifier].startswith("js/")


def test_capture_and_verify_hash_files_with_the_same_module() -> None:
    assets = StaticAssets()
    hashing = assets.url("js/lib/hashing.js")
    assert hashing in imports(assets, "js/verify.js")
    assert hashing in imports(assets, "js/capture/photo.js")


def test_a_changed_dependency_gives_its_importers_new_urls(tmp_path: Path) -> None:
    files = {
        "js/page.js": 'import { f } from "./lib/a.js";\nf();\n',
        "js/lib/a.js": 'export { g as f } from "../lib/b.js";\n',
        "js/lib/b.js": "export function g() { return 1; }\n",
        "js/other.js": "export const x = 1;\n",
        "vendor/x.js": 'import y from "./missing.js";\n',  # not ours: left as it is
    }
    write(tmp_path, files)
    before = StaticAssets(tmp_path)
    assert imports(before, "js/page.js") == [before.url("js/lib/a.js")]
    assert imports(before, "js/lib/a.js") == [before.url("js/lib/b.js")]
    (tmp_path / "js/lib/b.js").write_text("export function g() { return 2; }\n")
    after = StaticAssets(tmp_path)
    for name in ("js/page.js", "js/lib/a.js", "js/lib/b.js"):
        assert after.url(name) != before.url(name), name
    assert after.url("js/other.js") == before.url("js/other.js")
    assert after.url("vendor/x.js") == before.url("vendor/x.js")


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"js/a.js": 'import "./nowhere.js";\n'}, "imports ./nowhere.js, which does not exist"),
        (
            {"js/a.js": 'import "./b.js";\n', "js/b.js": 'import "./a.js";\n'},
            "import cycle js/a.js -> js/b.js -> js/a.js",
        ),
    ],
)
def test_a_broken_module_graph_stops_the_start(
    tmp_path: Path, files: dict[str, str], problem: str
) -> None:
    write(tmp_path, files)
    with pytest.raises(ValueError, match=re.escape(problem)):
        StaticAssets(tmp_path)


def test_the_pages_load_their_scripts_as_modules(anonymous: TestClient) -> None:
    page = parse(anonymous.get("/verify").text)
    verify = [s for s in page.scripts if "/js/verify." in (s.get("src") or "")]
    assert [s.get("type") for s in verify] == ["module"]
    reply = anonymous.get(verify[0]["src"] or "")
    assert reply.headers["content-type"] == "text/javascript; charset=utf-8"
    for specifier in _SPECIFIER.findall(reply.text):
        imported = anonymous.get(specifier)
        assert imported.status_code == 200, specifier
        assert imported.headers["content-type"].startswith("text/javascript")
