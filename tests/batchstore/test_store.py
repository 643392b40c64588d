"""The batch store on the real local stack: its layout round-trips, its writes happen once, its queue behaves."""

from __future__ import annotations

import uuid

import pytest

from mlseam.batchstore import Batch, BatchStatus, BatchStore, ChunkFailure, ChunkMessage, chunk_messages
from mlseam.errors import StoreError
from mlseam.settings import Settings
from mlseam.stores import build_batch_store, create_batch_resources

SERVICE = "storetest"


@pytest.fixture(scope="module")
def store(local_stack: object, stack_settings: Settings) -> BatchStore:
    settings = stack_settings.model_copy(update={"queue_prefix": "mlseam-storetest", "batch_max_receives": 4})
    create_batch_resources(settings, [SERVICE])
    return build_batch_store(settings)


def _batch(total: int = 5, chunk_items: int = 2) -> Batch:
    return Batch(
        service=SERVICE,
        batch_id=uuid.uuid4().hex,
        model_version="v1",
        total=total,
        chunks=-(-total // chunk_items),
        chunk_items=chunk_items,
        created_at="2026-12-03T00:00:00.000+00:00",
        expires_at=2_000_000_000,
        request_sha256="x",
    )


def test_a_batch_is_created_once_and_read_back(store: BatchStore) -> None:
    batch = _batch()
    assert store.create(batch) is True
    assert store.create(batch) is False
    assert store.get(SERVICE, batch.batch_id) == batch
    assert store.get(SERVICE, uuid.uuid4().hex) is None


def test_a_chunk_is_counted_once_and_a_batch_finalised_once(store: BatchStore) -> None:
    batch = _batch(total=3, chunk_items=2)
    store.create(batch)
    first = store.count_chunk(batch, 0, errors=1, failed=False, timings_ms={"predict": 7})
    assert first is not None and (first.done, first.errors, first.chunks_done, first.status) == (2, 1, 1, "running")
    assert store.count_chunk(batch, 0, errors=1, failed=False) is None
    last = store.count_chunk(batch, 1, errors=1, failed=True)
    assert last is not None and last.complete and (last.done, last.errors, last.failed_chunks) == (3, 2, 1)
    assert last.done_chunks == {0, 1} and last.timings_ms["predict"] == 7
    assert store.finalise(last, BatchStatus.SUCCEEDED, "key", "1 of 2 chunks failed", 5) is True
    assert store.finalise(last, BatchStatus.FAILED, "other", None, 5) is False
    final = store.get(SERVICE, batch.batch_id)
    assert final is not None and (final.status, final.result_key) == ("succeeded", "key")
    assert final.reason == "1 of 2 chunks failed"


def test_chunk_files_round_trip_and_the_result_file_keeps_input_order(store: BatchStore) -> None:
    batch = _batch(total=3, chunk_items=2)
    store.put_chunk_inputs(batch, 0, b'{"inputs":[1,2]}')
    store.put_invalid(batch, 1, [(0, "inputs[2]: not a number")])
    store.put_chunk_outputs(batch, 1, [b'{"index":2}'])
    store.put_chunk_outputs(batch, 0, [b'{"index":0}', b'{"index":1}'])
    assert store.chunk_inputs(batch, 0) == b'{"inputs":[1,2]}'
    assert store.invalid_items(batch, 1) == {0: "inputs[2]: not a number"}
    assert store.chunk_outputs(batch, 0) == [b'{"index":0}', b'{"index":1}']
    result_key = store.put_results(batch)
    assert store.s3.get_object(Bucket=store.bucket, Key=result_key)["Body"].read() == (
        b'{"index":0}\n{"index":1}\n{"index":2}\n'
    )
    assert result_key in store.result_url(result_key, 60)


def test_a_missing_chunk_file_is_a_store_error_and_a_missing_failure_is_none(store: BatchStore) -> None:
    batch = _batch()
    with pytest.raises(StoreError, match="NoSuchKey"):
        store.chunk_outputs(batch, 0)
    assert store.last_failure(batch, 0) is None
    store.put_failure(batch, 0, ChunkFailure(reason="ValueError: bad", receives=2))
    assert store.last_failure(batch, 0) == ChunkFailure(reason="ValueError: bad", receives=2)


def test_a_released_message_comes_back_counted_and_an_acknowledged_one_never(store: BatchStore) -> None:
    batch = _batch(total=1, chunk_items=1)
    store.queue.enqueue(chunk_messages(batch))
    received = store.queue.receive(SERVICE, max_messages=10, wait_s=1)
    assert [ChunkMessage.decode(m.body) for m in received] == chunk_messages(batch)
    assert received[0].receives == 1
    store.queue.release(received[0])
    again = store.queue.receive(SERVICE, max_messages=10, wait_s=1)
    assert [m.body for m in again] == [received[0].body] and again[0].receives == 2
    store.queue.acknowledge(again[0])
    assert store.queue.receive(SERVICE, max_messages=10, wait_s=1) == []


def test_the_queue_policy_is_read_from_the_queue(store: BatchStore, stack_settings: Settings) -> None:
    policy = store.queue.policy(SERVICE)
    assert policy.max_receives == 4 and policy.visibility_s == stack_settings.batch_visibility_timeout_s
    assert store.queue.receive_dead_letters(SERVICE) == []


def test_a_service_without_queues_is_a_store_error_saying_what_to_create(store: BatchStore) -> None:
    with pytest.raises(StoreError, match="SQS queue mlseam-storetest-nosuch-batches does not exist"):
        store.queue.queue_url("nosuch")
    with pytest.raises(StoreError, match="-nosuch-batches-dlq does not exist"):
        store.queue.receive_dead_letters("nosuch")
