"""An AWS failure leaves the batch store as StoreError; an expected refusal as None."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from mlseam.batchstore.calls import CONDITION_FAILED, call_aws
from mlseam.errors import StoreError


class FailingClient:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        raise self.error


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}}, "PutItem")


def test_a_failed_condition_is_none_when_expected() -> None:
    client = FailingClient(_client_error("ConditionalCheckFailedException"))
    assert call_aws(client, "put_item", "recording a batch", none_on=CONDITION_FAILED) is None


def test_a_failed_condition_that_was_not_expected_is_a_store_error() -> None:
    client = FailingClient(_client_error("ConditionalCheckFailedException"))
    with pytest.raises(StoreError, match="recording a batch failed: ConditionalCheckFailedException"):
        call_aws(client, "put_item", "recording a batch")


@pytest.mark.parametrize(
    "error",
    [_client_error("ResourceNotFoundException"), EndpointConnectionError(endpoint_url="http://127.0.0.1:1")],
    ids=["refused", "unreachable"],
)
def test_a_refused_or_unreachable_store_is_a_store_error_naming_the_attempt(error: Exception) -> None:
    with pytest.raises(StoreError, match="^recording a batch failed") as raised:
        call_aws(FailingClient(error), "put_item", "recording a batch", none_on=CONDITION_FAILED)
    assert raised.value.__cause__ is error


def test_an_answer_passes_through() -> None:
    class Answering:
        def put_item(self, **kwargs: Any) -> dict[str, Any]:
            return {"sent": kwargs}

    assert call_aws(Answering(), "put_item", "recording a batch", TableName="t") == {"sent": {"TableName": "t"}}
