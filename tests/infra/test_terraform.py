"""infra/terraform: every services/<name>/ folder becomes an API, a worker, a queue and a schedule in both envs."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlseam.manifest import Manifest
from mlseam.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SERVICES = sorted(path.parent.name for path in (REPO / "services").glob("*/service.yaml"))
COMMANDS = {"api": ["serve"], "worker": ["worker"], "retrain": ["retrain"]}
DATA_SERVICES = ("s3:", "dynamodb:", "sqs:")
IAM_POLICY_ATTRIBUTES = {
    "aws_iam_role": "assume_role_policy",
    "aws_iam_role_policy": "policy",
    "aws_iam_policy": "policy",
    "aws_s3_bucket_policy": "policy",
    "aws_sns_topic_policy": "policy",
    "aws_sqs_queue_policy": "policy",
    "aws_kms_key": "policy",
}
# `*` is the only resource these accept: ECR logins have no resource-level permission, and in a
# KMS key policy `*` means the key itself.
STAR_ALLOWED = {"ecr:GetAuthorizationToken"}

Plan = Mapping[str, dict[str, Any]]
Rendered = tuple[dict[str, Any], Plan]

# Each env is a thin root module around modules/environment, which calls the platform and one
# ml-service per service folder: the addresses below are those CI and operators see.
ENVIRONMENT = "module.environment."
PLATFORM = ENVIRONMENT + "module.platform."


def service_prefix(service: str) -> str:
    """Address prefix of a service's module instance."""
    return f'{ENVIRONMENT}module.service["{service}"].'


