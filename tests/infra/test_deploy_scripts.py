"""infra/deploy: the pipeline's rollout wait fails on a rollback, and one-off tasks pass on their exit code.

The scripts run for real (bash) against a fake ``aws`` on PATH that answers from a scenario file:
each ``describe-services`` call reads the next round of service states, as ECS would report them
while a deployment progresses, completes or is rolled back by the circuit breaker.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jmespath
import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "infra" / "deploy"

FAKE_AWS = """#!{python}
import json, sys
from pathlib import Path

scenario_path = Path({scenario!r})
scenario = json.loads(scenario_path.read_text())
args = sys.argv[1:]
calls = scenario.setdefault("calls", [])
calls.append(args)
command = " ".join(args[:2])
query = args[args.index("--query") + 1] if "--query" in args else ""
if command == "ecs list-services":
    print("\\t".join(f"arn:aws:ecs:eu-west-1:1:service/c/{{name}}" for name in scenario["services"]))
elif command == "ecs describe-services" and "events" in query:
    print("2026-12-03T19:00:00 (service x) deployment failed: tasks failed to start.")
elif command == "ecs describe-services":
    rounds = scenario["rounds"]
    index = min(scenario.get("round", 0), len(rounds) - 1)
    scenario["round"] = index + 1
    for name, row in rounds[index].items():
        print("\\t".join([name, *map(str, row)]))
elif command == "ecs run-task":
    print(scenario.get("task", "arn:aws:ecs:eu-west-1:1:task/c/abc"))
elif command == "ecs describe-tasks" and "lastStatus" in query:
    statuses = scenario["statuses"]
    index = min(scenario.get("status", 0), len(statuses) - 1)
    scenario["status"] = index + 1
    print(statuses[index])
elif command == "ecs describe-tasks" and "exitCode" in query:
    print(scenario["exit_code"])
elif command == "ecs describe-tasks":
    print("{{}}")
else:
    sys.exit(f"fake aws: unexpected call {{args}}")
scenario_path.write_text(json.dumps(scenario))
"""


def run_script(
    tmp_path: Path, scenario: dict[str, Any], script: str, *args: str, **env: str
) -> tuple[int, str, dict[str, Any]]:
    """Run infra/deploy/<script> with the fake aws; its exit code, its output and the scenario's calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    scenario_file = tmp_path / "scenario.json"
    scenario_file.write_text(json.dumps(scenario))
    fake = bin_dir / "aws"
    fake.write_text(FAKE_AWS.format(python=sys.executable, scenario=str(scenario_file)))
    fake.chmod(0o755)
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "MLSEAM_ROLLOUT_POLL_S": "0",
        "MLSEAM_TASK_POLL_S": "0",
        **env,
    }
    result = subprocess.run(
        ["bash", str(DEPLOY / script), *args], env=environment, capture_output=True, text=True, timeout=60, check=False
    )
    return result.returncode, result.stdout + result.stderr, json.loads(scenario_file.read_text())


NEW, OLD = "arn:aws:ecs:eu-west-1:1:task-definition/mlseam-dev-digits-api:8", "arn:...:mlseam-dev-digits-api:7"


def test_the_rollout_wait_passes_once_every_service_runs_its_new_task_definition(tmp_path: Path) -> None:
    # given: a deployment in progress (as read right after the apply, then twice more), then completed
    scenario = {
        "services": ["digits-api", "digits-worker"],
        "rounds": [
            {"digits-api": [NEW, NEW, "IN_PROGRESS", 2, 1, 2], "digits-worker": [NEW, NEW, "COMPLETED", 1, 0, 0]},
            {"digits-api": [NEW, NEW, "IN_PROGRESS", 2, 1, 2], "digits-worker": [NEW, NEW, "COMPLETED", 1, 0, 0]},
            {"digits-api": [NEW, NEW, "IN_PROGRESS", 2, 2, 2], "digits-worker": [NEW, NEW, "COMPLETED", 1, 0, 0]},
            {"digits-api": [NEW, NEW, "COMPLETED", 1, 2, 2], "digits-worker": [NEW, NEW, "COMPLETED", 1, 0, 0]},
        ],
    }
    # when
    code, output, after = run_script(tmp_path, scenario, "wait-for-rollout", "mlseam-dev")
    # then: it waited through the rounds and passed
    assert code == 0, output
    assert after["round"] == 4
    assert "waiting for digits-api (IN_PROGRESS, 1/2 tasks)" in output
    assert "all 2 services run their new task definitions" in output


