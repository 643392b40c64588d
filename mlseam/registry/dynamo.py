"""The model registry on one DynamoDB table: versions, champion pointer, promotion history.

Items share the partition ``SERVICE#<name>``; the sort key says what an item is:
``COUNTER`` (last version number), ``VERSION#<0000000007>``, ``CHAMPION`` and
``EVENT#<revision>`` (one per champion move, never rewritten).

Attribute names say who may write an item, which is what IAM scopes (``dynamodb:Attributes``,
infra/terraform/modules/ml-service/iam.tf): counter and version items hold only ``pk``, ``sk``,
``last_version``, ``status``, ``record``, ``live`` and ``drift``; only the champion pointer has
``version`` and ``since``, and only history events have ``action`` and ``to_version``. A role
denied those names can record versions, pending ones included, but never move the champion.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlseam.errors import PromotionConflictError, StoreError, VersionNotFoundError
from mlseam.registry.items import summary_of, version_of
from mlseam.registry.records import (
    Champion,
    ChampionEvent,
    ModelVersion,
    Status,
    VersionSummary,
    now_iso,
    version_number,
)


def _pk(service: str) -> str:
    return f"SERVICE#{service}"


def _version_sk(number: int) -> str:
    return f"VERSION#{number:010d}"


_STILL_PENDING = {
    "ConditionExpression": "#s = :pending",
    "ExpressionAttributeNames": {"#s": "status"},
    "ExpressionAttributeValues": {":pending": {"S": Status.PENDING.value}},
}


class DynamoRegistry:
    """The registry on DynamoDB; conditional writes keep the champion pointer single-valued."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, operation)(TableName=self.table, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise StoreError(
                    f"registry table {self.table!r} does not exist; create it (locally: make run)"
                ) from exc
            raise
        except BotoCoreError as exc:
            raise StoreError(f"cannot reach the registry (DynamoDB): {exc}") from exc

    def allocate_version(self, service: str) -> int:
        result = self._call(
            "update_item",
            Key={"pk": {"S": _pk(service)}, "sk": {"S": "COUNTER"}},
            UpdateExpression="ADD last_version :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(result["Attributes"]["last_version"]["N"])

    def _version_item(self, record: ModelVersion) -> dict[str, Any]:
        return {
            "pk": {"S": _pk(record.service)},
            "sk": {"S": _version_sk(record.number)},
            "status": {"S": record.status.value},
            "record": {"S": record.to_json()},
        }

    def create_version(self, record: ModelVersion) -> None:
        self._conditional_put(self._version_item(record), "attribute_not_exists(pk)", record, "already exists")

    def update_version(self, record: ModelVersion, *, expected: Status = Status.RUNNING) -> None:
        self._conditional_put(
            self._version_item(record),
            "#s = :expected",
            record,
            f"is no longer {expected.value}",
            names={"#s": "status"},
            values={":expected": {"S": expected.value}},
        )

    def _conditional_put(
        self,
        item: dict[str, Any],
        condition: str,
        record: ModelVersion,
        problem: str,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> None:
        extra: dict[str, Any] = {}
        if names:
            extra["ExpressionAttributeNames"] = names
        if values:
            extra["ExpressionAttributeValues"] = values
        try:
            self._call("put_item", Item=item, ConditionExpression=condition, **extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise StoreError(f"{record.service} {record.version} {problem}; registry left as it was") from exc
            raise StoreError(f"registry write failed: {exc}") from exc

    def get_version(self, service: str, version: str) -> ModelVersion:
        number = version_number(version)
        if number is None:
            raise VersionNotFoundError(f"{version!r} is not a version name; versions look like v7")
        result = self._call(
            "get_item", Key={"pk": {"S": _pk(service)}, "sk": {"S": _version_sk(number)}}, ConsistentRead=True
        )
        if "Item" not in result:
            raise VersionNotFoundError(f"{service} has no version {version}; see `mlseam status {service}`")
        return version_of(result["Item"])

    def record_monitoring(
        self, service: str, version: str, *, live: dict[str, Any] | None = None, drift: dict[str, Any] | None = None
    ) -> None:
        number = version_number(version)
        if number is None:
            raise VersionNotFoundError(f"{version!r} is not a version name; versions look like v7")
        # Beside the record, not in it: the retrain job owns the record; the monitor owns these two.
        measured = {name: value for name, value in (("live", live), ("drift", drift)) if value is not None}
        if not measured:
            return
        sets = ", ".join(f"#{name} = :{name}" for name in measured)
        try:
            self._call(
                "update_item",
                Key={"pk": {"S": _pk(service)}, "sk": {"S": _version_sk(number)}},
                UpdateExpression=f"SET {sets}",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={f"#{name}": name for name in measured},
                ExpressionAttributeValues={
                    f":{name}": {"S": json.dumps(value, allow_nan=False, sort_keys=True)}
                    for name, value in measured.items()
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise VersionNotFoundError(
                    f"{service} has no version {version}; see `mlseam status {service}`"
                ) from exc
            raise StoreError(f"registry write failed: {exc}") from exc

    def record_signature(self, service: str, version: str, *, sha256: str, signature: str, key_id: str) -> None:
        number = self.get_version(service, version).number
        key = {"pk": {"S": _pk(service)}, "sk": {"S": _version_sk(number)}}
        # The record as stored: what the monitor keeps beside it stays out of it.
        before = self._call("get_item", Key=key, ConsistentRead=True)["Item"]["record"]["S"]
        record = ModelVersion.from_json(before)
        if record.artifact_sha256 != sha256:
            raise StoreError(f"{service} {version}: its artifact is no longer {sha256[:12]}...; nothing signed")
        record.artifact_signature, record.artifact_signing_key = signature, key_id
        try:
            # Only the record changes, and only if nobody rewrote it since it was read.
            self._call(
                "update_item",
                Key=key,
                UpdateExpression="SET #r = :signed",
                ConditionExpression="#r = :before",
                ExpressionAttributeNames={"#r": "record"},
                ExpressionAttributeValues={":signed": {"S": record.to_json()}, ":before": {"S": before}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise StoreError(f"{service} {version} changed while it was being signed; run again") from exc
            raise StoreError(f"registry write failed: {exc}") from exc

    def _query(self, service: str, prefix: str, *, newest_first: bool) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": _pk(service)}, ":prefix": {"S": prefix}},
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        while True:
            page = self._call("query", **kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def list_versions(self, service: str) -> list[ModelVersion]:
        return [version_of(item) for item in self._query(service, "VERSION#", newest_first=True)]

    def list_version_summaries(self, service: str) -> list[VersionSummary]:
        return [summary_of(item) for item in self._query(service, "VERSION#", newest_first=True)]

    def get_champion(self, service: str) -> Champion | None:
        result = self._call("get_item", Key={"pk": {"S": _pk(service)}, "sk": {"S": "CHAMPION"}}, ConsistentRead=True)
        item = result.get("Item")
        if item is None:
            return None
        return Champion(
            service=service,
            version=item["version"]["S"],
            revision=int(item["revision"]["N"]),
            since=item["since"]["S"],
            reason=item["reason"]["S"],
        )

    def move_champion(
        self,
        service: str,
        version: str,
        *,
        expected_revision: int,
        action: str,
        reason: str,
        actor: str = "",
        settles: ModelVersion | None = None,
    ) -> Champion:
        current = self.get_champion(service)
        at = now_iso()
        revision = expected_revision + 1
        if expected_revision == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "revision = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected_revision)}},
            }
        pointer = {
            "pk": {"S": _pk(service)},
            "sk": {"S": "CHAMPION"},
            "version": {"S": version},
            "revision": {"N": str(revision)},
            "since": {"S": at},
            "reason": {"S": reason},
        }
        event = {
            "pk": {"S": _pk(service)},
            "sk": {"S": f"EVENT#{revision:010d}"},
            "action": {"S": action},
            "to_version": {"S": version},
            "at": {"S": at},
            "reason": {"S": reason},
            "revision": {"N": str(revision)},
        }
        if current is not None:
            event["from_version"] = {"S": current.version}
        if actor:
            event["actor"] = {"S": actor}
        writes: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table, "Item": pointer, **condition}},
            {"Put": {"TableName": self.table, "Item": event, "ConditionExpression": "attribute_not_exists(pk)"}},
        ]
        if settles is not None:
            writes.append({"Put": {"TableName": self.table, "Item": self._version_item(settles), **_STILL_PENDING}})
        try:
            self.client.transact_write_items(TransactItems=writes)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise PromotionConflictError(
                    f"{service}: the champion changed, or {version} was settled by someone else, while "
                    f"{version} was being promoted; see `mlseam status {service}`, then retry"
                ) from exc
            raise StoreError(f"registry write failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"cannot reach the registry (DynamoDB): {exc}") from exc
        return Champion(service=service, version=version, revision=revision, since=at, reason=reason)

    def history(self, service: str) -> list[ChampionEvent]:
        return [
            ChampionEvent(
                service=service,
                revision=int(i["revision"]["N"]),
                action=i["action"]["S"],
                from_version=i["from_version"]["S"] if "from_version" in i else None,
                to_version=i["to_version"]["S"],
                at=i["at"]["S"],
                reason=i["reason"]["S"],
                actor=i["actor"]["S"] if "actor" in i else "",
            )
            for i in self._query(service, "EVENT#", newest_first=False)
        ]