def eventbridge_cron(cron: str) -> str:
    """Reference conversion of a 5-field cron to EventBridge Scheduler's 6-field form."""
    minute, hour, day_of_month, month, day_of_week = cron.split()
    if day_of_week == "*":
        return f"cron({minute} {hour} {day_of_month} {month} ? *)"
    names = dict(zip("01234567", ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"], strict=True))
    return f"cron({minute} {hour} ? {month} {''.join(names.get(c, c) for c in day_of_week)} *)"


def ref(value: Any) -> str:
    """The reference an unknown (known-after-apply) value stands for."""
    return str(value).removeprefix("${").removesuffix("}")


def one(plan: Plan, address: str) -> dict[str, Any]:
    assert address in plan, f"{address} is not in the plan"
    return plan[address]


def container(plan: Plan, service: str, command: str) -> dict[str, Any]:
    definition = one(plan, f'{service_prefix(service)}aws_ecs_task_definition.this["{command}"]')
    (only,) = json.loads(definition["container_definitions"])
    assert isinstance(only, dict)
    return only


def statements(plan: Plan, prefix: str, document: str) -> list[dict[str, Any]]:
    """A policy document's statements, with those of its source_policy_documents."""
    rendered = one(plan, f"{prefix}data.aws_iam_policy_document.{document}")
    merged = [s for source in rendered.get("source_policy_documents", []) for s in statements_of(plan, prefix, source)]
    own: list[dict[str, Any]] = rendered.get("statement", [])
    return merged + own


def statements_of(plan: Plan, prefix: str, json_ref: Any) -> list[dict[str, Any]]:
    match = re.fullmatch(
        re.escape(prefix) + r"data\.aws_iam_policy_document\.(\w+(?:\[\"[\w-]+\"\])?)\.json", ref(json_ref)
    )
    assert match, f"{json_ref} is not a policy document of the module"
    return statements(plan, prefix, match[1])


def matches_everything(resource: str) -> bool:
    """`*`, or an ARN whose resource part is only a wildcard (every bucket, queue or table)."""
    return resource == "*" or bool(re.fullmatch(r"arn:[^:]*:(s3|sqs|dynamodb):[^:]*:[^:]*:(table/)?\*", resource))


def policy_documents(plan: Plan) -> Iterator[tuple[str, dict[str, Any]]]:
    for address in plan:
        if ".data.aws_iam_policy_document." in address:
            yield address, plan[address]


def infra_files(repo: Path) -> dict[str, bytes]:
    """infra/ as committed: no .terraform working dirs, no local backend override a test may add."""
    root = repo / "infra"
    skipped = {".terraform", "backend_override.tf"}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not skipped & set(p.parts)
    }


def assert_api(plan: Plan, service: str) -> None:
    prefix = service_prefix(service)
    rule = one(plan, prefix + "aws_lb_listener_rule.api")
    assert rule["condition"][0]["path_pattern"][0]["values"] == [f"/{service}/*"]
    assert rule["action"][0]["type"] == "forward"
    assert ref(rule["action"][0]["target_group_arn"]) == prefix + "aws_lb_target_group.api.arn"
    assert isinstance(rule["priority"], int) and 1 <= rule["priority"] <= 50000
    group = one(plan, prefix + "aws_lb_target_group.api")
    # the load balancer reads liveness (a task waiting for its first champion is healthy), clients /readyz
    assert group["health_check"][0]["path"] == f"/{service}/livez"
    assert (group["target_type"], group["port"], group["protocol"]) == ("ip", 8080, "HTTP")
    assert len(group["name"]) <= 32
    api = one(plan, prefix + "aws_ecs_service.api")
    assert api["name"] == f"{service}-api"
    assert ref(api["task_definition"]) == prefix + 'aws_ecs_task_definition.this["api"].arn'
    balancer = api["load_balancer"][0]
    assert ref(balancer["target_group_arn"]) == prefix + "aws_lb_target_group.api.arn"
    assert (balancer["container_name"], balancer["container_port"]) == ("api", 8080)
    assert_private_service(api)
    assert api["launch_type"] == "FARGATE"
    scaling = one(plan, prefix + "aws_appautoscaling_policy.api_requests")
    metric = scaling["target_tracking_scaling_policy_configuration"][0]["predefined_metric_specification"][0]
    assert metric["predefined_metric_type"] == "ALBRequestCountPerTarget"


def assert_private_service(service: dict[str, Any]) -> None:
    assert service["deployment_circuit_breaker"] == [{"enable": True, "rollback": True}]
    assert service["network_configuration"][0]["assign_public_ip"] is False


def assert_worker_and_queues(plan: Plan, env: str, service: str) -> None:
    prefix = service_prefix(service)
    worker = one(plan, prefix + "aws_ecs_service.worker")
    assert worker["name"] == f"{service}-worker"
    assert ref(worker["task_definition"]) == prefix + 'aws_ecs_task_definition.this["worker"].arn'
    assert_private_service(worker)
    defaults = Settings.model_fields
    queue, dlq = one(plan, prefix + "aws_sqs_queue.batches"), one(plan, prefix + "aws_sqs_queue.batches_dlq")
    # The app derives these names from MLSEAM_QUEUE_PREFIX and the service.
    assert (queue["name"], dlq["name"]) == (f"mlseam-{env}-{service}-batches", f"mlseam-{env}-{service}-batches-dlq")
    redrive = json.loads(queue["redrive_policy"])
    assert redrive["maxReceiveCount"] == defaults["batch_max_receives"].default
    assert ref(redrive["deadLetterTargetArn"]) == prefix + "aws_sqs_queue.batches_dlq.arn"
    assert queue["visibility_timeout_seconds"] == defaults["batch_visibility_timeout_s"].default
    assert queue["kms_master_key_id"] and dlq["kms_master_key_id"]
    assert dlq["message_retention_seconds"] == 14 * 24 * 3600
    allow = json.loads(one(plan, prefix + "aws_sqs_queue_redrive_allow_policy.batches_dlq")["redrive_allow_policy"])
    assert [ref(arn) for arn in allow["sourceQueueArns"]] == [prefix + "aws_sqs_queue.batches.arn"]
    environment = {e["name"]: e["value"] for e in container(plan, service, "worker")["environment"]}
    assert environment["MLSEAM_QUEUE_PREFIX"] == f"mlseam-{env}"
    assert environment["MLSEAM_BATCH_MAX_RECEIVES"] == str(redrive["maxReceiveCount"])
    assert environment["MLSEAM_BATCH_VISIBILITY_TIMEOUT_S"] == str(queue["visibility_timeout_seconds"])
    scale_out = one(plan, prefix + 'aws_cloudwatch_metric_alarm.worker_scaling["out"]')
    (visible,) = [
        q
        for q in scale_out["dynamic"][0]["metric_query"]["for_each"].values()
        if q["metric_name"] == "ApproximateNumberOfMessagesVisible"
    ]
    assert ref(visible["dimensions"]["QueueName"]) == prefix + "aws_sqs_queue.batches.name"


def assert_schedule(plan: Plan, service: str, cron: str) -> None:
    prefix = service_prefix(service)
    schedule = one(plan, prefix + "aws_scheduler_schedule.retrain")
    assert schedule["schedule_expression"] == eventbridge_cron(cron)
    assert schedule["schedule_expression_timezone"] == "UTC"
    target = schedule["target"][0]
    retrain = prefix + 'aws_ecs_task_definition.this["retrain"]'
    assert ref(target["ecs_parameters"][0]["task_definition_arn"]) == retrain + ".arn"
    assert ref(target["dead_letter_config"][0]["arn"]) == prefix + "aws_sqs_queue.retrain_dlq.arn"
    assert target["retry_policy"][0]["maximum_retry_attempts"] >= 1
    scheduler = {s["sid"]: s for s in statements(plan, prefix, "scheduler")}
    run_task = scheduler["RunRetrainTask"]
    assert run_task["actions"] == ["ecs:RunTask"]
    family = "${" + retrain + ".arn_without_revision}"
    assert [str(r) for r in run_task["resources"]] == [f"{family}:*"]  # every revision, and only this family
    passed = {ref(r) for r in scheduler["PassRetrainRoles"]["resources"]}
    assert passed == {prefix + 'aws_iam_role.task["retrain"].arn', prefix + "aws_iam_role.execution.arn"}
    failed = json.loads(one(plan, prefix + "aws_cloudwatch_event_rule.retrain_failed")["event_pattern"])
    assert failed["detail-type"] == ["ECS Task State Change"]
    assert failed["detail"]["lastStatus"] == ["STOPPED"]
    assert failed["detail"]["group"] == ["family:${" + retrain + ".family}"]
    assert {"containers": {"exitCode": [{"anything-but": 0}]}} in failed["detail"]["$or"]
    assert_monitor_schedule(plan, service)


def assert_monitor_schedule(plan: Plan, service: str) -> None:
    """`mlseam monitor <service>` runs on its own schedule, in the retrain task, with the log's settings."""
    prefix = service_prefix(service)
    target = one(plan, prefix + "aws_scheduler_schedule.monitor")["target"][0]
    assert (
        ref(target["ecs_parameters"][0]["task_definition_arn"])
        == prefix + 'aws_ecs_task_definition.this["retrain"].arn'
    )
    assert json.loads(target["input"]) == {"containerOverrides": [{"name": "retrain", "command": ["monitor", service]}]}
    assert ref(target["dead_letter_config"][0]["arn"]) == prefix + "aws_sqs_queue.retrain_dlq.arn"
    for command in ("api", "worker", "retrain"):
        environment = {e["name"]: e["value"] for e in container(plan, service, command)["environment"]}
        assert 0 < float(environment["MLSEAM_PREDICTION_LOG_SHARE"]) <= 1
        assert int(environment["MLSEAM_PREDICTION_LOG_RETENTION_DAYS"]) >= 1
        assert "MLSEAM_DATABASE_SECRET_ID" in environment  # every command reads or writes the log


def assert_service(plan: Plan, env: str, service: str, manifest: dict[str, Any]) -> None:
    expected = Manifest.model_validate(manifest)  # keys the manifest leaves out take mlseam's defaults
    assert_api(plan, service)
    assert_worker_and_queues(plan, env, service)
    assert_schedule(plan, service, expected.schedule)
    for command in COMMANDS:
        definition = one(plan, f'{service_prefix(service)}aws_ecs_task_definition.this["{command}"]')
        size = getattr(expected.resources, command)
        memory = size.memory
        if command == "api" and expected.may_shadow(env):  # room for the challenger's process (shadow_memory)
            memory = math.ceil((size.memory + 512) / 1024) * 1024
        assert (definition["cpu"], definition["memory"]) == (str(size.cpu), str(memory))


def test_envs_discover_services_from_their_folders(
    env_blocks: dict[str, list[Any]], module_blocks: Callable[[str], dict[str, list[Any]]], rendered: Rendered
) -> None:
    # given the env's root module and the module it calls
    calls = {name.strip('"'): body for block in env_blocks["module"] for name, body in block.items()}
    environment = module_blocks("modules/environment")
    discovery = {k: v for block in environment["locals"] for k, v in block.items()}["services"]
    modules = {name.strip('"'): body for block in environment["module"] for name, body in block.items()}
    # then services are every */service.yaml under the repo's services/, decoded...
    assert calls["environment"]["services_dir"] == '"${path.module}/../../../../services"'
    assert 'fileset(var.services_dir, "*/service.yaml")' in discovery
    assert 'yamldecode(file("${var.services_dir}/${f}"))' in discovery
    services, _ = rendered
    manifests = {name: yaml.safe_load((REPO / "services" / name / "service.yaml").read_text()) for name in SERVICES}
    assert services == manifests
    # ...and one ml-service instance is made of each (the CI targets module.environment.module.service["<name>"])
    service = modules["service"]
    assert service["for_each"] == "${local.services}"
    assert service["source"] == '"../ml-service"'
    assert (service["name"], service["manifest"]) == ("${each.key}", "${each.value}")
    assert modules["platform"]["service_names"] == "${keys(local.services)}"


def test_envs_are_thin_and_differ_only_in_name_and_sizes(module_blocks: Callable[[str], dict[str, list[Any]]]) -> None:
    # given both envs' root modules
    blocks = {env: module_blocks(f"envs/{env}") for env in ("dev", "prod")}
    calls: dict[str, dict[str, Any]] = {}
    for env, env_blocks in blocks.items():
        # then each holds settings, provider, inputs, one module call and outputs forwarding it; no logic
        assert set(env_blocks) <= {"terraform", "provider", "variable", "module", "output"}, env
        module_calls = {name.strip('"'): body for block in env_blocks["module"] for name, body in block.items()}
        assert list(module_calls) == ["environment"], env
        call = module_calls["environment"]
        assert call["source"] == '"../../modules/environment"' and call["name"] == f'"{env}"'
        calls[env] = call
        for block in env_blocks["output"]:
            for name, body in block.items():
                assert body["value"].startswith("${module.environment"), f"{env}: output {name} is not a forward"
    # and what differs between them is the name, the sizes and how disposable and cheap each is, nothing else
    protected = {"nat_gateway_per_az", "db_multi_az", "deletion_protection"}
    cheap = {"disposable", "use_spot"}
    differing = {
        key for key in calls["dev"].keys() | calls["prod"].keys() if calls["dev"].get(key) != calls["prod"].get(key)
    }
    assert differing == {"name", "tasks", "database"} | protected | cheap
    assert all(calls["prod"][flag] is True and calls["dev"][flag] is False for flag in protected)
    assert all(calls["dev"][flag] is True and calls["prod"][flag] is False for flag in cheap)


def test_envs_pin_terraform_state_and_inputs(env_blocks: dict[str, list[Any]], rendered: Rendered, tf_env: str) -> None:
    (settings,) = env_blocks["terraform"]
    assert settings["required_version"] == '">= 1.10"'
    (providers,) = settings["required_providers"]
    assert providers["aws"] == {"source": '"hashicorp/aws"', "version": '">= 5.100, < 7.0"'}
    (backend,) = settings["backend"]
    s3 = backend['"s3"']
    assert s3["key"] == f'"mlseam/{tf_env}/terraform.tfstate"'
    assert (s3["use_lockfile"], s3["encrypt"]) == (True, True)
    assert "bucket" not in s3 and "region" not in s3  # given by -backend-config at init
    (provider,) = [block['"aws"'] for block in env_blocks["provider"]]
    assert provider["region"] == "${var.region}" and provider["default_tags"]
    variables = {name.strip('"'): body for block in env_blocks["variable"] for name, body in block.items()}
    for name in ("region", "image_tag", "certificate_arn"):
        assert "default" not in variables[name], f"{name} must have no default"
    # CI reads `terraform output -json migrate_task`; operators the rest (infra/README.md)
    _, plan = rendered
    assert {"output.migrate_task", "output.ecr_repository_urls", "output.environment"} <= set(plan)
    wanted = {"cluster_name", "private_subnet_ids", "tasks_security_group_id", "alb_dns_name", "services"}
    assert set(plan["output.environment"]["value"]) >= wanted | {"ecr_repository_urls", "migrate_task"}


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_gets_api_worker_queues_and_schedule(rendered: Rendered, tf_env: str, service: str) -> None:
    services, plan = rendered
    assert_service(plan, tf_env, service, services[service])


def test_listener_rule_priorities_are_distinct(rendered: Rendered) -> None:
    services, plan = rendered
    priorities = [one(plan, f"{service_prefix(s)}aws_lb_listener_rule.api")["priority"] for s in services]
    assert len(set(priorities)) == len(priorities)


def test_platform_keeps_the_data_contract_and_the_edge_locked_down(rendered: Rendered, tf_env: str) -> None:
    _, plan = rendered
    prod = tf_env == "prod"
    platform = PLATFORM
    for table in ("registry", "batches"):
        rendered_table = one(plan, f'{platform}aws_dynamodb_table.this["{table}"]')
        assert (rendered_table["hash_key"], rendered_table["range_key"]) == ("pk", "sk")
        assert rendered_table["billing_mode"] == "PAY_PER_REQUEST"
        assert rendered_table["ttl"] == [{"attribute_name": "expires_at", "enabled": True}]
        assert rendered_table["point_in_time_recovery"] == [{"enabled": True}]
        assert rendered_table["server_side_encryption"][0]["enabled"] is True
    # batches/ objects outlive their DynamoDB item (MLSEAM_BATCH_RETENTION_DAYS), never the reverse
    rules = {r["id"]: r for r in one(plan, platform + "aws_s3_bucket_lifecycle_configuration.artifacts")["rule"]}
    assert rules["expire-batches"]["filter"] == [{"prefix": "batches/"}]
    environment = {e["name"]: e["value"] for e in container(plan, SERVICES[0], "api")["environment"]}
    assert rules["expire-batches"]["expiration"][0]["days"] >= float(environment["MLSEAM_BATCH_RETENTION_DAYS"])
    https = one(plan, platform + "aws_lb_listener.https")
    assert (https["port"], https["protocol"]) == (443, "HTTPS")
    assert https["ssl_policy"].startswith("ELBSecurityPolicy-TLS13")
    assert https["default_action"][0]["fixed_response"][0]["status_code"] == "404"
    http = one(plan, platform + "aws_lb_listener.http")
    assert http["default_action"][0]["redirect"][0]["protocol"] == "HTTPS"
    assert one(plan, platform + "aws_lb.this")["drop_invalid_header_fields"] is True
    database = one(plan, platform + "aws_db_instance.this")
    assert database["manage_master_user_password"] is True and database["storage_encrypted"] is True
    assert database["publicly_accessible"] is False
    assert (database["multi_az"], database["deletion_protection"]) == (prod, prod)
    assert database["backup_retention_period"] >= 1
    # internet -> ALB -> tasks:8080 -> database:5432, nothing else in
    ingress = {a.rsplit(".", 1)[1]: plan[a] for a in plan if ".aws_vpc_security_group_ingress_rule." in a}
    sources = {
        name: rule.get("cidr_ipv4") or ref(rule["referenced_security_group_id"]) for name, rule in ingress.items()
    }
    assert sources == {
        "alb_https": "0.0.0.0/0",
        "alb_http": "0.0.0.0/0",  # redirected to HTTPS
        "tasks_from_alb": platform + "aws_security_group.alb.id",
        "db_from_tasks": platform + "aws_security_group.tasks.id",
    }
    assert (ingress["tasks_from_alb"]["from_port"], ingress["db_from_tasks"]["from_port"]) == (8080, 5432)
    nat_gateways = [a for a in plan if a.startswith(platform + "aws_nat_gateway.this[")]
    assert len(nat_gateways) == (2 if prod else 1)


def test_migrate_task_runs_in_the_first_services_retrain_container(rendered: Rendered) -> None:
    services, plan = rendered
    migrate = plan["output.migrate_task"]["value"]
    first = sorted(services)[0]
    assert migrate["container"] == "retrain"
    assert ref(migrate["task_definition"]) == f'{service_prefix(first)}aws_ecs_task_definition.this["retrain"].arn'
    assert set(migrate) == {"cluster", "task_definition", "container", "subnets", "security_groups"}
    urls = plan["output.ecr_repository_urls"]["value"]
    assert {name: ref(url) for name, url in urls.items()} == {
        name: f"{service_prefix(name)}aws_ecr_repository.this.repository_url" for name in services
    }


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 3 * * *", "cron(0 3 * * ? *)"),
        ("30 2 * * 1-5", "cron(30 2 ? * MON-FRI *)"),
        ("0 0 1 * *", "cron(0 0 1 * ? *)"),
        ("15 4 * * 0", "cron(15 4 ? * SUN *)"),
        ("0 6 * * 1,3,7", "cron(0 6 ? * MON,WED,SUN *)"),
    ],
)
def test_cron_becomes_an_eventbridge_schedule(schedule_for: Callable[[str], str], cron: str, expected: str) -> None:
    assert schedule_for(cron) == expected
    assert eventbridge_cron(cron) == expected


