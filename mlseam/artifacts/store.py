"""Immutable model artifacts: S3 in every environment, a dict in unit tests; sha256- and signature-checked reads."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from mlseam.artifacts.signing import ArtifactTrust, Signature
from mlseam.errors import ArtifactIntegrityError, StoreError


@dataclass(frozen=True)
class StoredArtifact:
    """Where an artifact was written, and the digest, size and (model artifacts) signature the registry records."""

    key: str
    sha256: str
    size: int
    signature: Signature | None = None


def sha256_of(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def verify(key: str, data: bytes, expected_sha256: str) -> bytes:
    """``data`` if its sha256 is ``expected_sha256``, else ArtifactIntegrityError."""
    actual = sha256_of(data)
    if actual != expected_sha256:
        raise ArtifactIntegrityError(
            f"artifact {key} has sha256 {actual[:12]}..., the registry recorded {expected_sha256[:12]}...; "
            "refusing to load it (it was altered or corrupted): retrain or promote another version"
        )
    return data


class ArtifactStore(Protocol):
    """Write-once storage of model artifacts."""

    def put(self, key: str, data: bytes) -> StoredArtifact:
        """Write ``data`` at a new ``key``; StoreError if the key already exists."""
        ...

    def get(self, key: str, expected_sha256: str) -> bytes:
        """The bytes at ``key`` once their sha256 matches; ArtifactIntegrityError otherwise."""
        ...

    def put_signed(self, key: str, data: bytes) -> StoredArtifact:
        """``put``, then its sha256 signed by the trusted key (only the retrain job may sign)."""
        ...

    def sign(self, sha256: str) -> Signature:
        """A signature of an artifact already stored, by the trusted key (versions stored before signing)."""
        ...

    def get_signed(self, key: str, expected_sha256: str, signature: Signature | None, *, name: str) -> bytes:
        """``get``, once ``signature`` is the trusted key's over ``expected_sha256``; UntrustedArtifactError otherwise.

        ``name`` (``<service> <version>``) names the version in errors; a missing signature is
        refused or allowed with a warning, as the trust's policy for unsigned versions says.
        """
        ...


class SignedArtifacts:
    """``put_signed`` and ``get_signed`` of both stores, over their ``put``, ``get`` and trust."""

    trust: ArtifactTrust

    def put(self, key: str, data: bytes) -> StoredArtifact:
        raise NotImplementedError

    def get(self, key: str, expected_sha256: str) -> bytes:
        raise NotImplementedError

    def put_signed(self, key: str, data: bytes) -> StoredArtifact:
        # Signed first: when KMS refuses, nothing is written.
        signature = self.sign(sha256_of(data))
        return dataclasses.replace(self.put(key, data), signature=signature)

    def sign(self, sha256: str) -> Signature:
        return self.trust.signer.sign(sha256)

    def get_signed(self, key: str, expected_sha256: str, signature: Signature | None, *, name: str) -> bytes:
        self.trust.check(name, expected_sha256, signature)
        return self.get(key, expected_sha256)


class S3ArtifactStore(SignedArtifacts):
    """Artifacts in one S3 bucket; keys are never overwritten."""

    def __init__(self, client: Any, bucket: str, *, trust: ArtifactTrust) -> None:
        self.client = client
        self.bucket = bucket
        self.trust = trust

    def put(self, key: str, data: bytes) -> StoredArtifact:
        digest = sha256_of(data)
        try:
            # If-None-Match makes the write conditional: an existing key is never replaced.
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*", Metadata={"sha256": digest})
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise StoreError(f"artifact {key} already exists; artifacts are immutable") from exc
            raise StoreError(f"cannot write artifact s3://{self.bucket}/{key}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"cannot reach S3 to write {key}: {exc}") from exc
        return StoredArtifact(key=key, sha256=digest, size=len(data))

    def get(self, key: str, expected_sha256: str) -> bytes:
        try:
            data: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise StoreError(f"cannot read artifact s3://{self.bucket}/{key}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"cannot reach S3 to read {key}: {exc}") from exc
        return verify(key, data, expected_sha256)


class InMemoryArtifactStore(SignedArtifacts):
    """Artifact store fake for unit tests, with the same write-once, digest and signature rules."""

    def __init__(self, trust: ArtifactTrust | None = None) -> None:
        self.objects: dict[str, bytes] = {}
        self.trust = trust or ArtifactTrust()
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> StoredArtifact:
        with self._lock:
            if key in self.objects:
                raise StoreError(f"artifact {key} already exists; artifacts are immutable")
            self.objects[key] = bytes(data)
        return StoredArtifact(key=key, sha256=sha256_of(data), size=len(data))

    def get(self, key: str, expected_sha256: str) -> bytes:
        with self._lock:
            if key not in self.objects:
                raise StoreError(f"cannot read artifact {key}: NoSuchKey")
            data = self.objects[key]
        return verify(key, data, expected_sha256)


def create_bucket(client: Any, bucket: str, region: str) -> None:
    """Create the artifacts bucket as Terraform does in AWS (local stack and tests only)."""
    try:
        if region == "us-east-1":
            client.create_bucket(Bucket=bucket)
        else:
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
