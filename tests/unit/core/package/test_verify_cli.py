"""``timeseal verify PACKAGE.zip``: the untouched package exits 0 (``valid``, or
``valid_with_warnings`` when its own root is trusted); every tamper exits 1 (``invalid``) and
the ``--json`` report names exactly the (subject, check) pairs that failed; unreadable input
is ``invalid`` with a JSON document too."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner, Result

from tests.support.pki import PKIFixture, make_pki
from tests.unit.core.package.helpers import Sealer, flip, members, rezip, three_specs
from timeseal.cli import main
from timeseal.core.log_entry import EvidenceEntry, format_entry
from timeseal.core.package import PackageItem, format_canonical_json
from timeseal.core.package.layout import token_path
from timeseal.core.tlog import SignatureType, format_verifier_key, generate_signer_key

runner = CliRunner()
Failed = set[tuple[str, str]]


def verify(tmp_path: Path, package: bytes, *args: str | Path) -> tuple[Result, Failed]:
    path = tmp_path / "package.zip"
    path.write_bytes(package)
    result = runner.invoke(main.app, ["verify", str(path), "--json", *map(str, args)])
    assert result.exit_code in (0, 1), result.output
    body = json.loads(result.stdout)
    failed = {(f["subject"], f["check"]) for f in body["failed"]}
    assert body["valid"] is (result.exit_code == 0) is (not failed)
    assert (body["verdict"] == "invalid") is (result.exit_code == 1)
    failures = [f for f in body["findings"] if f["severity"] == "failure"]
    assert {(f["subject"], f["code"]) for f in failures} == failed
    return result, failed


@pytest.fixture
def trusted(root_pem: Path, log_vkey: str) -> tuple[str, ...]:
    return ("--ca", str(root_pem), "--log-key", log_vkey)


def test_untouched_package_is_valid(
    tmp_path: Path, case_package: bytes, trusted: tuple[str, ...]
) -> None:
    result, failed = verify(tmp_path, case_package, *trusted)
    assert result.exit_code == 0 and failed == set()
    body = json.loads(result.stdout)
    subjects = [s["subject"] for s in body["sections"]]
    assert subjects[0] == "package" and "proofs/manifest.tsr" in subjects
    item_sections = [s for s in body["sections"] if s["subject"].startswith("TS-")]
    assert len(item_sections) == 3
    checks = [c["check"] for c in item_sections[0]["checks"]]
    for name in ("imprint_matches", "chain_trusted", "capture_window", "log_entry_matches"):
        assert name in checks
    assert checks[-2:] == ["inclusion_proof", "certificate_signature"]
    assert all(c["status"] == "pass" for s in body["sections"] for c in s["checks"])
    # Each certificate PDF is checked too: signed and document-timestamped under the root.
    assert [c["check"] for c in item_sections[0]["checks"]].count("certificate_signature") == 1
    assert not any("signature not checked" in n for n in body["notices"])


def test_text_report_is_bilingual(
    tmp_path: Path, case_package: bytes, trusted: tuple[str, ...]
) -> None:
    path = tmp_path / "p.zip"
    path.write_bytes(case_package)
    result = runner.invoke(main.app, ["verify", str(path), *trusted])
    assert result.exit_code == 0, result.output
    assert "证据包 Package:" in result.stdout
    assert (
        "✓ [通过 pass] 文件哈希与时间戳记录一致 / the file's hash matches the token"
        in result.stdout
    )
    assert result.stdout.splitlines()[0] == "结论 Result: 有效 VALID"
    assert result.stdout.rstrip().endswith("结论 Result: 有效 VALID")


def test_tampered_file_is_named_on_the_first_line_in_both_languages(
    tmp_path: Path, case_package: bytes, trusted: tuple[str, ...]
) -> None:
    files = members(case_package)
    photo = next(p for p in sorted(files) if p.startswith("items/"))
    files[photo] = flip(files[photo])
    path = tmp_path / "p.zip"
    path.write_bytes(rezip(files))
    result = runner.invoke(main.app, ["verify", str(path), *trusted])
    assert result.exit_code == 1
    first, second = result.stdout.splitlines()[:2]
    assert first == (
        f"结论 Result: 无效 INVALID — {photo} [file_sha256]: "
        "文件内容与封存时不同：该文件在封存后被修改过 / "
        "The file's content differs from when it was sealed: it was changed"
    )
    assert second.startswith("    技术细节 detail: listed ")
    assert result.stdout.rstrip().endswith("结论 Result: 无效 INVALID")


def test_without_trust_options_the_package_anchor_is_used_with_a_warning(
    tmp_path: Path, case_package: bytes, test_pki: PKIFixture
) -> None:
    result, failed = verify(tmp_path, case_package)
    assert result.exit_code == 0 and not failed
    body = json.loads(result.stdout)
    assert body["verdict"] == "valid_with_warnings"
    assert [(f["code"], f["severity"]) for f in body["findings"]] == [
        ("self_supplied_root", "warning"),
        ("self_supplied_log_key", "warning"),
    ]
    notices = body["notices"]
    digest = hashlib.sha256(test_pki.root.certificate.public_bytes(Encoding.DER)).hexdigest()
    fingerprint = ":".join(digest[i : i + 2] for i in range(0, 64, 2)).upper()
    assert any("WARNING: the trust anchor was taken from the package" in n for n in notices)
    assert any(fingerprint in n for n in notices)
    assert any("WARNING: the log key was taken from the package" in n for n in notices)


def test_another_root_fails_every_chain(tmp_path: Path, case_package: bytes, log_vkey: str) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(make_pki().root.certificate.public_bytes(Encoding.PEM))
    _, failed = verify(tmp_path, case_package, "--ca", other, "--log-key", log_vkey)
    numbers = [n for n, c in failed if n.startswith("TS-")]
    # Every token's chain, every certificate's signer and the manifest's (the same root).
    assert {c for _, c in failed} == {
        "chain_trusted",
        "certificate_signature",
        "manifest_signature",
    }
    assert len(numbers) == 6 and ("proofs/manifest.tsr", "chain_trusted") in failed
    assert ("proofs/manifest.p7s", "manifest_signature") in failed


# Every file, one byte flipped: that file is named, and nothing unrelated fails.


def _related(path: str, items: list[PackageItem]) -> set[str]:
    """Subjects allowed to fail when ``path`` changes."""
    for item in items:
        ident = token_path(item.number)[len("proofs/") : -len(".tsr")]
        if ident in path:  # the item's bytes, token, proof or certificate
            return {path, item.number}
    if path == "manifest.json":
        return {"package", "proofs/manifest.tsr", "proofs/manifest.p7s"}
    return {path}


@pytest.mark.parametrize("index", range(18))
def test_one_flipped_byte_in_any_file_is_named(
    index: int,
    tmp_path: Path,
    case_package: bytes,
    case_items: list[PackageItem],
    trusted: tuple[str, ...],
) -> None:
    files = members(case_package)
    assert len(files) == 18  # 3 items + 3 tokens + 3 proofs + 3 PDFs + 2 certs + VERIFY.md + 3
    path = sorted(files)[index]
    files[path] = flip(files[path])
    result, failed = verify(tmp_path, rezip(files), *trusted)
    assert result.exit_code == 1
    subjects = {s for s, _ in failed}
    if path == "manifest.json":
        assert ("proofs/manifest.tsr", "imprint_matches") in failed
        assert ("proofs/manifest.p7s", "manifest_signature") in failed
        # A flipped hex digit may also make a listed hash disagree with its file.
        related = {"package", "proofs/manifest.tsr", "proofs/manifest.p7s"}
        assert subjects - related <= set(files)
    elif path in ("proofs/manifest.tsr", "proofs/manifest.p7s"):
        assert subjects == {path}
    else:
        assert (path, "file_sha256") in failed
        assert subjects <= _related(path, case_items), failed
    if path.startswith("items/"):
        number = next(
            i.number for i in case_items if path.startswith(f"items/{token_path(i.number)[7:-4]}_")
        )
        assert failed == {(path, "file_sha256"), (number, "imprint_matches")}
    if path.startswith("certificates/"):
        number = next(i.number for i in case_items if token_path(i.number)[7:-4] in path)
        assert failed == {(path, "file_sha256"), (number, "certificate_signature")}
    if path.startswith(("VERIFY", "certs/")):
        assert failed == {(path, "file_sha256")}


def test_removed_file(
    tmp_path: Path, case_package: bytes, case_items: list[PackageItem], trusted: tuple[str, ...]
) -> None:
    files = members(case_package)
    wacz = case_items[2]
    path = next(p for p in files if p.startswith("items/") and p.endswith(".wacz"))
    del files[path]
    result, failed = verify(tmp_path, rezip(files), *trusted)
    assert result.exit_code == 1
    assert failed == {(path, "file_present"), (wacz.number, "imprint_matches")}


def test_removed_certificate_and_manifest_token(
    tmp_path: Path, case_package: bytes, trusted: tuple[str, ...]
) -> None:
    files = members(case_package)
    pdf = next(p for p in files if p.startswith("certificates/"))
    del files[pdf], files["proofs/manifest.tsr"]
    _, failed = verify(tmp_path, rezip(files), *trusted)
    assert failed == {(pdf, "file_present"), ("proofs/manifest.tsr", "token_parses")}


def test_added_file(tmp_path: Path, case_package: bytes, trusted: tuple[str, ...]) -> None:
    files = members(case_package)
    files["items/unlisted.txt"] = b"planted later"
    _, failed = verify(tmp_path, rezip(files), *trusted)
    assert failed == {("items/unlisted.txt", "file_listed")}


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil", "items\\evil", "items/./x"])
def test_unsafe_member_names_are_refused(
    name: str, tmp_path: Path, case_package: bytes, trusted: tuple[str, ...]
) -> None:
    files = members(case_package)
    files[name] = b"x"
    _, failed = verify(tmp_path, rezip(files), *trusted)
    assert failed == {("package", "package_zip")}


def test_duplicate_member_is_refused(
    tmp_path: Path, case_package: bytes, trusted: tuple[str, ...]
) -> None:
    import io
    import zipfile

    out = io.BytesIO(case_package)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(out, "a") as zf:
            zf.writestr("VERIFY.md", b"# trust me")
    _, failed = verify(tmp_path, out.getvalue(), *trusted)
    assert failed == {("package", "package_zip")}


def test_swapped_tokens(
    tmp_path: Path, case_package: bytes, case_items: list[PackageItem], trusted: tuple[str, ...]
) -> None:
    files = members(case_package)
    a, b = case_items[0].number, case_items[1].number
    files[token_path(a)], files[token_path(b)] = files[token_path(b)], files[token_path(a)]
    _, failed = verify(tmp_path, rezip(files), *trusted)
    expected = {(token_path(n), "file_sha256") for n in (a, b)}
    if len(files[token_path(a)]) != len(files[token_path(b)]):
        expected |= {(token_path(n), "file_size") for n in (a, b)}
    for n in (a, b):
        expected |= {(n, "imprint_matches"), (n, "log_entry_matches"), (n, "inclusion_proof")}
    assert failed == expected


def _other_log_proof(test_pki: PKIFixture, item: PackageItem, sealer: Sealer) -> bytes:
    """A valid proof of the same entry, from another log with the same name."""
    other = Sealer(test_pki, key=generate_signer_key(sealer.key.name), filler=3)
    entry = EvidenceEntry(
        item.number, item.kind, item.sha256, item.size,
        hashlib.sha256(sealer.token_der(item.token)).digest(),
    )  # fmt: skip
    other.leaves.append(format_entry(entry))
    return other.proofs([len(other.leaves) - 1])[0]


def test_checkpoint_from_another_log(
    tmp_path: Path,
    case_package: bytes,
    case_items: list[PackageItem],
    sealer: Sealer,
    test_pki: PKIFixture,
    trusted: tuple[str, ...],
) -> None:
    item = case_items[1]
    files = members(case_package)
    proof = f"log/{token_path(item.number)[7:-4]}.proof"
    before = len(files[proof])
    files[proof] = _other_log_proof(test_pki, item, sealer)
    _, failed = verify(tmp_path, rezip(files), *trusted)
    expected = {(proof, "file_sha256"), (item.number, "checkpoint_signature")}
    if len(files[proof]) != before:
        expected.add((proof, "file_size"))
    assert failed == expected


def test_checkpoint_and_key_from_another_log_without_log_key(
    tmp_path: Path,
    case_package: bytes,
    case_items: list[PackageItem],
    sealer: Sealer,
    test_pki: PKIFixture,
    root_pem: Path,
) -> None:
    """Even trusting the package's own log key, the manifest's hashes catch the swap."""
    item = case_items[1]
    files = members(case_package)
    proof = f"log/{token_path(item.number)[7:-4]}.proof"
    files[proof] = _other_log_proof(test_pki, item, sealer)
    files["certs/log.vkey"] = b"timeseal.test/log+00000000+AAAA\n"
    _, failed = verify(tmp_path, rezip(files), "--ca", root_pem)
    assert (proof, "file_sha256") in failed and ("certs/log.vkey", "file_sha256") in failed


def test_manifest_edited_and_recanonicalised(
    tmp_path: Path, case_package: bytes, trusted: tuple[str, ...]
) -> None:
    files = members(case_package)
    value = json.loads(files["manifest.json"])
    value["items"][0]["title"] = "edited"
    files["manifest.json"] = format_canonical_json(value)
    _, failed = verify(tmp_path, rezip(files), *trusted)
    assert failed == {
        ("proofs/manifest.tsr", "imprint_matches"),
        ("proofs/manifest.p7s", "manifest_signature"),
    }


def test_manifest_edited_without_recanonicalising(
    tmp_path: Path, case_package: bytes, trusted: tuple[str, ...]
) -> None:
    files = members(case_package)
    files["manifest.json"] = json.dumps(json.loads(files["manifest.json"]), indent=2).encode()
    _, failed = verify(tmp_path, rezip(files), *trusted)
    assert failed == {
        ("package", "manifest_canonical"),
        ("proofs/manifest.tsr", "imprint_matches"),
        ("proofs/manifest.p7s", "manifest_signature"),
    }


def test_item_replaced_with_manifest_updated_to_match(
    tmp_path: Path, case_package: bytes, case_items: list[PackageItem], trusted: tuple[str, ...]
) -> None:
    """A forger who swaps the video and fixes every hash in the manifest still fails: the
    manifest's token, the item's token and the log all disagree."""
    files = members(case_package)
    item = case_items[1]
    value = json.loads(files["manifest.json"])
    forged = b"another video"
    digest = hashlib.sha256(forged).hexdigest()
    entry = next(i for i in value["items"] if i["number"] == item.number)
    entry["sha256"], entry["size"] = digest, len(forged)
    listed = next(f for f in value["files"] if f["path"] == entry["path"])
    listed["sha256"], listed["size"] = digest, len(forged)
    files[entry["path"]] = forged
    files["manifest.json"] = format_canonical_json(value)
    _, failed = verify(tmp_path, rezip(files), *trusted)
    assert failed == {
        ("proofs/manifest.tsr", "imprint_matches"),
        ("proofs/manifest.p7s", "manifest_signature"),
        (item.number, "imprint_matches"),
        (item.number, "log_entry_matches"),
        (item.number, "inclusion_proof"),
    }


def test_not_a_package_falls_back_to_file_verification(tmp_path: Path) -> None:
    path = tmp_path / "plain.txt"
    path.write_bytes(b"hello")
    result = runner.invoke(main.app, ["verify", str(path)])
    assert result.exit_code == 1  # no token to check it by: unreadable evidence, invalid
    assert result.stdout.startswith(f"结论 Result: 无效 INVALID — {path} [unreadable]: 无法读取")


@pytest.mark.parametrize(
    "kind", ["empty", "not_a_zip", "truncated_zip", "missing", "empty_dir", "broken_token"]
)
def test_unreadable_input_is_invalid_with_a_json_document(
    kind: str, tmp_path: Path, case_package: bytes, root_pem: Path
) -> None:
    path = tmp_path / "evidence.zip"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "not_a_zip":
        path.write_bytes(b"%PDF-1.7 this is no ZIP at all\n" * 100)
    elif kind == "truncated_zip":
        path.write_bytes(case_package[: len(case_package) // 2])  # a download cut off
    elif kind == "empty_dir":
        path.mkdir()
    elif kind == "broken_token":
        path = tmp_path / "photo.jpg"
        path.write_bytes(b"jpeg")
        (tmp_path / "photo.jpg.tsr").write_bytes(b"\x30\x03garbage")
    args = ["verify", str(path), "--ca", str(root_pem), "--json"]
    result = runner.invoke(main.app, args)
    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    assert body["verdict"] == "invalid" and body["valid"] is False
    code = "token_parses" if kind == "broken_token" else "unreadable"
    assert body["findings"][0]["code"] == code
    assert body["findings"][0]["message_zh"] and body["findings"][0]["message_en"]


def test_a_usage_error_with_json_is_still_one_json_document(
    tmp_path: Path, case_package: bytes
) -> None:
    path = tmp_path / "p.zip"
    path.write_bytes(case_package)
    result = runner.invoke(main.app, ["verify", str(path), "--token", str(path), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {
        "verdict": None,
        "error": "usage",
        "message": "--token、--receipt 只用于单个文件 "
        "--token and --receipt are for a file, not an evidence package",
    }


def test_token_option_with_a_package_is_a_usage_error(tmp_path: Path, case_package: bytes) -> None:
    path = tmp_path / "p.zip"
    path.write_bytes(case_package)
    result = runner.invoke(main.app, ["verify", str(path), "--token", str(path)])
    assert result.exit_code == 2


def test_three_specs_cover_photo_video_and_web_capture() -> None:
    kinds = [s.kind for s in three_specs()]
    assert kinds == ["photo", "video", "web-capture"]
    assert max(len(s.data) for s in three_specs()) >= 5 << 20


def test_witness_key_option(tmp_path: Path, test_pki: PKIFixture, root_pem: Path) -> None:
    witness = generate_signer_key("witness.example/w1", SignatureType.COSIGNATURE_V1)
    sealer = Sealer(test_pki, witness=witness)
    package = sealer.build(sealer.items(three_specs()[:1]), case=False)
    log_key = format_verifier_key(sealer.key.verifier_key)
    good = format_verifier_key(witness.verifier_key)
    result, failed = verify(
        tmp_path, package, "--ca", root_pem, "--log-key", log_key, "--witness-key", good
    )
    assert result.exit_code == 0 and not failed
    other = generate_signer_key("witness.example/w2", SignatureType.COSIGNATURE_V1)
    bad = format_verifier_key(other.verifier_key)
    result, failed = verify(
        tmp_path, package, "--ca", root_pem, "--log-key", log_key, "--witness-key", bad
    )
    assert {c for _, c in failed} == {"cosignature"}
    path = tmp_path / "package.zip"
    usage = runner.invoke(main.app, ["verify", str(path), "--witness-key", log_key])
    assert usage.exit_code == 2  # a log key is not a cosignature key


def test_help_documents_verdicts_and_exit_codes() -> None:
    text = runner.invoke(main.app, ["verify", "--help"]).output
    for line in ("0 valid ", "0 valid_with_warnings", "3 incomplete", "1 invalid", "2 usage"):
        assert line in text
