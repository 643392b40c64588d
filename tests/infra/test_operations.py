"""infra/terraform in operation: dev tears down and comes back, prod is protected, alarms reach people,
workers and APIs scale on what they do, Spot where the env says so, the API's figures reach CloudWatch."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from mlseam.serving.access_log import AccessLog
from tests.infra.conftest import ROOT_VARIABLES, TERRAFORM, Instance, Plan, load_module

Rendered = tuple[dict[str, Any], Mapping[str, dict[str, Any]]]
ENVIRONMENT = "module.environment."
PLATFORM = ENVIRONMENT + "module.platform."
ALERTS = PLATFORM + "aws_sns_topic.alerts[0].arn"


def ref(value: Any) -> str:
    return str(value).removeprefix("${").removesuffix("}")


def service_prefix(service: str) -> str:
    return f'{ENVIRONMENT}module.service["{service}"].'


def one(plan: Mapping[str, dict[str, Any]], address: str) -> dict[str, Any]:
    assert address in plan, f"{address} is not in the plan"
    return plan[address]


def render_with(env: str, **variables: Any) -> Plan:
    """The env's plan with root variables besides the required ones (e.g. alert_subscribers)."""
    root = load_module(TERRAFORM / "envs" / env, {**ROOT_VARIABLES, **variables})
    plan = Plan()
    todo: list[Instance] = [root]
    while todo:
        instance = todo.pop()
        plan.add(instance)
        todo.extend(child.instance for child in instance.children)
    return plan


def test_dev_is_disposable_and_prod_keeps_its_data(rendered: Rendered, tf_env: str) -> None:
    services, plan = rendered
    dev = tf_env == "dev"
    # buckets go with their (versioned) objects, repositories with their images, only in dev
    for bucket in ("artifacts", "logs"):
        assert one(plan, f"{PLATFORM}aws_s3_bucket.{bucket}")["force_destroy"] is dev
    for service in services:
        assert one(plan, service_prefix(service) + "aws_ecr_repository.this")["force_delete"] is dev
    assert one(plan, "module.environment.module.dashboard.aws_ecr_repository.this")["force_delete"] is dev
    # re-creating dev at once finds the API-token secret's name free; prod keeps a recovery window
    assert one(plan, PLATFORM + "aws_secretsmanager_secret.api_token")["recovery_window_in_days"] == (0 if dev else 7)
    database = one(plan, PLATFORM + "aws_db_instance.this")
    assert database["deletion_protection"] is not dev and database["skip_final_snapshot"] is dev
    # each database's final snapshot is named by its own generation, so a second cycle never collides
    generation = PLATFORM + "terraform_data.database_generation.id"
    assert str(database["final_snapshot_identifier"]) == "mlseam-" + tf_env + "-final-${" + generation + "}"
    assert PLATFORM + "terraform_data.database_generation" in plan


def test_each_env_sizes_its_database(rendered: Rendered, tf_env: str) -> None:
    _, plan = rendered
    database = one(plan, PLATFORM + "aws_db_instance.this")
    expected = {"dev": ("db.t4g.micro", 20, 50), "prod": ("db.t4g.medium", 50, 500)}[tf_env]
    assert (database["instance_class"], database["allocated_storage"], database["max_allocated_storage"]) == expected


def alarm_targets(alarm: dict[str, Any]) -> set[str]:
    return {ref(arn) for arn in alarm["alarm_actions"]}