def test_no_policy_grants_data_actions_on_every_resource(rendered: Rendered) -> None:
    _, plan = rendered
    documents = dict(policy_documents(plan))
    assert len(documents) > 10
    for address, document in documents.items():
        key_policy = address.endswith(("data.aws_iam_policy_document.kms", "data.aws_iam_policy_document.signing_key"))
        for statement in document.get("statement", []):
            if statement.get("effect", "Allow") != "Allow":
                continue
            resources = [str(r) for r in statement.get("resources", [])]
            assert "not_resources" not in statement, address
            wildcard = [r for r in resources if matches_everything(r)]
            data_actions = [a for a in statement["actions"] if a.startswith(DATA_SERVICES)]
            assert not (wildcard and data_actions), f"{address}: {data_actions} on {wildcard}"
            assert not wildcard or key_policy or set(statement["actions"]) <= STAR_ALLOWED, address
    # every IAM policy the modules attach is one of those documents (no inline JSON escapes the check)
    for address in plan:
        resource_type = re.search(r"\.(\w+)\.\w+(\[[^]]*\])?$", address)
        attribute = IAM_POLICY_ATTRIBUTES.get(resource_type[1] if resource_type else "")
        if attribute:
            source = ref(plan[address][attribute])
            assert re.fullmatch(r"(module\.[^.]+\.)+data\.aws_iam_policy_document\.\w+(\[[^]]+\])?\.json", source), (
                address
            )


