"""Reading a package ZIP once, in bounded memory: members vetted, every member hashed once.

What a verification keeps is bounded whatever the ZIP says about itself:

- The central directory is measured before zipfile parses it: at most
  :data:`MAX_DIRECTORY_BYTES` and :data:`MAX_MEMBERS` entries (:mod:`._zipdir`).
- Every member must be STORED, as docs/package-format.md §1 says. A compressed member is a
  named problem and is never inflated, so no compression ratio can turn a small upload into
  gigabytes (a "zip bomb"), and hashing costs no more than the bytes of the ZIP itself.
- Members may not overlap: each member's local header and data lie after the previous
  member's data and before the central directory, so the bytes hashed are at most the bytes
  of the file (overlapping entries would hash the same bytes thousands of times).
- Members are hashed from the archive in :data:`CHUNK_SIZE` pieces into one reused buffer,
  straight from their data offset (zipfile's reader would add a CRC-32 pass). None is kept.
- :meth:`Archive.read` reads one small metadata member again when the verifier needs it
  (manifest, a token, a log proof, the trust material, a certificate PDF), only up to its
  cap in :func:`kept_cap` (counted on the bytes found, the same count the hash covered), and
  only if it still hashes as it did.

The local header must name the same file as the central directory; anything else is a ZIP
built to show different files to different readers.
"""

from __future__ import annotations

import hashlib
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from timeseal.core.errors import MalformedError
from timeseal.core.package import layout
from timeseal.core.package._zipdir import DirectoryTooLarge, measure_directory
from timeseal.core.package.manifest import MAX_MANIFEST_SIZE

CHUNK_SIZE = 1 << 20
#: A case holds at most 500 items (4 members each) plus 5 files; room for twice as many.
MAX_MEMBERS = 4096
#: 4,096 entries with names of up to 200 bytes.
MAX_DIRECTORY_BYTES = 1 << 20
MAX_TOKEN_SIZE = 64 << 10
MAX_PROOF_SIZE = 256 << 10
MAX_CERTS_SIZE = 256 << 10
MAX_CERTIFICATE_PDF_SIZE = 4 << 20
#: How many problems PACKAGE_ZIP names one by one before it says how many more there are.
MAX_PROBLEMS_SHOWN = 20
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_MAGIC = b"PK\x03\x04"

Progress = Callable[[int], None]


def kept_cap(path: str) -> int | None:
    """How many bytes of ``path`` the verifier may read into memory; None: never (items, and
    VERIFY.md, are only hashed)."""
    if path == layout.MANIFEST:
        return MAX_MANIFEST_SIZE
    if path.startswith("proofs/") and path.endswith(".tsr"):
        return MAX_TOKEN_SIZE
    if path == layout.MANIFEST_SIGNATURE:  # a token and a few certificates
        return MAX_TOKEN_SIZE
    if path.startswith("log/") and path.endswith(".proof"):
        return MAX_PROOF_SIZE
    if path.startswith("certs/"):
        return MAX_CERTS_SIZE
    if path == layout.ITEM_CERTIFICATE or (
        path.startswith("certificates/") and path.endswith(".pdf")
    ):
        return MAX_CERTIFICATE_PDF_SIZE
    return None


@dataclass(frozen=True, slots=True)
class Member:
    """One file of the ZIP as read: its size and the SHA-256 of its bytes, or why not."""

    path: str
    size: int
    sha256: bytes
    offset: int  # where its bytes begin in the archive
    error: str = ""  # why the bytes could not be read ("" if they could)


@dataclass(slots=True)
class Archive:
    """What :func:`read_archive` found: members by name, and every problem."""

    source: BinaryIO
    members: dict[str, Member] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def problem_summary(self) -> str:
        shown = self.problems[:MAX_PROBLEMS_SHOWN]
        more = len(self.problems) - len(shown)
        return "; ".join(shown) + (f"; and {more} more" if more else "")

    def read(self, path: str) -> bytes:
        """The bytes of the small member ``path``; ``MalformedError`` saying why not (missing,
        unreadable, larger than its cap, or changed since it was hashed)."""
        member = self.members.get(path)
        if member is None:
            raise MalformedError(f"{path} is missing")
        if member.error:
            raise MalformedError(f"{path}: {member.error}")
        cap = kept_cap(path)
        if cap is None or member.size > cap:
            raise MalformedError(f"{path} is {member.size} bytes, more than {cap or 0} allowed")
        self.source.seek(member.offset)
        data = self.source.read(member.size)
        if hashlib.sha256(data).digest() != member.sha256:
            raise MalformedError(f"{path} changed while the package was being read")
        return data


