"""An S3 API endpoint for the tests, when TIMESEAL_TEST_S3_URL is set.

- ``TIMESEAL_TEST_S3_URL=http://127.0.0.1:PORT``: use that server (moto, MinIO, ...).
- ``TIMESEAL_TEST_S3_URL=auto``: start a moto server on loopback for the test session
  (``tests/support/moto_server.py``); failing to start it is an error, never a skip. CI sets
  this (``.ci/run``), so the S3 tests always run there.
- unset: the S3 tests skip, saying why.

Credentials are dummies; every test makes its own bucket.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

S3_URL_ENV = "TIMESEAL_TEST_S3_URL"
_SERVER_SCRIPT = Path(__file__).with_name("moto_server.py")


@contextmanager
def s3_endpoint_or_skip() -> Iterator[str]:
    """The endpoint URL of an S3 API server (see the module docstring)."""
    value = os.environ.get(S3_URL_ENV, "").strip()
    if not value:
        pytest.skip(f"{S3_URL_ENV} is not set (an S3 endpoint URL, or 'auto' to start moto)")
    if value == "auto":
        with moto_server() as url:
            yield url
    else:
        yield value


@contextmanager
def moto_server(timeout: float = 60) -> Iterator[str]:
    """Run ``moto_server.py`` in a child process; yield its URL; stop it."""
    with tempfile.TemporaryFile() as log:
        child = subprocess.Popen(
            [sys.executable, str(_SERVER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            assert child.stdout is not None
            line = _read_line(child, timeout)
            if not line.startswith("http://127.0.0.1:"):
                log.seek(0)
                raise RuntimeError(
                    f"moto server did not start (exit {child.poll()}): "
                    f"{log.read().decode(errors='replace')[-2000:]}"
                )
            yield line
        finally:
            if child.stdin is not None:
                child.stdin.close()  # the server's signal to stop
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            if child.stdout is not None:
                child.stdout.close()


def _read_line(child: subprocess.Popen[str], timeout: float) -> str:
    import selectors

    assert child.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.5):
                return child.stdout.readline().strip()
            if child.poll() is not None:
                return ""
    return ""


def s3_client(endpoint: str) -> S3Client:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def new_bucket(client: S3Client) -> str:
    name = f"timeseal-test-{secrets.token_hex(6)}"
    client.create_bucket(Bucket=name)
    return name


def empty_bucket(client: S3Client, bucket: str) -> None:
    """Delete every object and abort every multipart upload, then the bucket."""
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
    for listing in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in listing.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
    client.delete_bucket(Bucket=bucket)
