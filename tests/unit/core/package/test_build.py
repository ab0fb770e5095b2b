"""The builder: deterministic bytes, streaming, refusal of bytes that do not match, layout."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

import pytest

from tests.support.pki import PKIFixture
from tests.unit.core.package.helpers import (
    GEN_TIME,
    Sealer,
    Spec,
    chunks,
    members,
    number_with_check,
    three_specs,
)
from timeseal.core.package import (
    ContentMismatch,
    PackageItem,
    build_package,
    parse_manifest,
    verify_package,
)
from timeseal.core.tsp.authority import format_rejection
from timeseal.core.tsp.response import FailureInfo


def test_same_inputs_give_identical_bytes(sealer: Sealer, case_items: list[PackageItem]) -> None:
    # The TSA signs with fresh ECDSA nonces, so the manifest token differs per call; a
    # stamp that returns the same token for the same digest shows everything else is fixed.
    issued: dict[bytes, bytes] = {}

    signed: dict[bytes, bytes] = {}

    def stamp(digest: bytes) -> bytes:
        return issued.setdefault(digest, sealer.stamp(digest))

    def sign(manifest: bytes) -> bytes:  # ECDSA signatures are randomised, like tokens
        return signed.setdefault(manifest, sealer.sign(manifest))

    outputs = [sealer.build(case_items, case={"title": "t"}, stamp=stamp, sign=sign) for _ in "ab"]
    assert outputs[0] == outputs[1]
    assert len(issued) == 1
    assert len(signed) == 1


def test_zip_layout_is_fixed(case_package: bytes, case_items: list[PackageItem]) -> None:
    with zipfile.ZipFile(io.BytesIO(case_package)) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names[:3] == [
        parse_manifest(members(case_package)["manifest.json"])[0].items[i].path for i in range(3)
    ]
    assert names[-3:] == ["manifest.json", "proofs/manifest.tsr", "proofs/manifest.p7s"]
    assert names[3:-3] == sorted(names[3:-3])
    for info in infos:
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr == 0o100644 << 16 and info.create_system == 3
        assert not info.flag_bits & 0x08  # sizes and CRC in the local header, no descriptor
    manifest, canonical = parse_manifest(members(case_package)["manifest.json"])
    assert canonical and manifest.scope == "case"
    unlisted = {"manifest.json", "proofs/manifest.tsr", "proofs/manifest.p7s"}
    assert {f.path for f in manifest.files} == set(names) - unlisted
    assert manifest.items[0].number.endswith("$")
    assert manifest.items[0].path.startswith("items/TS-") and "_34_" in manifest.items[0].path
    assert all(i.certificate and i.certificate.startswith("certificates/") for i in manifest.items)


def test_item_package_has_certificate_pdf(sealer: Sealer) -> None:
    [item] = sealer.items(three_specs()[:1])
    package = sealer.build([item], case=False)
    files = members(package)
    assert files["certificate.pdf"] == item.certificate_pdf
    manifest, _ = parse_manifest(files["manifest.json"])
    assert manifest.scope == "item" and manifest.case is None
    assert verify_package(io.BytesIO(package), roots=[sealer.pki.root.certificate]).ok


def test_bare_tokens_are_wrapped_byte_for_byte(sealer: Sealer) -> None:
    [item] = sealer.items(three_specs()[2:])
    token = sealer.token_der(item.token)
    out = io.BytesIO()
    build_package(
        out,
        [dataclasses.replace(item, token=token)],
        tsa_chain=sealer.pki.chain,
        log_key=sealer.key.verifier_key,
        sealed_at=GEN_TIME,
        stamp=lambda d: sealer.token_der(sealer.stamp(d)),
        sign=sealer.sign,
    )
    files = members(out.getvalue())
    assert files["proofs/" + item.number.replace("$", "_34") + ".tsr"].endswith(token)
    assert verify_package(io.BytesIO(out.getvalue()), roots=[sealer.pki.root.certificate]).ok


class _Tracking(io.BytesIO):
    pass


@pytest.mark.parametrize("what", ["sha256", "size-short", "size-long"])
def test_mismatched_bytes_are_refused_and_nothing_is_left(
    what: str, sealer: Sealer, case_items: list[PackageItem]
) -> None:
    item = case_items[1]
    data = b"x" * 10
    if what == "sha256":
        bad = dataclasses.replace(item, size=len(data), open=lambda: io.BytesIO(data))
    elif what == "size-short":
        bad = dataclasses.replace(item, open=lambda: io.BytesIO(data))
    else:
        bad = dataclasses.replace(item, size=5, open=lambda: io.BytesIO(data))
    stamped: list[bytes] = []
    out = io.BytesIO(b"prefix")
    out.seek(0, 2)
    with pytest.raises(ContentMismatch) as info:
        build_package(
            out,
            [case_items[0], bad, case_items[2]],
            tsa_chain=sealer.pki.chain,
            log_key=sealer.key.verifier_key,
            sealed_at=GEN_TIME,
            stamp=lambda d: stamped.append(d) or sealer.stamp(d),  # type: ignore[func-returns-value]
            sign=sealer.sign,
            case={},
        )
    assert info.value.number == item.number
    assert out.getvalue() == b"prefix"  # truncated back; no central directory was written
    assert stamped == []


def test_a_token_over_another_hash_is_refused(
    sealer: Sealer, case_items: list[PackageItem]
) -> None:
    swapped = dataclasses.replace(case_items[0], token=case_items[1].token)
    with pytest.raises(ValueError, match="imprint"):
        sealer.build([swapped])


def test_unseekable_output_is_refused(sealer: Sealer, case_items: list[PackageItem]) -> None:
    class Pipe(io.RawIOBase):
        def writable(self) -> bool:
            return True

    with pytest.raises(ValueError, match="seekable"):
        build_package(
            Pipe(),  # type: ignore[arg-type]
            case_items,
            tsa_chain=sealer.pki.chain,
            log_key=sealer.key.verifier_key,
            sealed_at=GEN_TIME,
            stamp=sealer.stamp,
            sign=sealer.sign,
            case={},
        )


class _ChunkedSource(io.RawIOBase):
    """A large file that exists only as generated 1 MiB chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if not self._pending:
            self._pending = next(self._chunks, b"")
        out, self._pending = self._pending[:size], self._pending[size:]
        return out


