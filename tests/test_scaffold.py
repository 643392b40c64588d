"""`create_service`: every task kind's scaffold works at once; every refusal writes nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from builders import unique_name
from mlseam.artifacts import InMemoryArtifactStore
from mlseam.conformance import RULES, check_service
from mlseam.errors import ConfigError, MlseamError
from mlseam.examples import InMemoryExamplesStore
from mlseam.manifest import discover_services, load_service
from mlseam.registry import InMemoryRegistry, Status
from mlseam.scaffold import MAX_NAME_LENGTH, class_name_for, create_service, template_kinds
from mlseam.serving import create_app
from mlseam.settings import REPO_ROOT, Settings
from mlseam.stores import Stores
from mlseam.tasks import TASK_KINDS
from mlseam.training import Retrainer, seed_service

FILES = ["README.md", "model.py", "seed.py", "service.yaml"]


def in_memory_stores() -> Stores:
    return Stores(examples=InMemoryExamplesStore(), registry=InMemoryRegistry(), artifacts=InMemoryArtifactStore())


async def predict_in_process(app: Any, name: str, inputs: list[Any]) -> httpx.Response:
    """Start the app as uvicorn would (its lifespan loads the champion), predict once, stop it."""
    received: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    received.put_nowait({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, received.get, sent.put))
    assert (await sent.get())["type"] == "lifespan.startup.complete"
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            return await client.post(f"/{name}/v1/predict", json={"inputs": inputs})
    finally:
        received.put_nowait({"type": "lifespan.shutdown"})
        await lifespan


def ruff(*args: str, source: str, path: str) -> subprocess.CompletedProcess[str]:
    # Checked as the file it becomes in the repository, so the repository's ruff settings apply.
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--stdin-filename", path, "-"],
        input=source,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_template_folder_is_a_task_kind() -> None:
    bundled = {"image_classification", "tabular_classification", "tabular_regression"}
    assert bundled <= set(template_kinds()) <= set(TASK_KINDS)


@pytest.mark.parametrize(
    ("name", "class_name"),
    [("receipt-totals", "ReceiptTotalsModel"), ("ocr2-v3", "Ocr2V3Model"), ("churn-model", "ChurnModel")],
)
def test_the_class_name_derives_from_the_service_name(name: str, class_name: str) -> None:
    assert class_name_for(name) == class_name


@pytest.mark.parametrize("task", template_kinds())
def test_a_scaffolded_service_seeds_retrains_and_serves(services_dir: Path, task: str) -> None:
    # given: the longest name allowed, so every rendered line is as long as it gets
    name = unique_name("scaffolded" + "-x" * ((MAX_NAME_LENGTH - 19) // 2))
    assert len(name) in (MAX_NAME_LENGTH - 1, MAX_NAME_LENGTH)
    # when
    folder = create_service(name, task, services_dir)
    # then: the folder alone, complete, and a valid service
    assert folder == services_dir / name
    assert [path.name for path in services_dir.iterdir()] == [name]
    assert sorted(path.name for path in folder.iterdir()) == FILES
    assert discover_services(services_dir) == [name]
    service = load_service(name, services_dir)
    assert service.manifest.task == task and service.model_class.__name__ == class_name_for(name)
    assert "TODO" in service.manifest.description and "TODO" in (folder / "README.md").read_text()

    # then: seeded and retrained, its first model is promoted on the platform's holdout
    stores = in_memory_stores()
    total, added = seed_service(service, stores)
    assert total == added >= service.manifest.min_examples
    outcome = Retrainer(service, examples=stores.examples, registry=stores.registry, artifacts=stores.artifacts).run()
    assert outcome.record.status == Status.PROMOTED, outcome.summary
    assert outcome.summary.startswith(f"{name} v1 promoted: first model: {service.model_class.primary_metric}")

    # then: served, it answers a demo input with the task kind's output
    demo_input = next(iter(service.load_seed()()))[0]
    settings = Settings(environment="local", services_dir=services_dir)
    answer = asyncio.run(predict_in_process(create_app(settings, [name], stores=stores), name, [demo_input] * 2))
    assert answer.status_code == 200, answer.text
    outputs = answer.json()["outputs"]
    answers = [{key: value for key, value in output.items() if key != "prediction_id"} for output in outputs]
    assert len(answers) == 2 and answers[0] == answers[1] and TASK_KINDS[task].output_field in answers[0]
    assert outputs[0]["prediction_id"] != outputs[1]["prediction_id"]

    # then: its python files are what `ruff check` and `ruff format` want in services/
    for file_name in ("model.py", "seed.py"):
        source, path = (folder / file_name).read_text(), f"services/{name}/{file_name}"
        checked = ruff("check", "--no-cache", source=source, path=path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        formatted = ruff("format", "--check", "--diff", source=source, path=path)
        assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def _refusal(services_dir: Path, name: str, task: str = "tabular_regression") -> str:
    before = sorted(services_dir.rglob("*"))
    with pytest.raises(ConfigError) as refused:
        create_service(name, task, services_dir)
    assert sorted(services_dir.rglob("*")) == before  # nothing written, no staging folder left
    message = str(refused.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("task", template_kinds())
def test_a_scaffolded_service_passes_the_conformance_suite(services_dir: Path, task: str) -> None:
    name = create_service(unique_name("fresh"), task, services_dir).name
    report = check_service(name, services_dir)
    assert report.passed, "\n".join(report.lines())
    assert len(report.results) == len(RULES)


@pytest.mark.parametrize("task", template_kinds())
def test_each_template_opens_predict_with_the_empty_batch_guard_the_guide_shows(task: str) -> None:
    source = (REPO_ROOT / "mlseam" / "scaffold" / "templates" / task / "model.py.tmpl").read_text()
    body = source.split("    def predict(self, inputs", 1)[1].splitlines()[1:3]
    guards = {"list": "        if not inputs:", "matrix": "        if len(inputs) == 0:"}
    assert body[0] in guards.values() and body[1] == "            return []", body
    guide = (REPO_ROOT / "docs" / "ml-authors.md").read_text()
    assert all(f"`{guard.strip()} return []`" in guide for guard in guards.values())


@pytest.mark.parametrize("name", ["Digits", "1abc", "a_b", "-a", "a-", "ab", "a" * (MAX_NAME_LENGTH + 1), ""])
def test_a_name_that_is_not_dns_safe_is_refused(services_dir: Path, name: str) -> None:
    assert _refusal(services_dir, name) == (
        f"invalid service name {name!r}: use 3-{MAX_NAME_LENGTH} characters of a-z, 0-9 and '-', "
        "starting with a letter and ending with a letter or digit, e.g. receipt-totals"
    )


@pytest.mark.parametrize("name", ["docs", "metrics", "healthz", "readyz", "openapi", "api", "admin", "mlseam", "tests"])
def test_a_reserved_name_is_refused(services_dir: Path, name: str) -> None:
    assert _refusal(services_dir, name) == (
        f"service name {name!r} is reserved (an API route or a platform word); "
        "pick a name saying what the service predicts, e.g. receipt-totals"
    )


def test_a_taken_name_is_refused(services_dir: Path) -> None:
    (services_dir / "fraud-score").mkdir()
    (services_dir / "fraud-score" / "model.py").write_text("# someone's work\n")
    assert _refusal(services_dir, "fraud-score") == (
        f"service 'fraud-score' already exists at {services_dir / 'fraud-score'}; "
        "pick another name or edit that service"
    )
    assert (services_dir / "fraud-score" / "model.py").read_text() == "# someone's work\n"


def test_an_unknown_task_kind_is_refused(services_dir: Path) -> None:
    assert _refusal(services_dir, "fraud-score", task="regression") == (
        f"unknown task kind 'regression'; use one of {', '.join(template_kinds())}"
    )


def test_a_task_kind_without_templates_is_refused(services_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TASK_KINDS, "speech_recognition", TASK_KINDS["tabular_regression"])
    assert _refusal(services_dir, "fraud-score", task="speech_recognition") == (
        "task kind 'speech_recognition' has no service template yet: add "
        f"mlseam/scaffold/templates/speech_recognition/ or use one of {', '.join(template_kinds())}"
    )


def test_a_failure_half_way_leaves_no_partial_service(services_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given: a disk that fills up after the first files
    write_text = Path.write_text

    def fail_on_seed(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        if self.name == "seed.py":
            raise OSError(28, "No space left on device")
        return write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", fail_on_seed)
    # when
    with pytest.raises(MlseamError, match="cannot create .*: No space left on device; nothing was written"):
        create_service("fraud-score", "tabular_regression", services_dir)
    # then
    assert list(services_dir.iterdir()) == []