@pytest.mark.parametrize("service", SERVICES)
def test_task_roles_reach_only_their_own_service(rendered: Rendered, service: str) -> None:
    _, plan = rendered
    prefix = service_prefix(service)
    granted: dict[str, set[str]] = {}
    secrets: dict[str, set[str]] = {}
    for command in COMMANDS:
        policy = one(plan, f'{prefix}aws_iam_role_policy.task["{command}"]')["policy"]
        for statement in statements_of(plan, prefix, policy):
            granted.setdefault(command, set()).update(statement["actions"])
            if "secretsmanager:GetSecretValue" in statement["actions"]:
                secrets.setdefault(command, set()).update(map(ref, statement["resources"]))
            for resource in map(str, statement["resources"]):
                if any(a.startswith("s3:") for a in statement["actions"]):
                    assert resource.endswith((f"/artifacts/{service}/*", f"/batches/{service}/*")), resource
            if any(a.startswith("dynamodb:") for a in statement["actions"]):
                (condition,) = statement["condition"]
                assert condition["variable"] == "dynamodb:LeadingKeys"
                assert condition["test"].startswith("ForAllValues:")
                assert set(condition["values"]) <= {f"SERVICE#{service}", f"batch#{service}#*"}
    # The worker logs batch predictions: the database password, never the API token.
    assert secrets["worker"] == {PLATFORM + "aws_db_instance.this.master_user_secret[0].secret_arn"}
    assert {"s3:PutObject", "dynamodb:PutItem", "secretsmanager:GetSecretValue"} <= granted["retrain"]
    assert {"sqs:SendMessage", "secretsmanager:GetSecretValue"} <= granted["api"]
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage"} <= granted["worker"]


