"""The batch answers: a batch past its retention is gone, and any offset gives a page (maybe empty)."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from mlseam.batches import answers
from mlseam.batchstore import Batch, BatchStatus
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


class FinishedBatch:
    """Three results in chunks of two, as the worker leaves them."""

    def __init__(self) -> None:
        self.batch = Batch(
            service="digits",
            batch_id=BATCH_ID,
            model_version="v1",
            total=3,
            chunks=2,
            chunk_items=2,
            created_at="2026-11-27T00:00:00+00:00",
            expires_at=int(time.time() + 60),
            request_sha256="x",
            status=BatchStatus.SUCCEEDED,
            result_key="results.jsonl",
        )

    def chunk_outputs(self, batch: Batch, chunk: int) -> list[bytes]:
        start, end = batch.chunk_range(chunk)
        return [orjson.dumps({"index": index, "output": {"label": "1"}}) for index in range(start, end)]

    def result_url(self, result_key: str, expires_s: int) -> str:
        return f"https://example.test/{result_key}"


def _page(offset: int, limit: int) -> dict[str, Any]:
    store = FinishedBatch()
    body = answers.status_body(store, store.batch, prefix="/digits", offset=offset, limit=limit, url_ttl_s=60)  # type: ignore[arg-type]
    return orjson.loads(body)  # type: ignore[no-any-return]


def test_a_page_spans_chunks_in_input_order() -> None:
    page = _page(offset=1, limit=2)
    assert [r["index"] for r in page["outputs"]] == [1, 2]
    assert page["offset"] == 1 and page["next_offset"] is None


@pytest.mark.parametrize("offset", [3, 4, 10**30])
def test_an_offset_past_the_end_is_an_empty_last_page(offset: int) -> None:
    page = _page(offset=offset, limit=1000)
    assert page["outputs"] == [] and page["next_offset"] is None and page["offset"] == 3
