"""The CircleCI pipeline (.circleci/config.yml): git flow, pinned tools, no stored AWS keys.

The config is also validated against CircleCI's JSON schema here (the same check `make lint`
runs), so `make test` alone catches a config CircleCI would refuse.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG_PATH = REPO / ".circleci" / "config.yml"
TEXT = CONFIG_PATH.read_text()
CONFIG: dict[str, Any] = yaml.safe_load(TEXT)
SERVICES = sorted(path.parent.name for path in (REPO / "services").glob("*/service.yaml"))
DEPLOY_JOBS = ("build-push", "plan", "migrate", "apply")
BRANCH_OF = {"dev": "develop", "prod": "master"}


def invocations(workflow: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(name in the workflow, job it runs, its parameters) of every job a workflow lists."""
    for entry in CONFIG["workflows"][workflow]["jobs"]:
        job: str = next(iter(entry)) if isinstance(entry, dict) else entry
        params: dict[str, Any] = (entry[job] if isinstance(entry, dict) else None) or {}
        yield params.get("name", job), job, params


def all_invocations() -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for workflow in CONFIG["workflows"]:
        for name, job, params in invocations(workflow):
            yield workflow, name, job, params


def steps_commands(steps: list[Any], *, seen: frozenset[str] = frozenset()) -> Iterator[str]:
    """Every shell command the steps run, reusable commands expanded."""
    for step in steps:
        name: str = next(iter(step)) if isinstance(step, dict) else step
        body: Any = step[name] if isinstance(step, dict) else None
        if name == "run":
            yield body if isinstance(body, str) else body["command"]
        elif name in CONFIG.get("commands", {}) and name not in seen:
            yield from steps_commands(CONFIG["commands"][name]["steps"], seen=seen | {name})


def job_commands(job: str) -> str:
    return "\n".join(steps_commands(CONFIG["jobs"][job]["steps"]))


def branches_only(params: dict[str, Any]) -> list[str] | None:
    only = params.get("filters", {}).get("branches", {}).get("only")
    return [only] if isinstance(only, str) else only


def ancestors(workflow: str, name: str) -> set[str]:
    requires = {n: set(p.get("requires", [])) for n, _, p in invocations(workflow)}
    found: set[str] = set()
    todo = list(requires[name])
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo += requires.get(current, set())
    return found


def test_the_config_is_circleci_2_1_and_passes_circleci_schema() -> None:
    assert CONFIG["version"] == 2.1
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.circle-ci",
            str(CONFIG_PATH),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_job_is_defined_and_every_requirement_is_in_the_same_workflow() -> None:
    orbs = set(CONFIG.get("orbs", {}))
    for workflow in CONFIG["workflows"]:
        names = [name for name, _, _ in invocations(workflow)]
        assert len(names) == len(set(names)), f"{workflow}: job names must be unique"
        for name, job, params in invocations(workflow):
            assert params.get("type") == "approval" or job in CONFIG["jobs"] or job.split("/")[0] in orbs, job
            for required in params.get("requires", []):
                assert required in names, f"{workflow}: {name} requires {required}, not in this workflow"


@pytest.mark.parametrize(("job", "targets"), [("lint", ["lint"]), ("test", ["test", "test-slow", "fuzz"])])
def test_checks_call_the_makefile_and_run_on_every_branch(job: str, targets: list[str]) -> None:
    commands = [line.strip() for line in job_commands(job).splitlines()]
    assert all(f"make {target}" in commands for target in targets), commands
    runs = [params for _, _, j, params in all_invocations() if j == job]
    assert runs and all("filters" not in params for params in runs), f"{job} must run on every branch"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_an_environment_deploys_from_its_branch_after_lint_and_test(env: str) -> None:
    deploys = [(w, n, j, p) for w, n, j, p in all_invocations() if p.get("env") == env]
    assert {job for _, _, job, _ in deploys} == set(DEPLOY_JOBS)
    for workflow, name, _, params in deploys:
        assert branches_only(params) == [BRANCH_OF[env]], f"{name} must run on {BRANCH_OF[env]} only"
        assert params.get("context") == f"mlseam-{env}", name
        if name.startswith("apply"):
            assert {"lint", "test"} <= ancestors(workflow, name)
            assert {n for _, n, j, p in deploys if j in ("build-push", "plan", "migrate")} <= ancestors(workflow, name)


