"""AWS clients built from settings: the emulator endpoint locally, the default chain in AWS."""

from __future__ import annotations

import gzip
import os
from functools import cache
from typing import Any, Literal, get_args

import botocore.session
import orjson
from botocore.config import Config
from botocore.loaders import JSONFileLoader, Loader, instance_cache

from mlseam.settings import Settings

AwsService = Literal["dynamodb", "kms", "s3", "secretsmanager", "sns", "sqs"]
"""Every AWS service mlseam calls."""

# Standard retry mode backs off on throttling and transient network errors.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60)


class _OrjsonFileLoader(JSONFileLoader):
    """botocore's loader of its API models and endpoint rules, decoding with orjson, kept lean.

    Building a client is mostly decoding those files: this halves the time an API or job spends
    on its clients at start-up. Same files, same search order, plain dicts (ordered, as Python's are),
    without what no client of mlseam reads and every process would keep for its lifetime: the
    endpoints of the 300-odd services mlseam never calls (4 MiB) and the API models' documentation.
    """

    def load_file(self, file_path: str) -> Any:
        for extension, opener in ((".json", open), (".json.gz", gzip.open)):
            path = file_path + extension
            if os.path.isfile(path):
                with opener(path, "rb") as file:
                    data = orjson.loads(file.read())
                name = os.path.basename(file_path)
                if name == "endpoints":
                    return _only_our_endpoints(data)
                return _undocumented(data) if name == "service-2" else data
        return None


def _only_our_endpoints(endpoints: dict[str, Any]) -> dict[str, Any]:
    """The endpoint data with every partition whole but its services limited to ``AwsService``."""
    ours = get_args(AwsService)
    for partition in endpoints.get("partitions", []):
        services = partition.get("services", {})
        partition["services"] = {name: service for name, service in services.items() if name in ours}
    return endpoints


def _undocumented(model: dict[str, Any]) -> dict[str, Any]:
    """An API model without its documentation strings (half of its memory: only docstrings read them)."""
    model.pop("documentation", None)
    for operation in model.get("operations", {}).values():
        operation.pop("documentation", None)
    for shape in model.get("shapes", {}).values():
        shape.pop("documentation", None)
        for member in shape.get("members", {}).values():
            member.pop("documentation", None)
    return model


class _Loader(Loader):
    """botocore's loader, knowing only the services mlseam calls.

    Before it loads a model, botocore lists the services that have one, with a directory listing
    per service it ships (over 400, twice per process): tens of milliseconds of every start-up.
    """

    @instance_cache
    def list_available_services(self, type_name: str) -> list[str]:
        found = set()
        for location in self.search_paths:
            for name in get_args(AwsService):
                directory = os.path.join(location, name)
                if os.path.isdir(directory) and any(
                    self.file_loader.exists(os.path.join(directory, version, type_name))
                    for version in os.listdir(directory)
                ):
                    found.add(name)
        return sorted(found)


@cache
def _session() -> botocore.session.Session:
    """One botocore session per process: it reads the credential chain and caches the models once."""
    session = botocore.session.get_session()
    session.register_component("data_loader", _Loader(file_loader=_OrjsonFileLoader()))
    return session


def aws_client(settings: Settings, service: AwsService) -> Any:
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