def test_every_service_alarms_on_its_api_tasks_and_queue_to_the_alerts_topic(rendered: Rendered) -> None:
    services, plan = rendered
    for service in services:
        prefix = service_prefix(service)
        target_group = {
            "LoadBalancer": PLATFORM + "aws_lb.this.arn_suffix",
            "TargetGroup": prefix + "aws_lb_target_group.api.arn_suffix",
        }
        expected = {
            "api-5xx": "HTTPCode_Target_5XX_Count",
            "api-unhealthy-hosts": "UnHealthyHostCount",
            "api-latency-p95": "TargetResponseTime",
        }
        for key, metric in expected.items():
            alarm = one(plan, f'{prefix}aws_cloudwatch_metric_alarm.api["{key}"]')
            assert (alarm["namespace"], alarm["metric_name"]) == ("AWS/ApplicationELB", metric)
            assert {name: ref(value) for name, value in alarm["dimensions"].items()} == target_group
            assert alarm_targets(alarm) == {ALERTS}
        assert one(plan, f'{prefix}aws_cloudwatch_metric_alarm.api["api-latency-p95"]')["extended_statistic"] == "p95"
        for command in ("api", "worker"):
            alarm = one(plan, f'{prefix}aws_cloudwatch_metric_alarm.tasks_below_desired["{command}"]')
            queries = {q["id"]: q for q in alarm["metric_query"]}
            assert queries["missing"]["expression"] == "FILL(desired, 0) - FILL(running, 0)"
            for metric_id, name in (("desired", "DesiredTaskCount"), ("running", "RunningTaskCount")):
                (metric,) = queries[metric_id]["metric"]
                assert (metric["namespace"], metric["metric_name"]) == ("ECS/ContainerInsights", name)
                assert ref(metric["dimensions"]["ServiceName"]) == f"{prefix}aws_ecs_service.{command}.name"
                assert ref(metric["dimensions"]["ClusterName"]) == PLATFORM + "aws_ecs_cluster.this.name"
            assert alarm_targets(alarm) == {ALERTS}
        oldest = one(plan, prefix + "aws_cloudwatch_metric_alarm.oldest_batch_chunk")
        assert (oldest["namespace"], oldest["metric_name"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
        assert ref(oldest["dimensions"]["QueueName"]) == prefix + "aws_sqs_queue.batches.name"
        assert alarm_targets(oldest) == {ALERTS}


def test_the_database_alarms_on_cpu_memory_and_storage(rendered: Rendered) -> None:
    _, plan = rendered
    metrics = {}
    for key in ("cpu", "memory", "storage"):
        alarm = one(plan, f'{PLATFORM}aws_cloudwatch_metric_alarm.database["{key}"]')
        assert alarm["namespace"] == "AWS/RDS"
        assert ref(alarm["dimensions"]["DBInstanceIdentifier"]) == PLATFORM + "aws_db_instance.this.identifier"
        assert {ref(a) for a in alarm["alarm_actions"]} == {ALERTS}
        metrics[alarm["metric_name"]] = (alarm["comparison_operator"], alarm["threshold"])
    assert metrics == {
        "CPUUtilization": ("GreaterThanThreshold", 80),
        "FreeableMemory": ("LessThanThreshold", 128 * 1024 * 1024),
        "FreeStorageSpace": ("LessThanThreshold", 2 * 1024**3),
    }


def test_subscribers_hear_the_alerts_and_every_services_events(tf_env: str) -> None:
    # given: an email address and a chat webhook for the env
    webhook = "https://chat.example.com/hooks/T0/B0/secret"
    plan = render_with(tf_env, alert_subscribers={"emails": ["ops@example.com"], "https_endpoints": [webhook]})
    services = sorted({a.split('"]')[0].split('["')[1] for a in plan if a.startswith(ENVIRONMENT + "module.service[")})
    # then: both are subscribed to the alerts topic...
    alerts = {a: plan[a] for a in plan if a.startswith(PLATFORM + "aws_sns_topic_subscription.alerts[")}
    assert {(s["protocol"], s["endpoint"]) for s in alerts.values()} == {
        ("email", "ops@example.com"),
        ("https", webhook),
    }
    assert {ref(s["topic_arn"]) for s in alerts.values()} == {ALERTS}
    # ...and to each service's events topic; the webhook's URL (a credential) is not in any address
    for service in services:
        prefix = service_prefix(service)
        events = {a: plan[a] for a in plan if a.startswith(prefix + "aws_sns_topic_subscription.events[")}
        assert {(s["protocol"], s["endpoint"]) for s in events.values()} == {
            ("email", "ops@example.com"),
            ("https", webhook),
        }
        assert {ref(s["topic_arn"]) for s in events.values()} == {prefix + "aws_sns_topic.events.arn"}
    assert not any("hooks" in address or "chat.example.com" in address for address in plan)


def test_no_subscriber_is_made_up_when_none_is_given(rendered: Rendered) -> None:
    _, plan = rendered
    assert not [a for a in plan if ".aws_sns_topic_subscription." in a]


def test_the_api_scales_on_cpu_as_well_as_requests(rendered: Rendered) -> None:
    services, plan = rendered
    for service in services:
        prefix = service_prefix(service)
        cpu = one(plan, prefix + "aws_appautoscaling_policy.api_cpu")
        configuration = cpu["target_tracking_scaling_policy_configuration"][0]
        assert (
            configuration["predefined_metric_specification"][0]["predefined_metric_type"]
            == "ECSServiceAverageCPUUtilization"
        )
        assert 0 < configuration["target_value"] < 100
        assert ref(cpu["resource_id"]) == prefix + "aws_appautoscaling_target.api.resource_id"
        assert prefix + "aws_appautoscaling_policy.api_requests" in plan


def test_workers_scale_on_chunks_waiting_and_in_flight_per_task_from_and_to_zero(rendered: Rendered) -> None:
    services, plan = rendered
    for service in services:
        prefix = service_prefix(service)
        assert one(plan, prefix + "aws_appautoscaling_target.worker")["min_capacity"] == 0
        alarms = {
            key: one(plan, f'{prefix}aws_cloudwatch_metric_alarm.worker_scaling["{key}"]')
            for key in ("wake", "out", "in")
        }
        for key, alarm in alarms.items():
            queries = {q["id"]: q for q in alarm["metric_query"]}
            assert queries["backlog"]["expression"] == "FILL(visible, 0) + FILL(in_flight, 0)"
            assert queries["scaling"]["return_data"] is True
            metrics = alarm["dynamic"][0]["metric_query"]["for_each"]
            assert metrics["in_flight"]["metric_name"] == "ApproximateNumberOfMessagesNotVisible"
            assert metrics["visible"]["metric_name"] == "ApproximateNumberOfMessagesVisible"
            assert {ref(a) for a in alarm["alarm_actions"]} == {
                f'{prefix}aws_appautoscaling_policy.worker["{key}"].arn'
            }
        # wake: no worker wanted but chunks there -> exactly one
        assert alarms["wake"]["metric_query"][0]["expression"] == "IF(FILL(desired, 0) == 0 AND backlog > 0, 1, 0)"
        wake = one(plan, f'{prefix}aws_appautoscaling_policy.worker["wake"]')["step_scaling_policy_configuration"][0]
        assert wake["adjustment_type"] == "ExactCapacity"
        assert wake["dynamic"][0]["step_adjustment"]["for_each"] == [{"lower": 0, "upper": None, "change": 1}]
        # out and in divide the backlog by the running workers; in never counts a busy worker as idle
        assert "backlog / FILL(running, 0)" in alarms["out"]["metric_query"][0]["expression"]
        assert (alarms["in"]["comparison_operator"], alarms["in"]["threshold"]) == ("LessThanThreshold", 1)
        assert alarms["in"]["evaluation_periods"] >= 10
        steps = one(plan, f'{prefix}aws_appautoscaling_policy.worker["in"]')["step_scaling_policy_configuration"][0]
        assert steps["dynamic"][0]["step_adjustment"]["for_each"] == [{"lower": None, "upper": 0, "change": -1}]


def test_workers_and_retrains_use_spot_where_the_env_says_so(rendered: Rendered, tf_env: str) -> None:
    services, plan = rendered
    spot = tf_env == "dev"
    for service in services:
        prefix = service_prefix(service)
        worker = one(plan, prefix + "aws_ecs_service.worker")
        assert "launch_type" not in worker
        strategy = {s["capacity_provider"]: (s["base"], s["weight"]) for s in worker["capacity_provider_strategy"]}
        # the first worker is on demand whatever happens to Spot capacity
        assert strategy == {"FARGATE": (1, 1), "FARGATE_SPOT": (0, 3 if spot else 0)}
        for schedule in ("retrain", "monitor"):
            parameters = one(plan, f"{prefix}aws_scheduler_schedule.{schedule}")["target"][0]["ecs_parameters"][0]
            assert "launch_type" not in parameters
            assert parameters["dynamic"][0]["capacity_provider_strategy"]["for_each"] == (
                {"FARGATE_SPOT": 1} if spot else {"FARGATE": 1}
            )
        # a retrain or monitor Spot interrupted runs again on demand, with its own overrides
        rerun = f"{prefix}aws_cloudwatch_event_target.retrain_on_demand[0]"
        if not spot:
            assert rerun not in plan
            continue
        pattern = json.loads(one(plan, f"{prefix}aws_cloudwatch_event_rule.retrain_on_demand[0]")["event_pattern"])
        assert pattern["detail"]["stopCode"] == ["SpotInterruption"]
        assert pattern["detail"]["capacityProviderName"] == ["FARGATE_SPOT"]
        assert pattern["detail"]["group"] == ["family:${" + prefix + 'aws_ecs_task_definition.this["retrain"].family}']
        target = one(plan, rerun)
        assert target["ecs_target"][0]["launch_type"] == "FARGATE"
        assert (
            ref(target["ecs_target"][0]["task_definition_arn"])
            == prefix + 'aws_ecs_task_definition.this["retrain"].arn'
        )
        assert target["input_transformer"][0] == {
            "input_paths": {"overrides": "$.detail.overrides"},
            "input_template": "<overrides>",
        }
        # its role can only run retrain tasks, and its name keeps it out of the signing key's retrain roles
        role = one(plan, f"{prefix}aws_iam_role.retrain_on_demand[0]")
        assert not role["name"].endswith("-retrain")
        policy = one(plan, f"{prefix}aws_iam_role_policy.retrain_on_demand[0]")["policy"]
        assert ref(policy) == prefix + "data.aws_iam_policy_document.scheduler.json"
    providers = one(plan, PLATFORM + "aws_ecs_cluster_capacity_providers.this")
    assert providers["capacity_providers"] == ["FARGATE", "FARGATE_SPOT"]
    assert providers["default_capacity_provider_strategy"] == [{"capacity_provider": "FARGATE", "weight": 1}]


def access_line() -> dict[str, Any]:
    """One line as the API's access log writes it."""
    read, write = os.pipe()
    log = AccessLog(write)
    log.request("id-1", "POST", "/digits/v1/predict", 503, 12.5, "digits")
    log.flush()
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        line: dict[str, Any] = json.loads(pipe.read())
    return line


def test_the_access_log_becomes_per_service_latency_and_error_metrics(rendered: Rendered, tf_env: str) -> None:
    services, plan = rendered
    line = access_line()
    for service in services:
        prefix = service_prefix(service)
        filters = {
            key: one(plan, f'{prefix}aws_cloudwatch_log_metric_filter.access["{key}"]')
            for key in ("requests", "latency", "errors")
        }
        for metric_filter in filters.values():
            assert ref(metric_filter["log_group_name"]) == prefix + "aws_cloudwatch_log_group.this.name"
            (transformation,) = metric_filter["metric_transformation"]
            assert transformation["namespace"] == f"mlseam/{tf_env}"
            assert transformation["dimensions"] == {"Service": "$.service"}
            # every field a filter reads is one the access log writes
            for field in ("message", "status", "ms", "service"):
                if f"$.{field}" in metric_filter["pattern"] + transformation["value"] + "$.service":
                    assert field in line, field
        assert line["message"] == "request" and filters["latency"]["metric_transformation"][0]["value"] == "$.ms"
        assert filters["errors"]["pattern"] == '{ $.message = "request" && $.status >= 500 }'
        dashboard = json.loads(one(plan, prefix + "aws_cloudwatch_dashboard.this")["dashboard_body"])
        latency = dashboard["widgets"][0]["properties"]["metrics"]
        assert [m[-1]["stat"] for m in latency] == ["p50", "p95", "p99"]
        assert all(m[:4] == [f"mlseam/{tf_env}", "RequestLatency", "Service", service] for m in latency)