@pytest.mark.parametrize("service", SERVICES)
def test_containers_run_read_only_as_non_root_without_plain_secrets(rendered: Rendered, service: str) -> None:
    _, plan = rendered
    for command, argv in COMMANDS.items():
        spec = container(plan, service, command)
        assert (spec["name"], spec["command"]) == (command, argv)
        assert spec["user"] not in ("0", "root") and not spec["user"].startswith("0:")
        assert spec["readonlyRootFilesystem"] is True
        scratch = {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}  # noqa: S108 - a mount point
        assert scratch in spec["mountPoints"]
        assert spec["logConfiguration"]["logDriver"] == "awslogs"
        environment = {e["name"]: e["value"] for e in spec["environment"]}
        for name, value in environment.items():
            if re.search("PASSWORD|TOKEN|SECRET", name):
                assert name.endswith("_SECRET_ID") and value.startswith("${"), f"{name} looks like a secret"
        assert re.fullmatch(r"postgresql://[^:@/]+@[^@]+\?sslmode=require", environment["MLSEAM_DATABASE_URL"])
        assert (environment["MLSEAM_SERVICE"], environment["MLSEAM_CODE_VERSION"]) == (service, "0123abc")
    api = container(plan, service, "api")
    assert f"http://127.0.0.1:8080/{service}/healthz" in " ".join(api["healthCheck"]["command"])
    assert api["portMappings"] == [{"containerPort": 8080, "protocol": "tcp"}]


