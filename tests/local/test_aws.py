"""LocalAws serves moto on a loopback port that boto3 can use and that stop() releases."""

import socket
import time

import boto3
import pytest

from mlseam.local import LocalAws, free_port

pytestmark = pytest.mark.integration  # starts real servers


def _s3(endpoint_url: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the emulator accepts any key
        region_name="eu-west-1",
    )


def test_s3_round_trip_through_the_endpoint() -> None:
    # given
    with LocalAws(free_port()) as aws:
        s3 = _s3(aws.endpoint_url)
        s3.create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})

        # when
        s3.put_object(Bucket="artifacts", Key="models/m1.bin", Body=b"weights")
        body = s3.get_object(Bucket="artifacts", Key="models/m1.bin")["Body"].read()

    # then
    assert aws.endpoint_url.startswith("http://127.0.0.1:")
    assert body == b"weights"


def test_stop_frees_the_port() -> None:
    # given
    aws = LocalAws(free_port())
    aws.start()

    # when
    aws.stop()
    aws.stop()  # a second stop must be harmless

    # then
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", aws.port))
    with LocalAws(aws.port) as again:
        assert again.endpoint_url == aws.endpoint_url


def test_start_fails_fast_when_the_port_is_taken() -> None:
    # given
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        aws = LocalAws(squatter.getsockname()[1])
        started = time.monotonic()

        # when
        with pytest.raises(RuntimeError, match="cannot start moto"):
            aws.start()

    # then
    assert time.monotonic() - started < 1


def test_an_sqs_long_poll_does_not_stall_other_requests() -> None:
    import threading

    with LocalAws(free_port()) as aws:
        s3 = _s3(aws.endpoint_url)
        sqs = boto3.client(
            "sqs",
            endpoint_url=aws.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - the emulator accepts any key
            region_name="eu-west-1",
        )
        queue = sqs.create_queue(QueueName="idle")["QueueUrl"]
        s3.create_bucket(Bucket="batches", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        # given: a worker long-polling an empty queue
        poll = threading.Thread(target=lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=3))
        poll.start()
        time.sleep(0.3)
        # when: another client writes meanwhile
        started = time.monotonic()
        s3.put_object(Bucket="batches", Key="k", Body=b"x")
        sqs.send_message(QueueUrl=queue, MessageBody="work")
        elapsed = time.monotonic() - started
        poll.join()
    # then: it did not wait for the poll to end
    assert elapsed < 1.5