def test_prod_is_applied_only_after_an_approval_on_master() -> None:
    for workflow, name, job, params in all_invocations():
        if job == "apply" and params.get("env") == "prod":
            approvals = {n for n, _, p in invocations(workflow) if p.get("type") == "approval"}
            assert approvals & ancestors(workflow, name), f"{name} must require an approval job"
            for approval in approvals:
                approval_params = next(p for n, _, p in invocations(workflow) if n == approval)
                assert branches_only(approval_params) == ["master"]


def test_dev_and_prod_share_the_job_definitions() -> None:
    for job in DEPLOY_JOBS:
        assert CONFIG["jobs"][job]["parameters"]["env"]["enum"] == ["dev", "prod"]


def _images(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str):
                yield value
            else:
                yield from _images(value)
    elif isinstance(node, list):
        for item in node:
            yield from _images(item)


def test_every_image_and_tool_is_pinned() -> None:
    images = list(_images(CONFIG))
    assert images
    for image in images:
        tag = image.split("@")[0].rpartition(":")[2]
        assert ":" in image.split("@")[0] and re.match(r"^\d+(\.\d+)+$", tag), f"{image}: pin an exact version tag"
    for job in CONFIG["jobs"].values():
        for step in job["steps"]:
            if isinstance(step, dict) and "setup_remote_docker" in step:
                version = (step["setup_remote_docker"] or {}).get("version")
                assert version and version not in ("default", "edge", "previous", "latest"), version
            elif step == "setup_remote_docker":
                pytest.fail("setup_remote_docker needs a pinned version")
    # Terraform is a pinned release, checked against its published SHA-256.
    assert re.search(r"terraform_\d+\.\d+\.\d+_linux_amd64\.zip", TEXT) and "sha256sum -c" in TEXT


def test_aws_is_reached_with_the_jobs_oidc_token_never_with_stored_keys() -> None:
    assert "AWS_SECRET_ACCESS_KEY" not in TEXT and "AWS_ACCESS_KEY_ID" not in TEXT
    for job in DEPLOY_JOBS:
        assert "CIRCLE_OIDC_TOKEN_V2" in job_commands(job) and "AWS_WEB_IDENTITY_TOKEN_FILE" in job_commands(job)


def test_images_are_built_for_every_discovered_service_and_none_is_named() -> None:
    commands = job_commands("build-push")
    assert "for manifest in services/*/service.yaml" in commands
    assert "-target=module.environment.module.service[" in commands and "aws_ecr_repository.this" in commands
    assert commands.index("aws_ecr_repository.this") < commands.index("docker push"), "repositories before pushes"
    assert "docker build -f docker/Dockerfile " in commands and '--build-arg SERVICE="$name"' in commands
    assert ':$CIRCLE_SHA1"' in commands.split("docker push")[1].splitlines()[0], "images are tagged with the commit"
    for service in SERVICES:
        assert not re.search(rf"\b{re.escape(service)}\b", TEXT), f"the pipeline names the service {service}"


def ecr_addresses(service: str) -> tuple[str, str]:
    """The ECR repository address build-push targets, and the one it looks up in the state, for a service."""
    commands = job_commands("build-push")
    target = re.search(r'-target=(\S+?)\[\\"\$name\\"\](\S+?)"\)', commands)
    lookup = re.search(r'build_push "(\S+?)\[\\"\$name\\"\](\S+?)"', commands)
    assert target and lookup, "build-push must target and look up each service's repository"
    return f'{target[1]}["{service}"]{target[2]}', f'{lookup[1]}["{service}"]{lookup[2]}'


