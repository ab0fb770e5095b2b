"""The case pages through the TestClient: open a case, add items by number with notes (case
order), edit, remove, the package, share links from the case's page; CSRF on every form,
another account's case answered exactly like an unknown id, refused forms bilingual and
keeping what was typed. SQLite only: the rules are the API's (``tests/unit/server/
test_cases.py`` tests them on both databases)."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.accounts import OTHER_PHONE, server_database_url
from tests.unit.server.web.conftest import seal, wait_sequenced
from tests.unit.server.web.test_web_app import PNG, browser_log_in, hidden, session
from tests.unit.server.web.test_web_share_pages import custody
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.tsa.clock import LocalSource
from timeseal.store import cases as case_store
from timeseal.store.db import DATABASE_URL_ENV


@pytest.fixture
def web(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    app = create_app(
        ServerSettings(
            database_url=server_database_url(), data_dir=data_dir, clock_source=LocalSource()
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def seal_items(client: TestClient, count: int) -> list[str]:
    """``count`` distinct documents sealed by the logged-in browser: their numbers."""
    return [
        seal(client, session(client), b"%d " % i + PNG, filename=f"item-{i}.pdf", title=f"第{i}项")[
            0
        ]
        for i in range(count)
    ]


def csrf(client: TestClient, path: str = "/cases") -> str:
    return hidden(client.get(path).text, "csrf_token")


def open_case(
    client: TestClient, title: str = "某店铺泄露地址", description: str = "快递单"
) -> str:
    """The list page's form: the new case's path."""
    made = client.post(
        "/cases",
        data={"csrf_token": csrf(client), "title": title, "description": description},
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    path: str = made.headers["location"]
    assert re.fullmatch(r"/cases/\d+", path)
    return path


def add(client: TestClient, case: str, number: str, note: str = "") -> int:
    reply = client.post(
        f"{case}/items",
        data={"csrf_token": csrf(client, case), "number": number, "note": note},
        follow_redirects=False,
    )
    return reply.status_code


def item_order(html: str) -> list[str]:
    listed = html.split('id="items"', 1)[1].split("</ol>", 1)[0]
    return re.findall(r'<code class="number">([^<]+)</code>', listed)


def test_anonymous_visitors_go_to_the_login(web: TestClient) -> None:
    for path in ("/cases", "/cases/1"):
        reply = web.get(path, follow_redirects=False)
        assert reply.status_code == 303
        assert reply.headers["location"].startswith("/login?next=%2Fcases")


def test_open_a_case_add_edit_remove_and_download(web: TestClient, data_dir: Path) -> None:
    browser_log_in(web, data_dir)
    first, second, third = seal_items(web, 3)
    listing = web.get("/cases")
    assert listing.status_code == 200 and "您还没有案件" in listing.text
    assert 'href="/cases"' in listing.text  # in the navigation
    # Without the CSRF token nothing is created.
    refused = web.post("/cases", data={"title": "x"}, follow_redirects=False)
    assert refused.status_code == 403
    assert "您还没有案件" in web.get("/cases").text
    older = open_case(web, "较早的案件", "")
    case = open_case(web)
    names = web.get("/cases").text
    assert names.index("某店铺泄露地址") < names.index("较早的案件")  # newest first
    page = web.get(case)
    assert page.status_code == 200
    assert "某店铺泄露地址" in page.text and "快递单" in page.text
    assert "download-package" not in page.text  # nothing to package yet
    # Items in the order they were added, each with its note.
    assert add(web, case, second, "聊天记录") == 303
    assert add(web, case, first.lower().replace("-", ""), "订单截图") == 303  # any spelling
    assert add(web, case, third) == 303
    page = web.get(case)
    assert item_order(page.text) == [second, first, third]
    assert "聊天记录" in page.text and "订单截图" in page.text
    # An item already in it keeps its place; its note changes.
    assert add(web, case, second, "客服聊天记录") == 303
    page = web.get(case)
    assert item_order(page.text) == [second, first, third] and "客服聊天记录" in page.text
    # Without the CSRF token: no change.
    assert web.post(f"{case}/items", data={"number": third}).status_code == 403
    assert web.post(f"{case}/items/{third}/remove", data={}).status_code == 403
    assert web.post(case, data={"title": "改名"}).status_code == 403
    removed = web.post(
        f"{case}/items/{third}/remove", data={"csrf_token": csrf(web, case)}, follow_redirects=False
    )
    assert removed.status_code == 303 and removed.headers["location"] == f"{case}#items"
    assert item_order(web.get(case).text) == [second, first]
    gone_again = web.post(f"{case}/items/{third}/remove", data={"csrf_token": csrf(web, case)})
    assert gone_again.status_code == 404
    assert third in web.get("/evidence").text  # the item itself stays
    # Edit title and description.
    edited = web.post(
        case,
        data={"csrf_token": csrf(web, case), "title": "  新标题  ", "description": "新的描述"},
        follow_redirects=False,
    )
    assert edited.status_code == 303
    page = web.get(case)
    assert "<h1>新标题</h1>" in page.text and "新的描述" in page.text
    # The same case through the JSON API: one store, one set of rules.
    case_id = case.rsplit("/", 1)[1]
    api = web.get(f"/api/v1/cases/{case_id}").json()
    assert api["title"] == "新标题" and [i["number"] for i in api["items"]] == [second, first]
    assert [i["note"] for i in api["items"]] == ["客服聊天记录", "订单截图"]
    # Evidence pages link to their cases; the list's case filter links here.
    detail = web.get(f"/evidence/{first}").text
    assert f'href="{case}"' in detail and f'href="{older}"' not in detail
    assert f'href="{case}"' in web.get(f"/evidence?case={case_id}").text
    assert f'href="/evidence?case={case_id}"' in page.text
    # The package: the API's download, linked from the page.
    assert f'href="/api/v1/cases/{case_id}/package"' in page.text
    wait_sequenced(web, first)
    wait_sequenced(web, second)
    package = web.get(f"/api/v1/cases/{case_id}/package")
    assert package.status_code == 200
    assert zipfile.ZipFile(BytesIO(package.content)).testzip() is None
    assert "downloaded" in custody(web, first)


def test_refused_forms_are_bilingual_and_keep_what_was_typed(
    web: TestClient, data_dir: Path
) -> None:
    browser_log_in(web, data_dir)
    (number,) = seal_items(web, 1)
    description = "商家拒绝退款。" * 10
    empty_title = web.post(
        "/cases", data={"csrf_token": csrf(web), "title": "   ", "description": description}
    )
    assert empty_title.status_code == 422
    assert "请为案件填写标题" in empty_title.text and description in empty_title.text
    assert 'id="case-title"' in empty_title.text and 'aria-invalid="true"' in empty_title.text
    assert web.get("/api/v1/cases").json() == []
    long_text = "长" * 10_001  # 90 KB in the form: past the login forms' limit, within this one
    too_long = web.post(
        "/cases?lang=en", data={"csrf_token": csrf(web), "title": "标题", "description": long_text}
    )
    assert too_long.status_code == 422
    assert "A description has at most 10,000 characters." in too_long.text
    assert long_text in too_long.text and 'value="标题"' in too_long.text
    web.cookies.delete("ts_lang")
    case = open_case(web)
    # An unknown or malformed number: the number and the note stay in the form.
    note = "这张截图显示了<订单号>"
    for typed in ("TS-20261129-7Q4K-M2XD", "不是编号"):
        unknown = web.post(
            f"{case}/items", data={"csrf_token": csrf(web, case), "number": typed, "note": note}
        )
        assert unknown.status_code == 422
        assert "您没有这个编号的证据" in unknown.text
        assert f'value="{typed}"' in unknown.text
        assert "这张截图显示了&lt;订单号&gt;" in unknown.text
    too_long_note = web.post(
        f"{case}/items",
        data={"csrf_token": csrf(web, case), "number": number, "note": "注" * 1001},
        headers={"Accept-Language": "en"},
    )
    assert too_long_note.status_code == 422
    assert "A note has at most 1,000 characters." in too_long_note.text
    assert "注" * 1001 in too_long_note.text and f'value="{number}"' in too_long_note.text
    assert 'id="items"' not in web.get(case).text  # nothing was added
    # An edit with an empty title keeps the typed description and changes nothing.
    bad_edit = web.post(
        case, data={"csrf_token": csrf(web, case), "title": "", "description": "新"}
    )
    assert bad_edit.status_code == 422 and "请为案件填写标题" in bad_edit.text
    assert ">新</textarea>" in bad_edit.text
    assert web.get(f"/api/v1/cases/{case.rsplit('/', 1)[1]}").json()["description"] == "快递单"


def test_another_accounts_case_is_a_404_like_an_unknown_id(web: TestClient, data_dir: Path) -> None:
    browser_log_in(web, data_dir)
    (number,) = seal_items(web, 1)
    case = open_case(web)
    assert add(web, case, number, "原备注") == 303
    other = TestClient(web.app, raise_server_exceptions=False)
    browser_log_in(other, data_dir, OTHER_PHONE)
    token = csrf(other)
    theirs, unknown = other.get(case), other.get("/cases/999999")
    assert theirs.status_code == unknown.status_code == 404
    # The same page but for the language switch's link to the very URL asked for.
    assert theirs.text.replace(case, "/cases/999999") == unknown.text
    assert "您没有这个编号的案件" in theirs.text
    assert other.get("/cases/abc").status_code == 404
    (own_number,) = seal_items(other, 1)
    attempts = {
        case: {"title": "偷改", "description": ""},
        f"{case}/items": {"number": own_number, "note": "混入"},
        f"{case}/items/{number}/remove": {},
        f"{case}/shares": {"days": "7"},
    }
    for path, data in attempts.items():
        reply = other.post(path, data={"csrf_token": token, **data})
        assert reply.status_code == 404, path
    # Their own case cannot take the first account's item either.
    mine = open_case(other, "我的案件")
    assert add(other, mine, number) == 422
    api = web.get(f"/api/v1/cases/{case.rsplit('/', 1)[1]}").json()
    assert api["title"] == "某店铺泄露地址"
    assert [(i["number"], i["note"]) for i in api["items"]] == [(number, "原备注")]
    assert (
        web.get("/api/v1/account").json()["phone"] != other.get("/api/v1/account").json()["phone"]
    )
    assert "某店铺泄露地址" not in other.get("/cases").text


def test_case_share_links_from_the_case_page(web: TestClient, data_dir: Path) -> None:
    browser_log_in(web, data_dir)
    first, second = seal_items(web, 2)
    case = open_case(web)
    assert add(web, case, first, "第一份") == 303
    no_csrf = web.post(f"{case}/shares", data={"days": "7"})
    assert no_csrf.status_code == 403
    made = web.post(
        f"{case}/shares",
        data={"csrf_token": csrf(web, case), "days": "3", "label": "法院", "access_code": ""},
    )
    assert made.status_code == 201
    assert f'href="{case}"' in made.text  # back to the case, not to an item
    match = re.search(r'href="(/s/[A-Za-z0-9_-]{43})" id="share-link"', made.text)
    assert match
    path = match.group(1)
    assert custody(web, first).count("shared") == 1
    # An item added to a shared case is shared from then on (the API's custody rule).
    assert add(web, case, second, "第二份") == 303
    assert custody(web, second).count("shared") == 1
    page = web.get(case).text
    assert "法院" in page and path not in page  # the token is shown once only
    anonymous = TestClient(web.app, raise_server_exceptions=False)
    shared = anonymous.get(path)
    assert shared.status_code == 200
    for part in ("某店铺泄露地址", "第一份", "第二份", first, second):
        assert part in shared.text
    bad = web.post(f"{case}/shares", data={"csrf_token": csrf(web, case), "days": "400"})
    assert bad.status_code == 422
    share_id = re.search(r'action="/shares/(\d+)/revoke"', page)
    assert share_id
    revoked = web.post(
        f"/shares/{share_id.group(1)}/revoke",
        data={"csrf_token": csrf(web, case)},
        follow_redirects=False,
    )
    assert revoked.status_code == 303 and revoked.headers["location"] == case
    assert anonymous.get(path).status_code == 404
    assert "已撤销" in web.get(case).text


def test_a_full_case_says_so_and_keeps_the_form(
    web: TestClient, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(case_store, "MAX_CASE_ITEMS", 1)
    browser_log_in(web, data_dir)
    first, second = seal_items(web, 2)
    case = open_case(web)
    assert add(web, case, first) == 303
    full = web.post(
        f"{case}/items", data={"csrf_token": csrf(web, case), "number": second, "note": "第二份"}
    )
    assert full.status_code == 409
    assert "该案件已满：一个案件最多包含 1 项证据。" in full.text
    assert f'value="{second}"' in full.text and ">第二份</textarea>" in full.text
    assert item_order(full.text) == [first]
