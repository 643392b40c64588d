"""Model artifacts in S3: immutable keys, sha256 recorded in the registry and checked on read."""

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
    "InMemoryArtifactStore",
    "S3ArtifactStore",
    "StoredArtifact",
    "create_bucket",
    "sha256_of",
]
