"""mlseam's AWS clients: botocore's own models, decoded faster, and the same clients as boto3's."""

from pathlib import Path

import botocore
import pytest
from botocore.loaders import JSONFileLoader

from mlseam.aws import _OrjsonFileLoader, aws_client
from mlseam.settings import Settings

DATA = Path(botocore.__file__).parent / "data"


@pytest.mark.parametrize(
    "name",
    [
        "endpoints",  # plain .json
        "dynamodb/2012-08-10/service-2",  # gzipped
        "s3/2006-03-01/endpoint-rule-set-1",
        "s3/2006-03-01/service-2.sdk-extras",
        "sqs/2012-11-05/service-2",
    ],
)
def test_orjson_loader_reads_exactly_what_botocore_reads(name: str) -> None:
    path = str(DATA / name)

    ours, theirs = _OrjsonFileLoader().load_file(path), JSONFileLoader().load_file(path)

    assert ours is not None
    assert ours == theirs
    assert list(ours) == list(theirs)  # key order too: members are serialised in model order


def test_orjson_loader_finds_nothing_where_botocore_finds_nothing(tmp_path: Path) -> None:
    assert _OrjsonFileLoader().load_file(str(tmp_path / "missing")) is None


def test_clients_are_built_from_the_settings() -> None:
    settings = Settings(environment="local", aws_endpoint_url="http://127.0.0.1:4566", aws_region="eu-west-1")

    s3, dynamodb = aws_client(settings, "s3"), aws_client(settings, "dynamodb")

    assert s3.meta.endpoint_url == "http://127.0.0.1:4566"
    assert s3.meta.region_name == "eu-west-1"
    assert dynamodb.meta.service_model.service_name == "dynamodb"
    assert callable(dynamodb.get_item) and callable(s3.get_object)
