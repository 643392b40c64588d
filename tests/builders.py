"""Builds throw-away services in a temporary services folder for tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mlseam.examples import LabelledExample
from mlseam.settings import REPO_ROOT, Settings

FIXTURES = Path(__file__).parent / "fixtures"
FEATURES = ["x1", "x2", "x3"]


def unique_name(prefix: str) -> str:
    """A DNS-safe service name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def clone_service(services_dir: Path, template: str, name: str | None = None) -> str:
    """Copy ``services/<template>`` into ``services_dir`` under a unique name; returns it."""
    name = name or unique_name(template)
    target = services_dir / name
    shutil.copytree(REPO_ROOT / "services" / template, target)
    manifest = yaml.safe_load((target / "service.yaml").read_text())
    manifest["name"] = name
    (target / "service.yaml").write_text(yaml.safe_dump(manifest))
    return name


def linear_service(services_dir: Path, model: str = "LinearModel", **fields: Any) -> str:
    """A tabular_regression service over FEATURES using a class from fixtures/linear_model.py."""
    name = unique_name("linear")
    target = services_dir / name
    target.mkdir(parents=True)
    shutil.copy(FIXTURES / "linear_model.py", target / "model.py")
    manifest = {
        "name": name,
        "task": "tabular_regression",
        "model": f"model.py:{model}",
        "inputs": {"features": FEATURES},
        "min_examples": 20,
        "holdout_fraction": 0.25,
        **fields,
    }
    (target / "service.yaml").write_text(yaml.safe_dump(manifest))
    return name


def linear_examples(count: int, *, seed: int, noise: float = 0.1, garbage: bool = False) -> list[LabelledExample]:
    """Examples of y = 3*x1 - 2*x2 + x3 (+ noise); ``garbage`` gives random targets instead."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, len(FEATURES)))
    y = (
        rng.normal(scale=50, size=count)
        if garbage
        else x @ np.array([3.0, -2.0, 1.0]) + rng.normal(scale=noise, size=count)
    )
    return [
        LabelledExample(input=dict(zip(FEATURES, map(float, row), strict=True)), label=float(target))
        for row, target in zip(x, y, strict=True)
    ]


def stack_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment a process needs to reach the test stack as ``settings`` do."""
    return {
        **os.environ,
        "MLSEAM_DATABASE_URL": settings.dsn,
        "MLSEAM_AWS_ENDPOINT_URL": settings.aws_endpoint_url or "",
        "MLSEAM_REGISTRY_TABLE": settings.registry_table,
        "MLSEAM_ARTIFACTS_BUCKET": settings.artifacts_bucket,
        "MLSEAM_SERVICES_DIR": str(settings.services_dir),
        "COLUMNS": "200",
        **overrides,
    }


def run_mlseam(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The ``mlseam`` command run as a user runs it, against the test stack."""
    return subprocess.run(
        [sys.executable, "-m", "mlseam.cli", *args],
        env=stack_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=180,
    )
