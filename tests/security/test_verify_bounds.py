"""Issue 12, point 2: verifying a stranger's package may not exhaust the server.

A ZIP of under 2 MB holding DEFLATED 64 MiB runs of zeros outside ``items/`` once drove a
worker past 1.5 GiB (every non-item member under 64 MiB was inflated into memory), and a 2 KB
manifest nested 1,000 deep raised ``RecursionError`` (a 500, a traceback in the CLI). Now:
every member must be STORED (a compressed one is refused by name, never inflated), members
may not overlap, the directory is bounded, JSON is bounded before it is parsed, and the
server admits a few verifications at a time, each within a deadline.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.support.accounts import server_database_url
from tests.support.hostile_zips import (
    RawMember,
    deep_json,
    local_header,
    stored,
    write_zip,
    zeros_bomb,
)
from tests.support.pki import PKIFixture
from tests.unit.core.package.helpers import Sealer, members, three_specs
from timeseal.cli import main
from timeseal.core.package import PackageReport, verify_package
from timeseal.core.verification import Check
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.tsa.clock import LocalSource
from timeseal.server.web.verify_limits import VerifyLimits

MIB = 1 << 20
#: Peak RSS a verification may add, measured in a child process (issue 12's target).
MAX_GROWTH_MIB = 64


def bomb(count: int = 4, member_size: int = 64 * MIB, manifest: bytes = deep_json(1000)) -> bytes:
    """``count`` members of 64 MiB of zeros, DEFLATED, under certs/ (which the verifier used
    to keep in memory), plus a manifest (nested 1,000 deep): about 65 KiB a member."""
    names = [f"certs/pad-{i}.pem" for i in range(count)]
    return write_zip([stored("manifest.json", manifest), *zeros_bomb(names, member_size)])


@pytest.fixture(scope="module")
def genuine(test_pki: PKIFixture) -> tuple[Sealer, bytes]:
    """A real item package (a photo) and the sealer that made it."""
    sealer = Sealer(test_pki)
    return sealer, sealer.build(sealer.items(three_specs()[:1]), case=False)


def _verify(sealer: Sealer, package: bytes) -> PackageReport:
    return verify_package(
        io.BytesIO(package), roots=[sealer.pki.root.certificate], log_key=sealer.key.verifier_key
    )


def _zip_detail(report: PackageReport) -> str:
    section = report.section("package")
    assert section is not None
    check = section.result.get(Check.PACKAGE_ZIP)
    assert check is not None
    return check.detail


# -- the offline verifier ---------------------------------------------------------------


_CHILD = """
import resource, sys, time
from timeseal.core.package import verify_package
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
before = peak()
with open(sys.argv[1], "rb") as f:
    report = verify_package(f)
