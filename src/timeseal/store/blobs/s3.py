"""Blobs as objects in an S3 bucket (boto3; any S3-compatible store)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from timeseal.store.blobs._common import (
    CHUNK_SIZE,
    LABEL_NAME,
    BlobError,
    BlobNotFound,
    BlobReader,
    BlobRef,
    ByteSource,
    blob_path,
    check_digest,
    checked,
    digest_only,
    iter_chunks,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

S3_ENDPOINT_ENV = "TIMESEAL_S3_ENDPOINT_URL"

#: Multipart part size: the most an upload holds in memory (S3's minimum is 5 MiB).
S3_PART_SIZE = 8 << 20


class S3BlobStore:
    """Blobs as objects ``<prefix>/ab/cd/<hex>`` in an S3 bucket (any S3-compatible store).

    S3 has no rename, but a multipart upload is invisible until it is completed. So:

    1. A stream that fits in one part (``part_size``) is hashed first and PUT straight to its
       content address.
    2. When the digest is known up front (``expected_sha256``; always so for
       :meth:`adopt`, hence for finished resumable uploads), the parts go to a multipart
       upload on the content address itself, completed only if the bytes match and aborted
       otherwise.
    3. Otherwise the parts go to a multipart upload on ``<prefix>/tmp/<uuid>``; once it is
       complete the digest is known, the object is copied server-side (no bytes through
       this process) to its content address, and the temporary object is deleted.

    Memory stays at about one part. A crashed writer leaves an incomplete multipart upload
    or a temporary object, never a wrong object at a content address;
    :meth:`sweep_abandoned` aborts and deletes them. (A bucket lifecycle rule such as
    ``AbortIncompleteMultipartUpload`` does the same job on the server side.)
    """

    #: S3 allows at most 10,000 parts; part sizes grow by ``part_size`` every 1,000 parts,
    #: so 8 MiB parts reach about 430 GiB.
    MAX_PARTS = 10_000

    def __init__(
        self, client: S3Client, bucket: str, prefix: str = "", *, part_size: int = S3_PART_SIZE
    ) -> None:
        if part_size < 5 << 20:
            raise ValueError("S3 parts are at least 5 MiB")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_size = part_size

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None) -> S3BlobStore:
        """``s3://bucket/prefix``. The endpoint is ``endpoint_url`` (a server's
        ``$TIMESEAL_S3_ENDPOINT_URL``, read by its settings), else what boto3 finds
        (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, the config file, or AWS itself);
        credentials and region come from the usual AWS variables and files."""
        import boto3
        from botocore.config import Config

        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
        endpoint = endpoint_url or None
        # boto3 reads its own variables itself; only whether it will use a custom endpoint
        # matters here (the addressing style).
        custom = (
            endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        )
        config = Config(
            # Self-hosted stores (MinIO, Ceph, moto) rarely have wildcard DNS for buckets.
            s3={"addressing_style": "path" if custom else "auto"},
            retries={"mode": "standard", "max_attempts": 5},
        )
        client = boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)
        return cls(client, parts.netloc, parts.path)

    def key(self, sha256: bytes) -> str:
        return self._join(blob_path(sha256))

    def _join(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _part_size(self, part_number: int) -> int:
        return self.part_size * (1 + (part_number - 1) // 1000)

    # writing

    def write_stream(self, source: ByteSource, expected_sha256: bytes | None = None) -> BlobRef:
        if expected_sha256 is not None:
            check_digest(expected_sha256)
            if self.exists(expected_sha256):
                return checked(expected_sha256, *digest_only(source))
        upload = None
        hasher = hashlib.sha256()
        size = 0
        buffer = bytearray()
        try:
            for chunk in iter_chunks(source):
                hasher.update(chunk)
                size += len(chunk)
                buffer += chunk
                while True:
                    part_number = 1 if upload is None else len(upload.parts) + 1
                    wanted = self._part_size(part_number)
                    if len(buffer) <= wanted:  # keep the last part back until the end
                        break
                    if upload is None:
                        upload = (
                            _MultipartUpload(self, self.key(expected_sha256), temporary=False)
                            if expected_sha256 is not None
                            else _MultipartUpload(
                                self, self._join(f"tmp/{uuid.uuid4().hex}"), temporary=True
                            )
                        )
                    upload.send(_take(buffer, wanted))
            ref = checked(expected_sha256, hasher.digest(), size)
            final = self.key(ref.sha256)
            if upload is None:  # at most one part: hashed before anything was sent
                if not self.exists(ref.sha256):
                    self.client.put_object(Bucket=self.bucket, Key=final, Body=bytes(buffer))
                return ref
            upload.send(_take(buffer, len(buffer)))
            upload.complete()
            if upload.key != final:
                self._move(upload.key, final, ref.sha256)
            return ref
        except BaseException:
            if upload is not None:
                upload.discard()
            raise

    def _move(self, temp: str, final: str, sha256: bytes) -> None:
        """Copy the completed temporary object to its content address, then delete it."""
        try:
            if not self.exists(sha256):
                from boto3.s3.transfer import TransferConfig

                self.client.copy(
                    {"Bucket": self.bucket, "Key": temp},
                    self.bucket,
                    final,
                    # One server-side CopyObject up to 5 GiB; UploadPartCopy beyond.
                    Config=TransferConfig(multipart_threshold=5 << 30, multipart_chunksize=1 << 30),
                )
        finally:
            self.client.delete_object(Bucket=self.bucket, Key=temp)

    def adopt(self, path: Path, sha256: bytes) -> BlobRef:
        with open(path, "rb") as f:
            ref = self.write_stream(f, sha256)
        os.unlink(path)
        return ref

    # reading

    def open(self, sha256: bytes) -> S3BlobReader:
        return S3BlobReader(self, BlobRef(sha256, self.size(sha256)))

    def exists(self, sha256: bytes) -> bool:
        try:
            self.size(sha256)
        except BlobNotFound:
            return False
        return True

    def size(self, sha256: bytes) -> int:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if _is_not_found(exc):
                raise BlobNotFound(f"no blob {sha256.hex()}") from None
            raise
        return head["ContentLength"]

    def read_label(self) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._join(LABEL_NAME))
        except ClientError as exc:
            if _is_not_found(exc):
                return None
            raise
        body = answer["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def write_label(self, data: bytes) -> None:
        # One PUT: S3 makes an object visible whole or not at all.
        self.client.put_object(Bucket=self.bucket, Key=self._join(LABEL_NAME), Body=data)

    # removing

    def delete(self, sha256: bytes) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    def sweep_abandoned(self, older_than: dt.timedelta = dt.timedelta(hours=1)) -> int:
        """Abort multipart uploads and delete temporary objects started before
        ``now - older_than`` (a live upload is younger than that, so pick it generously)."""
        cutoff = dt.datetime.now(dt.UTC) - older_than
        removed = 0
        prefix = self._join("")
        for page in self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] <= cutoff:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    removed += 1
        for listing in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._join("tmp/")
        ):
            for obj in listing.get("Contents", []):
                if obj["LastModified"] <= cutoff:
                    self.client.delete_object(Bucket=self.bucket, Key=obj["Key"])
                    removed += 1
        return removed


class _MultipartUpload:
    """One multipart upload: to a temporary key, or to a content address (``temporary``
    False), which is never deleted once completed: the same bytes may be another writer's."""

    def __init__(self, store: S3BlobStore, key: str, *, temporary: bool) -> None:
        self.store = store
        self.key = key
        self.temporary = temporary
        self.parts: list[tuple[int, str]] = []
        self.completed = False
        response = store.client.create_multipart_upload(Bucket=store.bucket, Key=key)
        self.upload_id = response["UploadId"]

    def send(self, body: bytes) -> None:
        if len(self.parts) >= S3BlobStore.MAX_PARTS:
            raise BlobError("blob too large for one S3 multipart upload")
        number = len(self.parts) + 1
        response = self.store.client.upload_part(
            Bucket=self.store.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=body,
        )
        self.parts.append((number, response["ETag"]))

    def complete(self) -> None:
        self.store.client.complete_multipart_upload(
            Bucket=self.store.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in self.parts]},
        )
        self.completed = True

    def discard(self) -> None:
        """Best effort: what this leaves behind, sweep_abandoned removes later."""
        client, bucket = self.store.client, self.store.bucket
        try:
            if self.completed:
                if self.temporary:
                    client.delete_object(Bucket=bucket, Key=self.key)
            else:
                client.abort_multipart_upload(Bucket=bucket, Key=self.key, UploadId=self.upload_id)
        except Exception:  # noqa: S110 - the original error is the one to report
            pass


class S3BlobReader(BlobReader):
    """Ranged GETs: ``read_range`` asks S3 for exactly those bytes."""

    def __init__(self, store: S3BlobStore, ref: BlobRef) -> None:
        super().__init__(ref)
        self._store = store

    def _range(self, start: int, end: int) -> Iterator[bytes]:
        response = self._store.client.get_object(
            Bucket=self._store.bucket,
            Key=self._store.key(self.ref.sha256),
            Range=f"bytes={start}-{end - 1}",
        )
        body = response["Body"]
        try:
            received = 0
            for chunk in body.iter_chunks(CHUNK_SIZE):
                received += len(chunk)
                yield chunk
            if received != end - start:
                raise BlobError(f"S3 sent {received} bytes for a {end - start}-byte range")
        finally:
            body.close()


def _take(buffer: bytearray, n: int) -> bytes:
    """Remove and return the first ``n`` bytes of ``buffer`` (one copy)."""
    with memoryview(buffer) as view:
        head = bytes(view[:n])
    del buffer[:n]
    return head


def _is_not_found(exc: Exception) -> bool:
    response = getattr(exc, "response", {})
    code = str(response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}
