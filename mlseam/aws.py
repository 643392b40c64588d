"""boto3 clients built from settings: the emulator endpoint locally, the default chain in AWS."""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

from mlseam.settings import Settings

# Standard retry mode backs off on throttling and transient network errors.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60)


def aws_client(settings: Settings, service: str) -> Any:
    """A boto3 client for ``service`` ("s3", "dynamodb", ...) configured for this environment."""
    credentials: dict[str, str] = {}
    if settings.environment == "local" and "AWS_ACCESS_KEY_ID" not in os.environ:
        # The emulator accepts any key; these only exist so boto3 can sign requests locally.
        credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=_CONFIG,
        **credentials,
    )