def test_adding_a_service_folder_is_the_whole_change(
    extended_repo: Path,
    rendered: Rendered,
    rendered_extended: Rendered,
    tf_env: str,
    added_services: dict[str, str | None],
) -> None:
    # given a copy of the repo where only folders under services/ were added
    assert infra_files(extended_repo) == infra_files(REPO)
    # then each new service has everything an existing one has, on its own cron (or mlseam's default)
    services, plan = rendered_extended
    assert sorted(services) == sorted([*SERVICES, *added_services])
    for service, cron in added_services.items():
        assert services[service].get("schedule") == cron
        assert_service(plan, tf_env, service, services[service])
    # and the existing services keep their listener rule priorities (no renumbering on apply)
    _, before = rendered
    for service in SERVICES:
        address = f"{service_prefix(service)}aws_lb_listener_rule.api"
        assert plan[address]["priority"] == before[address]["priority"]


@pytest.mark.terraform
def test_terraform_itself_discovers_and_schedules_added_services(
    terraform_console: Callable[[str, str], Any], rendered_extended: Rendered, tf_env: str
) -> None:
    # when the real terraform evaluates the env of the repo copy with added service folders
    found = terraform_console(
        tf_env,
        "{ names = keys(module.environment.services),"
        " schedules = { for name, service in module.environment.services : name => service.schedule_expression },"
        " priorities = { for name, service in module.environment.services : name => service.listener_rule_priority } }",
    )
    # then it sees every folder, converts every cron, and agrees with the emulation the other tests use
    services, plan = rendered_extended
    assert found["names"] == sorted(services)
    for name, manifest in services.items():
        prefix = service_prefix(name)
        assert found["schedules"][name] == eventbridge_cron(Manifest.model_validate(manifest).schedule)
        assert found["schedules"][name] == plan[prefix + "aws_scheduler_schedule.retrain"]["schedule_expression"]
        assert found["priorities"][name] == plan[prefix + "aws_lb_listener_rule.api"]["priority"]
