"""Model artifacts in S3: immutable keys, sha256 recorded in the registry, signed digests, both checked on read."""

from mlseam.artifacts.signing import (
    ArtifactTrust,
    InMemorySigner,
    KmsSigner,
    Signature,
    Signer,
    build_trust,
    create_signing_key,
)
from mlseam.artifacts.store import (
    ArtifactStore,
    InMemoryArtifactStore,
    S3ArtifactStore,
    StoredArtifact,
    create_bucket,
    sha256_of,
)

__all__ = [
    "ArtifactStore",
    "ArtifactTrust",
    "InMemoryArtifactStore",
    "InMemorySigner",
    "KmsSigner",
    "S3ArtifactStore",
    "Signature",
    "Signer",
    "StoredArtifact",
    "build_trust",
    "create_bucket",
    "create_signing_key",
    "sha256_of",
]
