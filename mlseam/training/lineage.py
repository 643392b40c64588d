"""What a version records about how it was made: library versions, the code version, its artifact key."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

from mlseam.settings import REPO_ROOT


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model artifact depends on."""
    versions = {"python": platform.python_version()}
    for dist in ("numpy", "scikit-learn", "mlseam"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "unknown"
    return versions


def detect_code_version(configured: str | None, repo: Path = REPO_ROOT) -> str | None:
    """The git SHA of the code being run: baked into the image, else asked of git, else None.

    From a working tree with uncommitted changes the SHA ends in ``-dirty``: that model was
    trained on code no commit holds.
    """
    if configured:
        return configured
    try:
        result = subprocess.run(
            # the full SHA even where tags exist (--exclude drops them all), -dirty when changed
            ["git", "-C", str(repo), "describe", "--always", "--abbrev=40", "--dirty", "--exclude=*"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def artifact_key(prefix: str, service: str, version: str) -> str:
    """The immutable S3 key of a version's artifact."""
    return f"{prefix}/{service}/{version}/model.pkl"
