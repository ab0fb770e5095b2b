"""Measuring a ZIP's central directory before zipfile reads it (timeseal.core.package._zipdir):
its size and entry count are bounded, and a directory the file cannot hold is malformed."""

from __future__ import annotations

import io
import struct

import pytest

from tests.support.hostile_zips import stored, write_zip
from timeseal.core.errors import MalformedError
from timeseal.core.package._zipdir import DirectoryTooLarge, measure_directory

EMPTY_ZIP = b"PK\x05\x06" + bytes(18)


def test_an_empty_zip_has_an_empty_directory() -> None:
    directory = measure_directory(io.BytesIO(EMPTY_ZIP), max_size=100, max_entries=1)
    assert (directory.start, directory.names) == (0, ())


def test_a_directory_larger_than_allowed() -> None:
    data = write_zip([stored("a.txt", b"a"), stored("b.txt", b"b")])
    with pytest.raises(DirectoryTooLarge, match="a package's is at most 10 bytes"):
        measure_directory(io.BytesIO(data), max_size=10, max_entries=10)


def test_more_entries_than_allowed() -> None:
    data = write_zip([stored("a.txt", b"a"), stored("b.txt", b"b")])
    with pytest.raises(DirectoryTooLarge, match="more than 1 members"):
        measure_directory(io.BytesIO(data), max_size=1000, max_entries=1)


def test_a_directory_larger_than_the_file() -> None:
    data = bytearray(write_zip([stored("a.txt", b"a")]))
    struct.pack_into("<L", data, len(data) - 10, 500)  # the end record's directory size
    with pytest.raises(MalformedError, match="larger than the file"):
        measure_directory(io.BytesIO(bytes(data)), max_size=1000, max_entries=10)