def looks_like_package(source: BinaryIO) -> bool:
    """Whether ``verify_package`` should judge the file in ``source``: a ZIP holding
    ``manifest.json``, or a ZIP whose central directory is too large to read at all (the
    verifier then says so by name). Reads only the end records and the central directory,
    in bounded memory."""
    try:
        directory = measure_directory(source, max_size=MAX_DIRECTORY_BYTES, max_entries=MAX_MEMBERS)
    except DirectoryTooLarge:
        return True
    except (MalformedError, OSError):
        return False
    return layout.MANIFEST.encode() in directory.names


def read_archive(source: BinaryIO, progress: Progress | None = None) -> Archive:
    """Vet and hash every member of the ZIP in ``source`` (seekable). ``MalformedError``,
    ``zipfile.BadZipFile`` or ``OSError`` only when there is no usable central directory.
    ``progress`` is called with the byte count of every chunk hashed; what it raises ends
    the reading and propagates (a caller's deadline)."""
    directory = measure_directory(source, max_size=MAX_DIRECTORY_BYTES, max_entries=MAX_MEMBERS)
    archive = Archive(source)
    with zipfile.ZipFile(source) as zf:
        infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise MalformedError(f"more than {MAX_MEMBERS} members; a package has fewer")
    seen: dict[str, str] = {}
    placed: list[tuple[int, int, str]] = []  # (local header offset, data end, name)
    for info in infos:
        name = info.filename
        if name.endswith("/") and info.file_size == 0:
            continue  # a directory entry some re-zipping tools add; it holds nothing
        reason = layout.unsafe_reason(name)
        if reason is None and name.casefold() in seen:
            reason = f"duplicate of {seen[name.casefold()]!r}"
        if reason is None and info.flag_bits & 0x1:
            reason = "encrypted"
        if reason is None and (info.external_attr >> 16) & 0o170000 not in (0, 0o100000):
            reason = "not a regular file (a symbolic link or device would escape on unzip)"
        if reason is not None:
            archive.problems.append(f"{name!r}: {reason}")
            continue
        seen[name.casefold()] = name
        error = _unstored_reason(info)
        offset = -1
        if not error:
            try:
                offset = _data_offset(source, info)
            except (OSError, zipfile.BadZipFile) as exc:
                error = f"unreadable: {exc}"
        if error:
            archive.problems.append(f"{name!r}: {error}")
            archive.members[name] = Member(name, info.file_size, b"", -1, error)
            continue
        placed.append((info.header_offset, offset + info.file_size, name))
        archive.members[name] = Member(name, info.file_size, b"", offset)
    end = 0
    for header, data_end, name in sorted(placed):
        if header < end or data_end > directory.start:
            what = "the central directory" if header >= end else "another member"
            error = f"overlaps {what} (a ZIP built to hash the same bytes again)"
            archive.problems.append(f"{name!r}: {error}")
            archive.members[name] = Member(name, archive.members[name].size, b"", -1, error)
            continue
        end = data_end
        member = archive.members[name]
        archive.members[name] = _hash_member(source, member, progress)
        if archive.members[name].error:
            archive.problems.append(f"{name!r}: {archive.members[name].error}")
    return archive


def _unstored_reason(info: zipfile.ZipInfo) -> str:
    if info.compress_type != zipfile.ZIP_STORED:
        return (
            f"compressed (method {info.compress_type}); every member of a package is STORED "
            "(docs/package-format.md), so it was not read"
        )
    if info.compress_size != info.file_size:
        return f"STORED, but {info.compress_size} bytes stored for {info.file_size}"
    return ""


def _data_offset(source: BinaryIO, info: zipfile.ZipInfo) -> int:
    source.seek(info.header_offset)
    header = source.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        raise zipfile.BadZipFile("truncated local header")
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != _LOCAL_MAGIC:
        raise zipfile.BadZipFile("bad local header signature")
    name_length, extra_length = int(fields[9]), int(fields[10])
    raw_name = source.read(name_length)
    encoding = "utf-8" if fields[2] & 0x800 else "cp437"
    if raw_name.decode(encoding, "replace") != info.filename:
        raise zipfile.BadZipFile("local header names another file than the central directory")
    return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length


def _hash_member(source: BinaryIO, member: Member, progress: Progress | None) -> Member:
    """``member`` with the SHA-256 of its ``size`` bytes at ``offset``, read into one buffer."""
    h = hashlib.sha256()
    remaining = member.size
    buffer = bytearray(min(CHUNK_SIZE, max(remaining, 1)))
    view = memoryview(buffer)
    source.seek(member.offset)
    try:
        while remaining:
            got = source.readinto(view[: min(remaining, len(buffer))])  # type: ignore[attr-defined]
            if not got:
                raise EOFError("member data is truncated")
            h.update(view[:got])
            remaining -= got
            if progress is not None:
                progress(got)
    except (OSError, EOFError) as exc:
        return Member(member.path, member.size - remaining, h.digest(), -1, f"unreadable: {exc}")
    return Member(member.path, member.size, h.digest(), member.offset)
