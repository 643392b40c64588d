"""mlseam's AWS clients: botocore's own models, decoded faster and kept lean, and the same clients as boto3's."""

from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

import botocore
import botocore.session
import pytest
from botocore.loaders import JSONFileLoader, Loader

from mlseam.aws import AwsService, _Loader, _OrjsonFileLoader, _session, aws_client
from mlseam.settings import Settings

DATA = Path(botocore.__file__).parent / "data"


@pytest.mark.parametrize(
    "name",
    [
        "s3/2006-03-01/endpoint-rule-set-1",  # gzipped
        "s3/2006-03-01/service-2.sdk-extras",  # plain .json
        "sdk-default-configuration",
    ],
)
def test_orjson_loader_reads_exactly_what_botocore_reads(name: str) -> None:
    path = str(DATA / name)

    ours, theirs = _OrjsonFileLoader().load_file(path), JSONFileLoader().load_file(path)

    assert ours is not None
    assert ours == theirs
    assert list(ours) == list(theirs)  # key order too: members are serialised in model order


def _without_documentation(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_documentation(v) for k, v in value.items() if not (k == "documentation" and type(v) is str)}
    return value


@pytest.mark.parametrize(
    "name", ["dynamodb/2012-08-10/service-2", "s3/2006-03-01/service-2", "sqs/2012-11-05/service-2"]
)
def test_an_api_model_is_botocores_without_its_documentation(name: str) -> None:
    path = str(DATA / name)

    ours, theirs = _OrjsonFileLoader().load_file(path), JSONFileLoader().load_file(path)

    assert _without_documentation(ours) == _without_documentation(theirs)
    assert list(ours["shapes"]) == list(theirs["shapes"])
    assert "documentation" not in str(ours["operations"]) + str(ours["shapes"])


def test_the_endpoint_data_holds_every_partition_with_only_the_services_mlseam_calls() -> None:
    path = str(DATA / "endpoints")

    ours, theirs = _OrjsonFileLoader().load_file(path), JSONFileLoader().load_file(path)

    assert [p["partition"] for p in ours["partitions"]] == [p["partition"] for p in theirs["partitions"]]
    for lean, full in zip(ours["partitions"], theirs["partitions"], strict=True):
        assert {k: v for k, v in lean.items() if k != "services"} == {k: v for k, v in full.items() if k != "services"}
        assert lean["services"] == {
            name: data for name, data in full["services"].items() if name in get_args(AwsService)
        }


@pytest.mark.parametrize("type_name", ["service-2", "endpoint-rule-set-1", "paginators-1"])
def test_the_loader_lists_the_services_mlseam_calls_that_botocore_has_a_model_of(type_name: str) -> None:
    ours, theirs = _Loader().list_available_services(type_name), Loader().list_available_services(type_name)

    assert ours == [name for name in theirs if name in get_args(AwsService)]
    assert "s3" in ours


@pytest.mark.parametrize("service", get_args(AwsService))
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1", "ap-southeast-5"])
def test_each_client_resolves_and_signs_as_one_on_botocores_full_data(service: str, region: str) -> None:
    ours, theirs = _client(_session(), service, region), _client(botocore.session.get_session(), service, region)

    assert _resolved(ours) == _resolved(theirs)
    if service == "s3":
        urls = [
            urlsplit(c.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})) for c in (ours, theirs)
        ]
        assert urls[0][:3] == urls[1][:3]


def _client(session: botocore.session.Session, service: str, region: str) -> Any:
    keys: dict[str, Any] = {
        "aws_access_key_id": "key",
        "aws_secret_access_key": "secret",
    }  # signing needs one; nothing is sent
    return session.create_client(service, region_name=region, **keys)


def _resolved(client: Any) -> tuple[Any, ...]:
    signer = client._request_signer
    return (
        client.meta.endpoint_url,
        client.meta.region_name,
        client.meta.partition,
        signer._signing_name,
        signer._region_name,
        signer._signature_version,
    )


def test_orjson_loader_finds_nothing_where_botocore_finds_nothing(tmp_path: Path) -> None:
    assert _OrjsonFileLoader().load_file(str(tmp_path / "missing")) is None


def test_clients_are_built_from_the_settings() -> None:
    settings = Settings(environment="local", aws_endpoint_url="http://127.0.0.1:4566", aws_region="eu-west-1")

    s3, dynamodb = aws_client(settings, "s3"), aws_client(settings, "dynamodb")

    assert s3.meta.endpoint_url == "http://127.0.0.1:4566"
    assert s3.meta.region_name == "eu-west-1"
    assert dynamodb.meta.service_model.service_name == "dynamodb"
    assert callable(dynamodb.get_item) and callable(s3.get_object)
