"""A batch past its retention is gone for the API, even before DynamoDB's TTL sweep deletes it."""

from __future__ import annotations

import time

import pytest

from mlseam.batches import answers
from mlseam.batchstore import Batch
from mlseam.errors import BatchNotFoundError

BATCH_ID = "0123456789abcdef0123456789abcdef"


class OneBatch:
    def __init__(self, expires_at: float) -> None:
        self.batch = Batch(
            service="digits",
            batch_id=BATCH_ID,
            model_version="v1",
            total=1,
            chunks=1,
            chunk_items=1,
            created_at="2026-11-27T00:00:00+00:00",
            expires_at=int(expires_at),
            request_sha256="x",
        )

    def get(self, service: str, batch_id: str) -> Batch | None:
        return self.batch if (service, batch_id) == ("digits", BATCH_ID) else None


def test_a_live_batch_is_found() -> None:
    assert answers.find(OneBatch(time.time() + 60), "digits", BATCH_ID).batch_id == BATCH_ID  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expires_in", "batch_id"), [(-1, BATCH_ID), (60, "f" * 32), (60, "../etc"), (60, BATCH_ID[:-1])]
)
def test_expired_unknown_or_malformed_ids_are_not_found(expires_in: float, batch_id: str) -> None:
    with pytest.raises(BatchNotFoundError) as raised:
        answers.find(OneBatch(time.time() + expires_in), "digits", batch_id)  # type: ignore[arg-type]
    assert "never existed or has expired" in str(raised.value)
