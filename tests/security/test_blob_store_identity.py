"""A data directory serves files from its own blob store, or not at all.

Before the check, a data directory whose files were in S3 (or another ``file://`` store),
started without ``TIMESEAL_BLOB_URL``, ran on an empty ``<data-dir>/blobs``: every download
answered 404 and new uploads went where the operator's backups do not look. Now the store
carries a label naming the data directory's database, and every start compares it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.accounts import log_in, server_database_url
from tests.support.s3 import empty_bucket, new_bucket, s3_client, s3_endpoint_or_skip
from tests.support.server import TIMESEAL, free_port
from tests.support.tus import upload_whole
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.runtime import datadir
from timeseal.server.runtime.blob_store import BlobStoreMismatch
from timeseal.server.runtime.configuration import CONFIG_FILE
from timeseal.server.tsa.clock import LocalSource
from timeseal.store.blobs import BLOB_URL_ENV, LABEL_NAME, S3BlobStore

DATA = b"the chat the shop deleted\n"


def _settings(data_dir: Path, blob_url: str | None) -> ServerSettings:
    return ServerSettings(
        database_url=server_database_url(),
        data_dir=data_dir,
        clock_source=LocalSource(),
        blob_url=blob_url,
    )


def _start(data_dir: Path, blob_url: str | None) -> None:
    """Build the application and run its lifespan, where it checks its stores."""
    with TestClient(create_app(_settings(data_dir, blob_url))):
        pass


def _upload(client: TestClient, data_dir: Path) -> tuple[str, dict[str, str]]:
    """Log in and upload :data:`DATA`; its evidence number and the credentials."""
    answer = log_in(client, data_dir / "sms-outbox.log", kind="token", token_name="t")
    auth = {"Authorization": f"Bearer {answer['token']['token']}"}
    headers = upload_whole(
        client,
        auth,
        DATA,
        filename="chat.txt",
        filetype="text/plain",
        sha256=hashlib.sha256(DATA).hexdigest(),
    )
    number = headers["timeseal-evidence-number"]
    download = client.get(f"/api/v1/evidence/{number}/content", headers=auth)
    assert download.status_code == 200, download.text
    assert download.content == DATA
    return number, auth


def _forget_binding(data_dir: Path, store_root: Path) -> None:
    """Make the data directory look as it did before blob stores were labelled."""
    config = json.loads((data_dir / CONFIG_FILE).read_text())
    config.pop("blobs", None)
    (data_dir / CONFIG_FILE).write_text(json.dumps(config))
    (store_root / LABEL_NAME).unlink()


def test_a_new_store_is_labelled_with_the_database_and_recorded(
    data_dir: Path, tmp_path: Path
) -> None:
    store = tmp_path / "files"
    _start(data_dir, f"file://{store}")
    config = datadir.load_config(data_dir)
    label = json.loads((store / LABEL_NAME).read_text())
    assert label == {"database_id": config.database.id}
    assert config.blobs.bound and config.blobs.location == f"file://{store}"


def test_a_data_directory_started_without_its_blob_url_is_refused(
    data_dir: Path, tmp_path: Path
) -> None:
    store = tmp_path / "files"
    with TestClient(create_app(_settings(data_dir, f"file://{store}"))) as client:
        _upload(client, data_dir)
    with pytest.raises(BlobStoreMismatch) as refused:
        _start(data_dir, None)
    assert f"{BLOB_URL_ENV}=file://{store}" in str(refused.value)
    # Nothing was written to the wrong store: no label, no directory.
    assert not (data_dir / "blobs" / LABEL_NAME).exists()


def test_another_installations_store_is_refused(data_dir: Path, tmp_path: Path) -> None:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    _start(data_dir, f"file://{mine}")
    (theirs).mkdir()
    (theirs / LABEL_NAME).write_text(json.dumps({"database_id": "someone-else"}))
    with pytest.raises(BlobStoreMismatch, match="someone-else") as refused:
        _start(data_dir, f"file://{theirs}")
    assert f"{BLOB_URL_ENV}=file://{mine}" in str(refused.value)
    (theirs / LABEL_NAME).write_text("not json")
    with pytest.raises(BlobStoreMismatch, match="unreadable"):
        _start(data_dir, f"file://{theirs}")


def test_a_labelled_default_store_refuses_a_url_and_names_the_fix(data_dir: Path) -> None:
    _start(data_dir, None)
    assert (data_dir / "blobs" / LABEL_NAME).exists()
    with pytest.raises(BlobStoreMismatch, match=f"unset {BLOB_URL_ENV}"):
        _start(data_dir, f"file://{data_dir.parent / 'x'}")


def test_an_older_data_directory_adopts_only_a_store_holding_its_files(
    data_dir: Path, tmp_path: Path
) -> None:
    store = tmp_path / "files"
    with TestClient(create_app(_settings(data_dir, f"file://{store}"))) as client:
        number, auth = _upload(client, data_dir)
    _forget_binding(data_dir, store)
    with pytest.raises(BlobStoreMismatch, match="none of the newest files"):
        _start(data_dir, None)
    assert not datadir.load_config(data_dir).blobs.bound
    with TestClient(create_app(_settings(data_dir, f"file://{store}"))) as client:
        assert client.get(f"/api/v1/evidence/{number}/content", headers=auth).content == DATA
    assert datadir.load_config(data_dir).blobs.bound
    assert (store / LABEL_NAME).exists()


def test_serve_refuses_the_wrong_blob_store_before_any_worker_starts(
    data_dir: Path, tmp_path: Path
) -> None:
    store = tmp_path / "files"
    _start(data_dir, f"file://{store}")
    env = {k: v for k, v in os.environ.items() if k != BLOB_URL_ENV}
    serve = subprocess.run(
        [*TIMESEAL, "serve", "--data-dir", str(data_dir), "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert serve.returncode != 0
    assert f"{BLOB_URL_ENV}=file://{store}" in serve.stderr


def test_the_label_lives_in_the_bucket(data_dir: Path) -> None:
    with s3_endpoint_or_skip() as endpoint:
        client = s3_client(endpoint)
        bucket = new_bucket(client)
        try:
            store = S3BlobStore(client, bucket, "evidence")
            assert store.read_label() is None
            store.write_label(b'{"database_id": "x"}\n')
            assert store.read_label() == b'{"database_id": "x"}\n'
            key = f"evidence/{LABEL_NAME}"
            assert client.get_object(Bucket=bucket, Key=key)["Body"].read().startswith(b"{")
            # The label is never taken for a blob, nor swept as an abandoned write.
            assert not store.exists(hashlib.sha256(b'{"database_id": "x"}\n').digest())
            store.sweep_abandoned()
            assert store.read_label() is not None
        finally:
            empty_bucket(client, bucket)
