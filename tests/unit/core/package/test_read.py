"""Reading a package ZIP (timeseal.core.package._read) from hand-made archives: every member
that cannot be trusted is a named problem, and a metadata member is only read back whole,
within its cap and unchanged."""

from __future__ import annotations

import dataclasses
import io
import struct

import pytest

from tests.support.hostile_zips import RawMember, local_header, stored, write_zip
from timeseal.core.errors import MalformedError
from timeseal.core.package._read import looks_like_package, read_archive

MANIFEST = stored("manifest.json", b"{}")


def _archive(*members: RawMember) -> io.BytesIO:
    return io.BytesIO(write_zip([MANIFEST, *members]))


def test_a_directory_entry_is_skipped() -> None:
    archive = read_archive(_archive(stored("items/", b"")))
    assert sorted(archive.members) == ["manifest.json"]
    assert archive.problems == []


def test_an_encrypted_member_is_a_problem() -> None:
    data = bytearray(write_zip([MANIFEST, stored("a.txt", b"secret")]))
    central = data.rindex(b"PK\x01\x02")
    flags = struct.unpack_from("<H", data, central + 8)[0]
    struct.pack_into("<H", data, central + 8, flags | 0x1)
    archive = read_archive(io.BytesIO(bytes(data)))
    assert archive.problems == ["'a.txt': encrypted"]
    assert "a.txt" not in archive.members


def test_a_stored_member_whose_sizes_differ_is_a_problem() -> None:
    archive = read_archive(_archive(dataclasses.replace(stored("a.txt", b"abc"), size=2)))
    assert archive.problems == ["'a.txt': STORED, but 3 bytes stored for 2"]
    with pytest.raises(MalformedError, match=r"a\.txt: STORED, but 3 bytes"):
        archive.read("a.txt")


@pytest.mark.parametrize(
    ("corrupt", "reason"),
    [
        (lambda zip_: zip_[:36] + zip_[36:].replace(b"PK\x03\x04", b"PK\x03\x05", 1), "signature"),
        (lambda zip_: zip_.replace(b"a.txt", b"b.txt", 1), "names another file"),
    ],
    ids=["signature", "name"],
)
def test_a_local_header_that_disagrees_is_a_problem(corrupt: object, reason: str) -> None:
    data = write_zip([MANIFEST, stored("a.txt", b"abc")])
    bad = corrupt(data)  # type: ignore[operator]
    archive = read_archive(io.BytesIO(bad))
    assert len(archive.problems) == 1
    assert archive.problems[0].startswith("'a.txt': unreadable:")
    assert reason in archive.problems[0]


def test_a_local_header_cut_off_by_the_end_of_the_file_is_a_problem() -> None:
    size = len(write_zip([MANIFEST, RawMember("a.txt", b"", 0, 0, 0, central_only=True)]))
    late = RawMember("a.txt", b"", 0, 0, header_offset=size - 10, central_only=True)
    archive = read_archive(io.BytesIO(write_zip([MANIFEST, late])))
    assert archive.problems == ["'a.txt': unreadable: truncated local header"]


def test_a_member_inside_another_members_data_overlaps_it() -> None:
    outer = stored("a.txt", local_header("b.txt", b"hi"))
    offset = len(local_header("manifest.json", b"{}") + local_header("a.txt", b""))
    inner = RawMember("b.txt", b"hi", 2, 0, header_offset=offset, central_only=True)
    archive = read_archive(io.BytesIO(write_zip([MANIFEST, outer, inner])))
    assert archive.problems == [
        "'b.txt': overlaps another member (a ZIP built to hash the same bytes again)"
    ]


def test_a_member_reaching_into_the_central_directory_overlaps_it() -> None:
    data = bytearray(write_zip([MANIFEST, stored("a.txt", b"abc")]))
    central = data.rindex(b"PK\x01\x02")
    struct.pack_into("<2L", data, central + 20, 1000, 1000)  # compressed and real size
    archive = read_archive(io.BytesIO(bytes(data)))
    assert archive.problems == [
        "'a.txt': overlaps the central directory (a ZIP built to hash the same bytes again)"
    ]


def test_a_progress_callback_that_fails_to_read_marks_the_member() -> None:
    def progress(count: int) -> None:
        raise OSError("disk gone")

    archive = read_archive(_archive(), progress)
    assert archive.problems == ["'manifest.json': unreadable: disk gone"]
    with pytest.raises(MalformedError, match=r"manifest\.json: unreadable: disk gone"):
        archive.read("manifest.json")


def test_read_checks_presence_cap_and_change() -> None:
    source = _archive(stored("items/0001/photo.jpg", b"jpeg"))
    archive = read_archive(source)
    with pytest.raises(MalformedError, match=r"VERIFY\.md is missing"):
        archive.read("VERIFY.md")
    with pytest.raises(MalformedError, match="more than 0 allowed"):
        archive.read("items/0001/photo.jpg")
    assert archive.read("manifest.json") == b"{}"
    source.seek(source.getvalue().index(b"{}"))
    source.write(b"[]")
    with pytest.raises(MalformedError, match="changed while the package was being read"):
        archive.read("manifest.json")


def test_what_looks_like_a_package() -> None:
    assert looks_like_package(_archive())
    assert not looks_like_package(io.BytesIO(write_zip([stored("a.txt", b"")])))
    assert not looks_like_package(io.BytesIO(b"not a zip"))


def test_a_directory_too_large_to_read_is_left_to_the_verifier_to_name() -> None:
    data = bytearray(write_zip([stored("a.txt", b"a")]))
    struct.pack_into("<L", data, len(data) - 10, 2 << 20)  # the end record's directory size
    assert looks_like_package(io.BytesIO(bytes(data)))