@pytest.mark.parametrize(
    "rolled_back",
    [
        pytest.param([NEW, NEW, "FAILED", 2, 1, 2], id="circuit-breaker-failed"),
        pytest.param([OLD, OLD, "COMPLETED", 1, 2, 2], id="back-on-the-old-task-definition"),
    ],
)
def test_the_rollout_wait_fails_the_job_when_a_deployment_is_rolled_back(
    tmp_path: Path, rolled_back: list[Any]
) -> None:
    # given: the apply gave digits-api a new task definition, and the circuit breaker rolls it back
    scenario = {
        "services": ["digits-api"],
        "rounds": [{"digits-api": [NEW, NEW, "IN_PROGRESS", 2, 1, 2]}, {"digits-api": rolled_back}],
    }
    # when
    code, output, _ = run_script(tmp_path, scenario, "wait-for-rollout", "mlseam-dev")
    # then: the job fails, naming the service and its deployment, with ECS's last events
    assert code == 1
    assert "digits-api: the deployment of mlseam-dev-digits-api:8 failed and was rolled back" in output
    assert "deployment failed: tasks failed to start" in output


def test_the_rollout_wait_gives_up_after_its_timeout(tmp_path: Path) -> None:
    scenario = {"services": ["digits-api"], "rounds": [{"digits-api": [NEW, NEW, "IN_PROGRESS", 2, 1, 2]}]}
    code, output, _ = run_script(tmp_path, scenario, "wait-for-rollout", "mlseam-dev", MLSEAM_ROLLOUT_TIMEOUT_S="0")
    assert code == 1 and "not done after 0s: digits-api (IN_PROGRESS, 1/2 tasks)" in output


@pytest.mark.parametrize("exit_code", [0, 3, 4])
def test_a_one_off_task_exits_with_its_containers_exit_code(tmp_path: Path, exit_code: int) -> None:
    # given: a migrate task that runs a while, then stops
    scenario = {"statuses": ["PROVISIONING", "RUNNING", "STOPPED"], "exit_code": exit_code}
    network = json.dumps({"subnets": ["subnet-1"], "security_groups": ["sg-1"]})
    # when
    code, output, after = run_script(
        tmp_path,
        scenario,
        "one-off-task",
        "mlseam-dev",
        "mlseam-dev-digits-retrain:3",
        "retrain",
        network,
        '["migrate"]',
    )
    # then: its exit code is the script's, and the task ran on demand in the private subnets with the override
    assert code == exit_code, output
    (run_task,) = [call for call in after["calls"] if call[:2] == ["ecs", "run-task"]]
    assert run_task[run_task.index("--launch-type") + 1] == "FARGATE"
    vpc = json.loads(run_task[run_task.index("--network-configuration") + 1])["awsvpcConfiguration"]
    assert vpc == {"subnets": ["subnet-1"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}
    overrides = json.loads(run_task[run_task.index("--overrides") + 1])
    assert overrides == {"containerOverrides": [{"name": "retrain", "command": ["migrate"]}]}


def test_the_rollout_query_reads_what_ecs_describe_services_returns() -> None:
    # given: the JMESPath query wait-for-rollout sends, and a describe-services answer mid-rollback
    script = (DEPLOY / "wait-for-rollout").read_text()
    match = re.search(r"--query \\\n\s+'([^']+)'", script)
    assert match, "wait-for-rollout must query describe-services"
    answer = {
        "services": [
            {
                "serviceName": "digits-api",
                "taskDefinition": OLD,
                "runningCount": 2,
                "desiredCount": 2,
                "deployments": [
                    {"status": "PRIMARY", "taskDefinition": OLD, "rolloutState": "IN_PROGRESS"},
                    {"status": "ACTIVE", "taskDefinition": NEW, "rolloutState": "FAILED"},
                ],
            }
        ]
    }
    # when / then: one row per service, in the order the script reads its fields
    rows = jmespath.search(match[1], answer)
    assert rows == [["digits-api", OLD, OLD, "IN_PROGRESS", 2, 2, 2]]
