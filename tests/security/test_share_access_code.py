"""A stranger cannot lock a share link's real recipient out (issue 12, point 8).

Before the fix five wrong access codes from anyone, in 15 minutes, made the link answer 429 to
everyone, the right code included, and the lock could be renewed forever; and a code could be
4 characters. Now wrong codes are counted per client (an IPv4 address, or an IPv6 /64) with a
back-off that doubles, the recipient's own client is untouched, and codes have at least 6
characters (API, web form and ``timeseal case share`` alike)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from starlette.testclient import TestClient

from tests.support.accounts import FakeClock, bearer
from tests.unit.server.test_shares import CODE_HEADER, clock, error, seal, server, share
from tests.unit.server.web.test_web_app import browser_log_in, hidden, session

__all__ = ["clock", "server"]

CODE = "482915"


def test_a_stranger_cannot_lock_out_the_recipient(
    server: TestClient, data_dir: Path, clock: FakeClock
) -> None:
    auth = bearer(server, data_dir)
    number = seal(server, auth)
    token = share(server, auth, number, clock, access_code=CODE)["token"]
    url = f"/api/v1/shares/{token}"
    attacker = TestClient(server.app, raise_server_exceptions=False, client=("203.0.113.66", 1))
    recipient = TestClient(server.app, raise_server_exceptions=False, client=("198.51.100.20", 1))

    statuses = [attacker.get(url, headers={CODE_HEADER: f"{i:06d}"}).status_code for i in range(8)]
    assert statuses[:5] == [403] * 5 and set(statuses[5:]) == {429}
    # The attacker is held back; the recipient, from elsewhere, is not.
    assert recipient.get(url, headers={CODE_HEADER: CODE}).status_code == 200
    assert error(attacker.get(url, headers={CODE_HEADER: CODE})) == (429, "rate_limited")

    # Back-off: after the wait one more try is allowed, and the next wait is longer.
    wait = int(attacker.get(url, headers={CODE_HEADER: "000000"}).headers["retry-after"])
    assert 0 < wait <= 60
    clock.advance(seconds=wait)
    assert error(attacker.get(url, headers={CODE_HEADER: "111111"})) == (403, "share_code_invalid")
    longer = attacker.get(url, headers={CODE_HEADER: "222222"})
    assert longer.status_code == 429 and int(longer.headers["retry-after"]) > wait

    # Addresses of one IPv6 /64 are one client: rotating within it gains nothing.
    for i in range(5):
        v6 = TestClient(server.app, client=(f"2001:db8:1:2::{i + 1}", 1))
        assert v6.get(url, headers={CODE_HEADER: "333333"}).status_code == 403
    v6 = TestClient(server.app, client=("2001:db8:1:2::99", 1))
    assert v6.get(url, headers={CODE_HEADER: CODE}).status_code == 429
    other_net = TestClient(server.app, client=("2001:db8:1:3::1", 1))
    assert other_net.get(url, headers={CODE_HEADER: CODE}).status_code == 200
    assert recipient.get(url, headers={CODE_HEADER: CODE}).status_code == 200


def test_codes_shorter_than_six_characters_are_refused(
    server: TestClient, data_dir: Path, clock: FakeClock
) -> None:
    web = TestClient(server.app, raise_server_exceptions=False)
    browser_log_in(web, data_dir)
    auth = session(web)
    number = seal(web, auth)
    expires = (clock() + dt.timedelta(days=1)).isoformat()
    for code in ("4711", "12345"):
        reply = web.post(
            f"/api/v1/evidence/{number}/shares",
            json={"expires_at": expires, "access_code": code},
            headers=auth,
        )
        assert (reply.status_code, reply.json()["error"]["fields"]) == (422, ["access_code"])
    assert share(web, auth, number, clock, access_code="123456")["has_access_code"]

    # The web form says so too.
    page = web.get(f"/evidence/{number}")
    assert re.search(r'name="access_code"[^>]*minlength="6"', page.text)
    reply = web.post(
        f"/evidence/{number}/shares",
        data={"csrf_token": hidden(page.text, "csrf_token"), "days": "7", "access_code": "4711"},
    )
    assert reply.status_code == 422
    assert "/s/" not in reply.text