def test_the_dashboards_image_is_the_same_dockerfiles_target_pushed_to_its_repository(
    rendered: tuple[dict[str, Any], Any],
) -> None:
    # given the repository Terraform plans for the dashboard
    _, plan = rendered
    address = "module.environment.module.dashboard.aws_ecr_repository.this"
    assert address in plan
    commands = job_commands("build-push")

    # then build-push creates it, then builds the dashboard target into it, tagged with the commit
    assert f'"-target={address}"' in commands
    assert f'build_push "{address}" --target dashboard' in commands
    assert commands.index(f"-target={address}") < commands.index("docker push")


def test_build_push_addresses_the_repositories_terraform_plans(rendered: tuple[dict[str, Any], Any]) -> None:
    # given the env's services and resources, rendered from infra/terraform (tests/infra/conftest.py)
    services, plan = rendered
    for service in services:
        target, lookup = ecr_addresses(service)
        # then the targeted apply and the state lookup name the service's repository, as Terraform addresses it
        assert target == lookup
        assert target in plan and target.endswith(".aws_ecr_repository.this"), target


def test_the_reviewed_plan_is_the_one_applied() -> None:
    plan, apply = job_commands("plan"), job_commands("apply")
    assert re.search(r"terraform .*plan -var image_tag=\"\$CIRCLE_SHA1\" -out tfplan", plan)
    persisted = next(s["persist_to_workspace"] for s in CONFIG["jobs"]["plan"]["steps"] if "persist_to_workspace" in s)
    assert "tfplan" in persisted["paths"]
    assert any("attach_workspace" in step for step in CONFIG["jobs"]["apply"]["steps"] if isinstance(step, dict))
    assert re.search(r"terraform .*apply tfplan", apply)
    # the migrate job between plan and apply changes no Terraform state, or the saved plan would be stale
    migrate = job_commands("migrate") + (REPO / "infra" / "deploy" / "migrate").read_text()
    assert not re.search(r"terraform .*\b(apply|import|state|taint)\b", migrate)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_database_is_migrated_after_the_plan_is_approved_and_before_the_services_roll_out(env: str) -> None:
    deploys = {
        job: (workflow, name, params) for workflow, name, job, params in all_invocations() if params.get("env") == env
    }
    workflow, migrate, _ = deploys["migrate"]
    _, apply, _ = deploys["apply"]
    _, plan, _ = deploys["plan"]
    # given the workflow: migrate requires the plan (and, for prod, the approval); apply requires migrate
    assert migrate in ancestors(workflow, apply)
    assert plan in ancestors(workflow, migrate)
    if env == "prod":
        approvals = {n for n, _, p in invocations(workflow) if p.get("type") == "approval"}
        assert approvals <= ancestors(workflow, migrate), "prod migrates only once someone approved the plan"
    # and the migration runs the new image's `migrate` as a one-off task, and a failure fails the job
    commands = job_commands("migrate")
    assert 'infra/deploy/migrate "$TF_DIR" "$CIRCLE_SHA1"' in commands
    script = (REPO / "infra" / "deploy" / "migrate").read_text()
    for needle in ("output -json migrate_task", "register-task-definition", "MLSEAM_CODE_VERSION", "'[\"migrate\"]'"):
        assert needle in script, needle
    assert "set -euo pipefail" in script


def test_apply_waits_for_every_rollout_then_bootstraps_services_without_a_champion() -> None:
    apply = job_commands("apply")
    order = [
        "apply tfplan",
        "infra/deploy/one-off-task",
        "infra/deploy/wait-for-rollout",
        "infra/deploy/bootstrap-retrains",
    ]
    positions = [apply.index(step) for step in order]
    assert positions == sorted(positions), "apply, migrate a new environment, wait for the rollout, then bootstrap"
    # a new environment (nothing migrated before the rollout) is migrated right after its creation
    assert '"$(cat "$TF_DIR/migration")" = done' in apply
    persisted = next(
        s["persist_to_workspace"] for s in CONFIG["jobs"]["migrate"]["steps"] if "persist_to_workspace" in s
    )
    assert persisted["paths"] == ["migration"]
