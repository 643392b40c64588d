"""The approve policy in IAM: under it the retrain role records versions but cannot move the champion."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mlseam.registry import DynamoRegistry, ModelVersion, Status
from tests.infra.conftest import TERRAFORM, Instance, Plan, Unknown
from tests.infra.test_terraform import statements_of

PLATFORM_FIELDS = [
    "region",
    "account_id",
    "partition",
    "vpc_id",
    "private_subnet_ids",
    "tasks_security_group_id",
    "cluster_arn",
    "cluster_name",
    "https_listener_arn",
    "alb_arn_suffix",
    "kms_key_arn",
    "registry_table_name",
    "registry_table_arn",
    "batches_table_name",
    "batches_table_arn",
    "artifacts_bucket_name",
    "artifacts_bucket_arn",
    "batches_bucket_name",
    "batches_bucket_arn",
    "database_url",
    "database_secret_arn",
    "api_token_secret_arn",
    "alerts_topic_arn",
    "signing_key_arn",
]
WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem")
_KEYWORDS = {"ADD", "SET", "REMOVE", "AND", "OR", "NOT", "attribute_exists", "attribute_not_exists"}


def render_service(environment: str, manifest: dict[str, Any]) -> Plan:
    """modules/ml-service alone, for a service ``svc`` in ``environment``."""
    platform: dict[str, Any] = {name: Unknown(f"var.platform.{name}") for name in PLATFORM_FIELDS}
    platform.update(
        environment=environment,
        name_prefix=f"mlseam-{environment}",
        listener_rule_priorities={"svc": 10},
        batch_retention_days=7,
        log_retention_days=30,
        alert_subscriptions={},
        disposable=False,
    )
    arguments = {"name": "svc", "manifest": manifest, "image_tag": "0123abc", "platform": platform}
    plan = Plan()
    plan.add(Instance(TERRAFORM / "modules" / "ml-service", arguments))
    return plan


def registry_writes(plan: Plan, policy_address: str, attribute: str = "policy") -> list[dict[str, Any]]:
    """The statements of a policy that allow writing registry items."""
    found = statements_of(plan, "", plan[policy_address][attribute])
    return [s for s in found if any(action in WRITES for action in s["actions"])]


def allowed_attributes(statement: dict[str, Any]) -> set[str] | None:
    """The attribute names a statement's ``dynamodb:Attributes`` condition allows; None without one."""
    for condition in statement.get("condition", []):
        if condition["variable"] == "dynamodb:Attributes":
            assert condition["test"] == "ForAllValues:StringEquals"
            return set(condition["values"])
    return None


class RecordingDynamo:
    """Records the attribute names of every registry write, item by item."""

    def __init__(self) -> None:
        self.items: list[tuple[str, set[str]]] = []

    def put_item(self, TableName: str, Item: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # noqa: N803
        self.items.append((Item["sk"]["S"], set(Item) | _named(kwargs)))
        return {}

    def update_item(self, TableName: str, Key: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # noqa: N803
        self.items.append((Key["sk"]["S"], set(Key) | _named(kwargs)))
        return {"Attributes": {"last_version": {"N": "1"}}}

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        return {}

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:  # noqa: N803
        for write in TransactItems:
            self.put_item(**write["Put"])


def _named(request: dict[str, Any]) -> set[str]:
    """Attribute names an update or condition expression touches."""
    aliases = request.get("ExpressionAttributeNames", {})
    names: set[str] = set()
    for key in ("UpdateExpression", "ConditionExpression"):
        for token in re.findall(r"[#:]?[A-Za-z_]\w*", request.get(key, "")):
            if token.startswith("#"):
                names.add(aliases[token])
            elif not token.startswith(":") and token not in _KEYWORDS:
                names.add(token)
    return names


def _retrain_and_approve_writes() -> tuple[set[str], list[tuple[str, set[str]]]]:
    """(every attribute name a retrain writes when it leaves a version pending, each approval item's names)."""
    client = RecordingDynamo()
    registry = DynamoRegistry(client, "t")
    record = ModelVersion(service="svc", number=registry.allocate_version("svc"))
    registry.create_version(record)
    record.status, record.champion_revision = Status.PENDING, 0
    registry.update_version(record)
    registry.record_monitoring("svc", "v1", live={"labelled": 1}, drift={"verdict": "stable"})
    retrain = set().union(*(names for _, names in client.items))
    client.items.clear()
    approved = ModelVersion.from_json(record.to_json())
    approved.status = Status.PROMOTED
    registry.move_champion("svc", "v1", expected_revision=0, action="approve", reason="r", actor="a", settles=approved)
    return retrain, client.items


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_under_approve_the_retrain_role_writes_versions_but_not_the_champion_or_its_history(environment: str) -> None:
    # given: approve in this environment
    plan = render_service(environment, {"promotion": {environment: "approve"}})
    (statement,) = registry_writes(plan, 'aws_iam_role_policy.task["retrain"]')
    allowed = allowed_attributes(statement)
    assert allowed is not None
    # then: everything a retrain writes is allowed...
    retrain, approval = _retrain_and_approve_writes()
    assert retrain <= allowed
    # ...and the champion pointer and its history event each need a name the role lacks
    fenced = {sort_key.split("#")[0]: names - allowed for sort_key, names in approval}
    assert fenced["CHAMPION"] >= {"version", "since"} and fenced["EVENT"] >= {"action", "to_version"}


def test_under_auto_the_retrain_role_moves_the_champion_itself() -> None:
    plan = render_service("dev", {"promotion": {"prod": "approve"}})
    (statement,) = registry_writes(plan, 'aws_iam_role_policy.task["retrain"]')
    assert allowed_attributes(statement) is None
    assert "dynamodb:PutItem" in statement["actions"]


def test_the_approver_policy_moves_the_champion_of_its_service_only_and_publishes_the_move() -> None:
    # given
    plan = render_service("prod", {"promotion": {"prod": "approve"}})
    # then
    (statement,) = registry_writes(plan, "aws_iam_policy.approver")
    assert allowed_attributes(statement) is None
    (leading,) = [c for c in statement["condition"] if c["variable"] == "dynamodb:LeadingKeys"]
    assert leading["values"] == ["SERVICE#svc"]
    granted = {a for s in statements_of(plan, "", plan["aws_iam_policy.approver"]["policy"]) for a in s["actions"]}
    assert {"sns:Publish", "s3:GetObject", "dynamodb:GetItem", "dynamodb:Query"} <= granted
    assert "s3:PutObject" not in granted


def test_the_api_and_the_retrain_task_publish_to_the_services_own_topic() -> None:
    plan = render_service("prod", {})
    topic = plan["aws_sns_topic.events"]
    assert topic["name"] == "mlseam-prod-svc-events" and topic["kms_master_key_id"]
    for command in ("api", "retrain"):
        found = statements_of(plan, "", plan[f'aws_iam_role_policy.task["{command}"]']["policy"])
        (publish,) = [s for s in found if "sns:Publish" in s["actions"]]
        assert [str(r) for r in publish["resources"]] == ["${aws_sns_topic.events.arn}"]