print((peak() - before) // 1024, report.ok, [c.value for _, c in report.failed])
"""


def test_a_zip_bomb_is_verified_in_bounded_memory(tmp_path: Path) -> None:
    """The child imports everything first, then verifies: its peak RSS may grow by at most
    64 MiB although the members inflate to 256 MiB (the old reader kept all of them)."""
    path = tmp_path / "bomb.zip"
    path.write_bytes(bomb(manifest=b"{}"))
    assert path.stat().st_size < 2 * MIB
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    growth, ok, failed = done.stdout.split(maxsplit=2)
    assert int(growth) <= MAX_GROWTH_MIB, f"peak RSS grew by {growth} MiB"
    assert ok == "False" and "package_zip" in failed


def test_compressed_members_are_refused_by_name_and_never_inflated(
    genuine: tuple[Sealer, bytes],
) -> None:
    """docs/package-format.md: members are STORED. A deflated item fails PACKAGE_ZIP and its
    FILE_PRESENT, naming the compression; the rest of the package is still checked."""
    sealer, package = genuine
    files = members(package)
    item = next(p for p in files if p.startswith("items/"))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            method = zipfile.ZIP_DEFLATED if name == item else zipfile.ZIP_STORED
            zf.writestr(name, data, compress_type=method)
    report = _verify(sealer, out.getvalue())
    assert "compressed (method 8)" in _zip_detail(report)
    section = report.section(item)
    assert section is not None
    assert section.result.failed == (Check.FILE_PRESENT,)
    assert ("package", Check.MANIFEST_SCHEMA) not in report.failed  # the rest was read


def test_deep_json_manifest_is_a_named_failure(genuine: tuple[Sealer, bytes]) -> None:
    sealer, package = genuine
    files = members(package)
    files["manifest.json"] = deep_json(1000)
    report = _verify(sealer, write_zip([stored(n, d) for n, d in files.items()]))
    section = report.section("package")
    assert section is not None
    canonical = section.result.get(Check.MANIFEST_CANONICAL)
    assert canonical is not None and "nested deeper" in canonical.detail


def test_overlapping_members_are_refused(genuine: tuple[Sealer, bytes]) -> None:
    """A member whose data holds another member's header and data: read as it is, the same
    bytes would be hashed once per overlapping entry (thousands of times, in a bomb)."""
    sealer, _ = genuine
    inner = local_header("VERIFY.md", b"x" * 1000)
    outer = stored("items/outer", inner)
    nested = RawMember(
        "VERIFY.md", b"x" * 1000, 1000, 0, header_offset=30 + len("items/outer"), central_only=True
    )
    report = _verify(sealer, write_zip([outer, nested]))
    assert "overlaps another member" in _zip_detail(report)


def test_member_count_is_capped(genuine: tuple[Sealer, bytes]) -> None:
    sealer, _ = genuine
    report = _verify(sealer, write_zip([stored(f"p/{i}", b"") for i in range(5000)]))
    assert report.failed == (("package", Check.PACKAGE_ZIP),)
    assert "more than 4096 members" in _zip_detail(report)


def test_cli_verify_bomb_exits_1_with_reasons(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    path.write_bytes(bomb(count=2, member_size=8 * MIB))
    result = CliRunner().invoke(main.app, ["verify", str(path), "--json"])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # no traceback, just the exit
    body = json.loads(result.stdout)
    failed = {(f["subject"], f["check"]) for f in body["failed"]}
    assert ("package", "package_zip") in failed and ("package", "manifest_canonical") in failed


# -- the server ------------------------------------------------------------------------


@contextmanager
def app_with(data_dir: Path, limits: VerifyLimits) -> Iterator[TestClient]:
    app = create_app(
        ServerSettings(
            database_url=server_database_url(),
            data_dir=data_dir,
            clock_source=LocalSource(),
            verify_limits=limits,
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def post(client: TestClient, package: bytes) -> httpx2.Response:
    files = {"package": ("p.zip", package, "application/zip")}
    return client.post("/verify/package", files=files, headers={"Accept-Language": "zh"})


def test_bomb_upload_gets_the_verify_page_not_a_500(client: TestClient) -> None:
    reply = post(client, bomb())
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
    assert 'data-check="package_zip" data-status="fail"' in reply.text
    assert 'data-check="manifest_canonical" data-status="fail"' in reply.text
    assert "Traceback" not in reply.text


class GatedClock:
    """A monotonic clock at 0 whose calls from any thread but the event loop's (that is, the
    verifier's progress checks) wait until :attr:`release` is set: verifications that stay
    in progress for as long as the test wants, without sleeping."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self._loop: int | None = None
        self._inside = 0
        self._changed = threading.Condition()

    def __call__(self) -> float:
        me = threading.get_ident()
        if self._loop is None:
            self._loop = me  # the first call admits the first request, on the event loop
        if me != self._loop and not self.release.is_set():
            with self._changed:
                self._inside += 1
                self._changed.notify_all()
            self.release.wait(60)
        return 0.0

    def wait_inside(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self._inside >= count, timeout=60)


def test_one_verification_more_than_the_limit_is_told_to_come_back(
    data_dir: Path, genuine: tuple[Sealer, bytes]
) -> None:
    _, package = genuine
    clock = GatedClock()
    limits = VerifyLimits(max_concurrent=2, retry_after=7, clock=clock)
    with app_with(data_dir, limits) as client, ThreadPoolExecutor(2) as pool:
        running: list[Future[httpx2.Response]] = [
            pool.submit(post, client, package) for _ in range(2)
        ]
        try:
            clock.wait_inside(2)  # both verifying, each holding its place
            extra = post(client, package)
        finally:
            clock.release.set()
        assert extra.status_code == 503 and extra.headers["retry-after"] == "7"
        assert "服务器正在检查其他证据包" in extra.text
        assert [f.result(timeout=120).status_code for f in running] == [200, 200]
        assert post(client, package).status_code == 200  # the places are free again


def counting_clock() -> Callable[[], float]:
    """A clock that moves one second a call: any deadline passes after that many calls."""
    now = [0.0]

    def clock() -> float:
        now[0] += 1
        return now[0]

    return clock


def test_a_verification_past_its_deadline_gets_an_error_page(
    data_dir: Path, genuine: tuple[Sealer, bytes]
) -> None:
    _, package = genuine
    limits = VerifyLimits(deadline=5, clock=counting_clock())
    with app_with(data_dir, limits) as client:
        reply = post(client, package)
        assert reply.status_code == 503 and "retry-after" in reply.headers
        assert "此证据包在这里检查用时过长" in reply.text
        english = client.post(
            "/verify/package",
            files={"package": ("p.zip", package, "application/zip")},
            headers={"Accept-Language": "en"},
        )
        assert english.status_code == 503 and "took too long" in english.text
    # The same package within its deadline verifies (the deadline, not the package, failed).
    with app_with(data_dir, VerifyLimits(deadline=10_000, clock=counting_clock())) as client:
        reply = post(client, package)
        assert reply.status_code == 200 and 'data-check="package_zip"' in reply.text


def test_the_genuine_package_is_valid_and_stored(genuine: tuple[Sealer, bytes]) -> None:
    """The fixture is what the tests above take it for: a valid item package, every member
    STORED as the server's builder writes them."""
    sealer, package = genuine
    assert _verify(sealer, package).ok
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
