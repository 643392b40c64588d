"""One way to call AWS for the batch store: a failure becomes StoreError, an expected refusal None."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlseam.errors import StoreError

CONDITION_FAILED = ("ConditionalCheckFailedException",)
"""DynamoDB refused a conditional write: the thing it guards happened already."""
NO_SUCH_KEY = ("NoSuchKey", "404", "NotFound")
"""S3 has no object under that key."""


def error_code(exc: ClientError) -> str:
    """The AWS error code of ``exc`` (``""`` when it carries none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def call_aws(client: Any, operation: str, what: str, *, none_on: tuple[str, ...] = (), **kwargs: Any) -> Any:
    """``client.<operation>(**kwargs)``; None when AWS answers one of the codes in ``none_on``.

    Any other failure is StoreError naming ``what`` was attempted, so a caller tells a store
    that failed or is unreachable apart from a bug of its own.
    """
    try:
        return getattr(client, operation)(**kwargs)
    except ClientError as exc:
        code = error_code(exc)
        if code in none_on:
            return None
        raise StoreError(f"{what} failed: {code or 'error'}: {exc}") from exc
    except BotoCoreError as exc:
        raise StoreError(f"{what} failed, AWS is unreachable: {exc}") from exc
