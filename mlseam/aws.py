"""AWS clients built from settings: the emulator endpoint locally, the default chain in AWS."""

from __future__ import annotations

import gzip
import os
from functools import cache
from typing import Any

import botocore.session
import orjson
from botocore.config import Config
from botocore.loaders import JSONFileLoader, Loader

from mlseam.settings import Settings

# Standard retry mode backs off on throttling and transient network errors.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60)


class _OrjsonFileLoader(JSONFileLoader):
    """botocore's loader of its API models and endpoint rules, decoding with orjson.

    Building a client is mostly decoding those files: this halves the time an API or job spends
    on its clients at start-up. Same files, same search order, plain dicts (ordered, as Python's are).
    """

    def load_file(self, file_path: str) -> Any:
        for extension, opener in ((".json", open), (".json.gz", gzip.open)):
            path = file_path + extension
            if os.path.isfile(path):
                with opener(path, "rb") as file:
                    return orjson.loads(file.read())
        return None


@cache
def _session() -> botocore.session.Session:
    """One botocore session per process: it reads the credential chain and caches the models once."""
    session = botocore.session.get_session()
    session.register_component("data_loader", Loader(file_loader=_OrjsonFileLoader()))
    return session


def aws_client(settings: Settings, service: str) -> Any:
    """A client for ``service`` ("s3", "dynamodb", ...) configured for this environment."""
    key: str | None = None
    if settings.environment == "local" and "AWS_ACCESS_KEY_ID" not in os.environ:
        key = "testing"  # the emulator accepts any key; one only exists so requests can be signed locally
    return _session().create_client(
        service,
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=_CONFIG,
        aws_access_key_id=key,
        aws_secret_access_key=key,
    )