class _DiscardingFile(io.RawIOBase):
    """A seekable sink that keeps only what is written near the start and the end."""

    def __init__(self) -> None:
        self._pos = 0
        self._size = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._pos += len(data)
        self._size = max(self._size, self._pos)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = (
            offset if whence == 0 else (self._pos + offset if whence == 1 else self._size + offset)
        )
        return self._pos

    def truncate(self, size: int | None = None) -> int:
        return self._pos


def test_a_200_mib_item_is_streamed(test_pki: PKIFixture) -> None:
    size = 200 << 20
    h = hashlib.sha256()
    for chunk in chunks("big", size):
        h.update(chunk)
    spec = Spec(number_with_check("ABC"), "video", "big.mp4", b"", "video/mp4")
    sealer = Sealer(test_pki)
    [template] = sealer.items([dataclasses.replace(spec, data=b"tiny")], certificate=False)
    # The token and proof must be over the big file: re-seal with its real hash.
    token = sealer.stamp(h.digest())
    big = dataclasses.replace(template, size=size, sha256=h.digest(), token=token)

    def opener() -> BinaryIO:
        return _ChunkedSource(chunks("big", size))  # type: ignore[return-value]

    big = dataclasses.replace(big, open=opener)
    sink = _DiscardingFile()
    tracemalloc.start()
    try:
        build_package(
            sink,  # type: ignore[arg-type]
            [big],
            tsa_chain=sealer.pki.chain,
            log_key=sealer.key.verifier_key,
            sealed_at=GEN_TIME,
            stamp=sealer.stamp,
            sign=sealer.sign,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.tell() > size
    assert peak < 24 << 20, f"peak {peak / 2**20:.1f} MiB while sealing a 200 MiB item"


def test_a_tsa_chain_is_required(sealer: Sealer, case_items: list[PackageItem]) -> None:
    with pytest.raises(ValueError, match="tsa_chain must hold the TSA certificate"):
        build_package(
            io.BytesIO(),
            case_items,
            tsa_chain=[],
            log_key=sealer.key.verifier_key,
            sealed_at=GEN_TIME,
            stamp=sealer.stamp,
            sign=sealer.sign,
        )


def test_a_token_that_is_not_rfc_3161_is_refused(
    sealer: Sealer, case_items: list[PackageItem]
) -> None:
    broken = dataclasses.replace(case_items[0], token=b"\x30\x00")
    with pytest.raises(ValueError, match="neither a TimeStampResp nor a token"):
        sealer.build([broken])


def test_a_rejection_is_not_a_token(sealer: Sealer, case_items: list[PackageItem]) -> None:
    rejected = dataclasses.replace(
        case_items[0], token=format_rejection(FailureInfo.SYSTEM_FAILURE, "down")
    )
    with pytest.raises(ValueError, match=r"the timestamp was not granted \(REJECTION\)"):
        sealer.build([rejected])


def test_a_log_proof_that_does_not_parse_is_refused(
    sealer: Sealer, case_items: list[PackageItem]
) -> None:
    broken = dataclasses.replace(case_items[0], log_proof=b"not a proof")
    with pytest.raises(ValueError, match="log proof does not parse"):
        sealer.build([broken])


def test_capture_metadata_too_large_for_a_verifier_is_refused(
    sealer: Sealer, case_items: list[PackageItem]
) -> None:
    huge = dataclasses.replace(case_items[0], capture={"notes": "x" * (4 << 20)})
    with pytest.raises(ValueError, match=r"manifest\.json would be"):
        sealer.build([huge])
    many = dataclasses.replace(case_items[0], capture={"frames": [0] * 300_000})
    with pytest.raises(ValueError, match=r"manifest\.json would not verify"):
        sealer.build([many])


@pytest.mark.parametrize(
    ("signature", "why"),
    [
        (lambda s, m: s.sign(m + b" "), "messageDigest"),  # over other bytes
        (lambda s, m: b"not DER", "DER|length|Insufficient"),
        (lambda s, m: s.sign(m) + b"\x00", "after the CMS object"),
        (lambda s, m: s.stamp(hashlib.sha256(m).digest()), "not a CMS SignedData|SignedData"),
    ],
    ids=["other-bytes", "garbage", "trailing-byte", "a-token-not-a-signature"],
)
def test_a_signature_that_could_never_verify_is_refused_and_nothing_is_left(
    signature: Callable[[Sealer, bytes], bytes],
    why: str,
    sealer: Sealer,
    case_items: list[PackageItem],
) -> None:
    out = io.BytesIO(b"prefix")
    out.seek(0, 2)
    with pytest.raises(ValueError, match=why):
        sealer.build(case_items, case={}, sign=lambda m: signature(sealer, m), out=out)
    assert out.getvalue() == b"prefix"  # truncated back; no central directory was written


def test_the_manifest_signature_is_the_last_member_and_covers_the_manifest(
    sealer: Sealer, case_items: list[PackageItem]
) -> None:
    signed: list[bytes] = []

    def sign(manifest: bytes) -> bytes:
        signed.append(manifest)
        return sealer.sign(manifest)

    files = members(sealer.build(case_items, case={}, sign=sign))
    assert signed == [files["manifest.json"]]
    assert list(files)[-1] == "proofs/manifest.p7s"
