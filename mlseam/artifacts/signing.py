"""Signatures of artifact digests: made by a KMS key only the retrain job may sign with, checked before unpickling.

KMS signs the sha256 itself (``MessageType=DIGEST``), so an artifact never leaves S3 to be signed.
Loading verifies through ``kms:Verify`` rather than with a cached public key: a version is loaded
once per task and per champion move, so the call is rare, and the key policy then stays the one
place that decides who may trust an artifact (disabling the key stops every load at once, each
verification is in CloudTrail), with no signature code of our own to get wrong. (The emulator
ignores ``MessageType`` and signs the 32 bytes as a message: verifying in KMS agrees with it too,
where a local check of a prehashed digest against the public key would not.)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from mlseam.aws import aws_client
from mlseam.errors import ConfigError, StoreError, UntrustedArtifactError
from mlseam.settings import Settings

KEY_SPEC = "ECC_NIST_P256"
SIGNING_ALGORITHM = "ECDSA_SHA_256"

UnsignedPolicy = Literal["refuse", "allow"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Signature:
    """A signature of one artifact's sha256 (base64) and the key that made it, as the registry records them."""

    value: str
    key_id: str


class Signer(Protocol):
    """Signs artifact digests and tells whether a signature was made by its key."""

    def sign(self, sha256: str) -> Signature:
        """A signature of the hex digest ``sha256``."""
        ...

    def is_valid(self, sha256: str, signature: Signature) -> bool:
        """Whether ``signature`` was made by this signer's key over ``sha256``."""
        ...


def decode_signature(signature: Signature) -> bytes | None:
    """The signature's bytes, or None when its value is not base64 (then it is simply invalid)."""
    try:
        raw = base64.b64decode(signature.value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw or None


class KmsSigner:
    """One asymmetric KMS key (ECC_NIST_P256, ECDSA_SHA_256) signing and verifying sha256 digests."""

    def __init__(self, client: Any, key_id: str | None) -> None:
        self.client = client
        self.key_id = key_id

    def _key(self) -> str:
        if self.key_id is None:
            raise ConfigError(
                "MLSEAM_SIGNING_KEY_ID is not set: artifacts are signed and verified with a KMS key "
                "(Terraform sets it to the platform's signing key)"
            )
        return self.key_id

    def _call(self, operation: str, **kwargs: Any) -> Any:
        key = self._key()
        try:
            return getattr(self.client, operation)(
                KeyId=key, MessageType="DIGEST", SigningAlgorithm=SIGNING_ALGORITHM, **kwargs
            )
        except ClientError as exc:
            # AWS answers a signature that does not verify with this error; the emulator with False.
            if operation == "verify" and exc.response.get("Error", {}).get("Code") == "KMSInvalidSignatureException":
                return {"SignatureValid": False}
            raise StoreError(f"KMS {operation} with key {self.key_id} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"cannot reach KMS to {operation} with key {self.key_id}: {exc}") from exc

    def sign(self, sha256: str) -> Signature:
        response = self._call("sign", Message=bytes.fromhex(sha256))
        return Signature(base64.b64encode(response["Signature"]).decode("ascii"), response["KeyId"])

    def is_valid(self, sha256: str, signature: Signature) -> bool:
        raw = decode_signature(signature)
        if raw is None:
            return False
        return bool(self._call("verify", Message=bytes.fromhex(sha256), Signature=raw)["SignatureValid"])


class InMemorySigner:
    """Signer fake for unit tests: an HMAC key of this process, standing in for the KMS key."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)
        self.key_id = f"in-memory:{secrets.token_hex(4)}"

    def _mac(self, sha256: str) -> bytes:
        return hmac.new(self._secret, bytes.fromhex(sha256), hashlib.sha256).digest()

    def sign(self, sha256: str) -> Signature:
        return Signature(base64.b64encode(self._mac(sha256)).decode("ascii"), self.key_id)

    def is_valid(self, sha256: str, signature: Signature) -> bool:
        raw = decode_signature(signature)
        return raw is not None and hmac.compare_digest(raw, self._mac(sha256))


@dataclass(frozen=True)
class ArtifactTrust:
    """Who signs artifacts, and what loading does with a version nobody signed."""

    signer: Signer = field(default_factory=InMemorySigner)
    unsigned: UnsignedPolicy = "refuse"

    def check(self, name: str, sha256: str, signature: Signature | None) -> None:
        """Return if ``name`` (``<service> <version>``) may be unpickled, else UntrustedArtifactError."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise UntrustedArtifactError(f"{name}: the registry's artifact sha256 {sha256!r} is not a sha256 digest")
        if signature is None:
            self._check_unsigned(name)
        elif not self.signer.is_valid(sha256, signature):
            raise UntrustedArtifactError(
                f"{name}: its signature (by key {signature.key_id}) is not a signature of its sha256 "
                f"{sha256[:12]}... by the trusted key; refusing to unpickle it (forged, altered, or signed by "
                "another key): retrain, or promote another version"
            )

    def _check_unsigned(self, name: str) -> None:
        fix = f"sign it as the retrain job does with `mlseam sign {name}` (run as the retrain task)"
        if self.unsigned == "allow":
            log.warning("%s has no signature; loading it because MLSEAM_UNSIGNED_ARTIFACTS=allow: %s", name, fix)
            return
        raise UntrustedArtifactError(
            f"{name} has no signature (registered before artifacts were signed, or its signature was removed); "
            f"refusing to unpickle it: {fix}, or set MLSEAM_UNSIGNED_ARTIFACTS=allow while upgrading"
        )


def build_trust(settings: Settings, client: Any = None) -> ArtifactTrust:
    """The trust of ``settings``: their KMS signing key and their policy for unsigned versions."""
    signer = KmsSigner(client or aws_client(settings, "kms"), settings.signing_key_id)
    return ArtifactTrust(signer=signer, unsigned=settings.unsigned_artifacts)


def create_signing_key(client: Any, key_id: str) -> str:
    """Create the signing key behind alias ``key_id`` as Terraform does in AWS (local stack and tests only)."""
    if not key_id.startswith("alias/"):
        raise ConfigError(f"MLSEAM_SIGNING_KEY_ID={key_id}: the local stack creates its key under an alias/... name")
    try:
        return str(client.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NotFoundException":
            raise
    metadata = client.create_key(
        KeySpec=KEY_SPEC, KeyUsage="SIGN_VERIFY", Description="mlseam local: signs artifact digests"
    )["KeyMetadata"]
    client.create_alias(AliasName=key_id, TargetKeyId=metadata["KeyId"])
    return str(metadata["Arn"])
