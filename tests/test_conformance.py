"""The conformance suite: every service honours the contract, and each broken model is named by its rule."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner, Result

from builders import clone_service
from mlseam.cli import app
from mlseam.conformance import RULES, Report, RuleVerdict, check_service
from mlseam.errors import ManifestError, UnknownServiceError
from mlseam.manifest import discover_services, load_service
from mlseam.settings import REPO_ROOT, get_settings
from mlseam.tasks import TabularRegression

SERVICES = REPO_ROOT / "services"
RULE_NAMES = [rule.name for rule in RULES]


def broken_service(services_dir: Path, template: str, source: str, **manifest: Any) -> str:
    """A copy of services/<template> whose model is class ``Broken`` of ``source``, added to its model.py."""
    name = clone_service(services_dir, template)
    folder = services_dir / name
    with (folder / "model.py").open("a", encoding="utf-8") as model_file:
        model_file.write("\n\n" + textwrap.dedent(source))
    fields = yaml.safe_load((folder / "service.yaml").read_text())
    fields.update({"model": "model.py:Broken", **manifest})
    (folder / "service.yaml").write_text(yaml.safe_dump({k: v for k, v in fields.items() if v is not None}))
    return name


def failed(report: Report) -> dict[str, str]:
    """Rule name to message of every failed rule; messages are one line, never a traceback."""
    messages = {r.rule: r.message for r in report.results if r.status is RuleVerdict.FAIL}
    for message in messages.values():
        assert "\n" not in message and "Traceback" not in message
    return messages


@pytest.mark.parametrize("name", discover_services(SERVICES))
def test_every_service_honours_the_contract(name: str) -> None:
    report = check_service(name, SERVICES)

    assert report.passed, "\n".join(report.lines())
    assert [r.rule for r in report.results] == RULE_NAMES


BATCH_FIRST = "predict is batch-first"
FINITE_METRICS = "evaluate returns finite metrics"
IS_BETTER = "is_better follows the declared direction"
ROUND_TRIP = "artifact round-trips"


@pytest.mark.parametrize(
    ("template", "source", "rule", "fragments"),
    [
        pytest.param(
            "diabetes",
            """
            class Broken(DiabetesModel):
                def predict(self, inputs):
                    return super().predict(inputs)[::-1]
            """,
            BATCH_FIRST,
            ["predict keeps order: one at a time", "predicted together they gave", "in the same order"],
            id="reverses-order",
        ),
        pytest.param(
            "diabetes",
            """
            class Broken(DiabetesModel):
                def predict(self, inputs):
                    outputs = super().predict(inputs)
                    return outputs[:-1] if len(outputs) > 1 else outputs
            """,
            BATCH_FIRST,
            ["predict keeps length: on a batch of 8, predict returned 7 outputs for 8 inputs", "one output per input"],
            id="drops-an-item",
        ),
        pytest.param(
            "diabetes",
            """
            class Broken(DiabetesModel):
                def predict(self, inputs):
                    return [float(v) for v in self.pipeline.predict(inputs)]
            """,
            BATCH_FIRST,
            ["predict on an empty batch raised ValueError: ", "(model.py:", "in predict)", "return [] when there are"],
            id="fails-on-empty-batch",
        ),
        pytest.param(
            "diabetes",
            """
            class Broken(DiabetesModel):
                def predict(self, inputs):
                    return self.pipeline.predict(inputs).reshape(-1, 1)
            """,
            BATCH_FIRST,
            ["predict returns tabular_regression outputs: predict output 0: expected a finite number, got array("],
            id="column-vector-for-regression",
        ),
        pytest.param(
            "digits",
            """
            class Broken(DigitsModel):
                def predict(self, inputs):
                    return [float(label) for label in super().predict(inputs)]
            """,
            BATCH_FIRST,
            ["predict output 0: expected a label string, got float", "answers each as its `label`"],
            id="floats-for-labels",
        ),
        pytest.param(
            "wine",
            """
            class Broken(WineModel):
                def fit(self, examples):
                    self.pipeline.fit(examples.inputs, np.char.add("cultivar ", examples.labels.astype(str)))
            """,
            BATCH_FIRST,
            [
                "predict returns tabular_classification outputs: predict output 0: 'cultivar ",
                "is not one of the labels in service.yaml ('0', '1', '2'); predict only the declared labels",
            ],
            id="predicts-undeclared-labels",
        ),
        pytest.param(
            "receipts",
            """
            class Broken(ReceiptsModel):
                def predict(self, inputs):
                    found = super().predict(inputs)
                    return [[[b["x"], b["y"], b["width"], b["height"]] for b in boxes] for boxes in found]
            """,
            BATCH_FIRST,
            [
                "predict returns text_detection outputs: predict output 0, box 0: expected a dict with exactly x, y,",
                "width, height and score, got list; the API answers each as its `boxes`",
            ],
            id="rows-for-boxes",
        ),
        pytest.param(
            "receipts",
            """
            class Broken(ReceiptsModel):
                def predict(self, inputs):
                    return [[{**b, "score": 100 * b["score"]} for b in boxes] for boxes in super().predict(inputs)]
            """,
            BATCH_FIRST,
            ["box 0: score is", "give the box's confidence as a number from 0 to 1"],
            id="percent-scores-for-boxes",
        ),
        pytest.param(
            "diabetes",
            """
            class Broken(DiabetesModel):
                def predict(self, inputs):
                    outputs = np.asarray(super().predict(inputs))
                    return list(outputs - outputs.mean() + 150.0)
            """,
            BATCH_FIRST,
            ["predict gives each input its own answer: input 0 alone gives", "independently of the rest of its batch"],
            id="depends-on-the-batch",
        ),
        pytest.param(
            "diabetes",
            """
            class Broken(DiabetesModel):
                def evaluate(self, examples):
                    return {**super().evaluate(examples), "rmse": float("nan")}
            """,
            FINITE_METRICS,
            ["metric(s) rmse are NaN or infinite", "a dict of finite numbers, such as {'rmse': 0.9}"],
            id="nan-metric",
        ),
        pytest.param(
            "diabetes",
            """
            class Broken(DiabetesModel):
                def evaluate(self, examples):
                    return {"mae": super().evaluate(examples)["mae"]}
            """,
            FINITE_METRICS,
            ["lack the primary metric 'rmse' (got mae); make evaluate return it"],
            id="no-primary-metric",
        ),
        pytest.param(
            "digits",
            """
            class Broken(DigitsModel):
                def evaluate(self, examples):
                    return {**super().evaluate(examples), "accuracy": "0.5"}
            """,
            FINITE_METRICS,
            ["metric accuracy is '0.5' (str), not a number"],
            id="metric-as-text",
        ),
        pytest.param(
            "diabetes",
            """
            class Broken(DiabetesModel):
                def is_better(self, candidate, champion):
                    return candidate["rmse"] <= champion["rmse"]
            """,
            IS_BETTER,
            ["is_better(m, m) is True for m = {rmse: ", "never replace an equal champion", "min_improvement (0.01)"],
            id="is-better-reflexive",
        ),
        pytest.param(
            "diabetes",
            """
            class Broken(DiabetesModel):
                def is_better(self, candidate, champion):
                    return candidate["rmse"] > champion["rmse"] + self.min_improvement
            """,
            IS_BETTER,
            ["lower is better (higher_is_better = False), yet a candidate with rmse", "lost to a champion with"],
            id="is-better-backwards",
        ),
        pytest.param(
            "digits",
            """
            class Broken(DigitsModel):
                def is_better(self, candidate, champion):
                    return candidate["macro_f1"] != champion["macro_f1"]
            """,
            IS_BETTER,
            ["higher is better (higher_is_better = True), yet a candidate with macro_f1", "beat a champion with"],
            id="is-better-prefers-worse",
        ),
        pytest.param(
            "diabetes",
            """
            class Broken(DiabetesModel):
                def fit(self, examples):
                    super().fit(examples)
                    self.clip = lambda values: values
            """,
            ROUND_TRIP,
            ["Broken cannot be saved", "no open files, locks or lambdas"],
            id="holds-a-lambda",
        ),
        pytest.param(
            "digits",
            """
            class Broken(DigitsModel):
                def fit(self, examples):
                    super().fit(examples)
                    self.rows = (row for row in range(3))
            """,
            ROUND_TRIP,
            ["Broken cannot be saved (cannot pickle 'generator' object)"],
            id="holds-a-generator",
        ),
        pytest.param(
            "diabetes",
            """
            class Broken(DiabetesModel):
                def __getstate__(self):
                    return {}
            """,
            ROUND_TRIP,
            ["the saved model, once loaded, raised AttributeError:", "'pipeline'", "attributes that pickle"],
            id="forgets-its-fitted-state",
        ),
    ],
)
def test_a_broken_model_is_named_by_its_rule(
    services_dir: Path, template: str, source: str, rule: str, fragments: list[str]
) -> None:
    # given
    name = broken_service(services_dir, template, source)
    # when
    report = check_service(name, services_dir)
    # then
    messages = failed(report)
    assert rule in messages, "\n".join(report.lines())
    for fragment in fragments:
        assert fragment in messages[rule]
    assert not report.passed
    assert report.summary().startswith(f"{name}: ") and rule in report.summary()


NOISE = "holdout tells gains from noise"


def test_row_scores_that_disagree_with_evaluate_fail_the_holdout_rule(services_dir: Path) -> None:
    source = """
    class Broken(DigitsModel):
        def row_scores(self, examples):
            return mlseam.RowScores.mean(np.zeros(len(examples)))
    """
    report = check_service(broken_service(services_dir, "digits", source), services_dir)

    message = failed(report)[NOISE]
    assert message.startswith("row_scores gives macro_f1 0 but evaluate gives 0.") and "make them agree" in message


def _warning(report: Report) -> str:
    assert report.passed, "\n".join(report.lines())
    result = report.result(NOISE)
    assert result.status is RuleVerdict.WARN, "\n".join(report.lines())
    assert report.summary().endswith(" rules pass, 1 with a warning" + report.summary().rsplit("warning", 1)[1])
    return result.message


def test_a_tiny_holdout_is_warned_of_with_the_smallest_gain_it_can_detect(services_dir: Path) -> None:
    source = "class Broken(DiabetesModel):\n    pass\n"
    message = _warning(check_service(broken_service(services_dir, "diabetes", source), services_dir))

    assert message.startswith("the holdout will have about 88 rows (holdout_fraction 0.2 of the 442 demo examples)")
    gain = float(message.split("rmse gain of about ")[1].split(" ")[0])
    assert 2 < gain < 20  # rmse is about 55 on this data; the metric's 95% margin on 88 rows is several units
    assert message.endswith("add examples or raise holdout_fraction")
    big = check_service(broken_service(services_dir, "diabetes", source, holdout_fraction=0.25), services_dir)
    assert big.result(NOISE).status is RuleVerdict.PASS, "\n".join(big.lines())


def test_a_tiny_holdout_the_model_never_misses_is_warned_of_by_what_one_row_weighs(services_dir: Path) -> None:
    source = """
    class Broken(DigitsModel):
        def evaluate(self, examples):
            return {"macro_f1": 1.0}

        def row_scores(self, examples):
            return mlseam.RowScores.mean(np.ones(len(examples)))
    """
    report = check_service(broken_service(services_dir, "digits", source, holdout_fraction=0.04), services_dir)

    message = _warning(report)
    assert message.startswith("the holdout will have about 72 rows (holdout_fraction 0.04 of the 1797 demo examples)")
    assert "one example in 72 weighs 0.0139 of a rate such as accuracy" in message


def test_a_primary_metric_without_row_scores_is_warned_of(services_dir: Path) -> None:
    source = """
    class Broken(DigitsModel):
        primary_metric = "balanced"

        def evaluate(self, examples):
            return {"balanced": super().evaluate(examples)["macro_f1"]}
    """
    message = _warning(check_service(broken_service(services_dir, "digits", source), services_dir))

    assert message.startswith("no per-row scores for balanced: define row_scores in the model, such as `return ")
    assert "promotes on evaluate's numbers alone" in message


def test_one_broken_rule_fails_alone_and_rules_built_on_it_are_not_run(services_dir: Path) -> None:
    source = """
    class Broken(DiabetesModel):
        def predict(self, inputs):
            return super().predict(inputs)[::-1]
    """
    report = check_service(broken_service(services_dir, "diabetes", source), services_dir)

    assert list(failed(report)) == [BATCH_FIRST]
    skipped = report.result(ROUND_TRIP)
    assert skipped.status is RuleVerdict.SKIP and skipped.message == f"not run: needs {BATCH_FIRST}"


@pytest.mark.parametrize(
    ("source", "manifest", "fragment"),
    [
        ("", {"model": "model.py:Nope"}, "model.py defines no 'Nope'"),
        ("class Broken:\n    pass\n", {}, "is not a subclass of mlseam.Model"),
        (
            "class Broken(DiabetesModel):\n    def __init__(self, alpha):\n        super().__init__()\n",
            {},
            "__init__(alpha) needs arguments, but the platform creates the model as `Broken()`",
        ),
    ],
    ids=["missing-class", "not-a-model", "init-needs-arguments"],
)
def test_a_model_that_does_not_load_stops_every_other_rule(
    services_dir: Path, source: str, manifest: dict[str, Any], fragment: str
) -> None:
    report = check_service(broken_service(services_dir, "diabetes", source, **manifest), services_dir)

    assert fragment in failed(report)["loads by reference"]
    assert [r.status for r in report.results] == [RuleVerdict.FAIL] + [RuleVerdict.SKIP] * (len(RULES) - 1)


def test_a_model_that_raises_in_fit_is_summarised_in_one_line(services_dir: Path) -> None:
    source = """
    class Broken(DiabetesModel):
        def fit(self, examples):
            raise RuntimeError("boom in fit")
    """
    report = check_service(broken_service(services_dir, "diabetes", source), services_dir)

    message = failed(report)["fits on a small sample"]
    assert message.startswith("fit on ") and "demo examples raised RuntimeError: boom in fit (model.py:" in message
    assert "in fit); fit gets Examples" in message


def test_a_service_without_demo_data_cannot_be_fitted(services_dir: Path) -> None:
    name = broken_service(services_dir, "diabetes", "class Broken(DiabetesModel):\n    pass\n", seed=None)

    message = failed(check_service(name, services_dir))["fits on a small sample"]
    assert "sets no seed:" in message and "seed: seed.py:demo_examples" in message


def test_invalid_inputs_never_reach_a_model_that_cannot_take_them(services_dir: Path) -> None:
    # given: a model that records every batch and fails on anything it should never get
    source = """
    class Broken(DiabetesModel):
        batches = []

        def predict(self, inputs):
            type(self).batches.append(np.array(inputs, copy=True))
            if not np.isfinite(inputs).all() or inputs.shape[1:] != (10,):
                raise ValueError("an invalid input reached predict")
            return super().predict(inputs)
    """
    name = broken_service(services_dir, "diabetes", source)
    # when
    report = check_service(name, services_dir)
    # then
    assert report.passed, "\n".join(report.lines())
    seen = load_service(name, services_dir).model_class.batches  # type: ignore[attr-defined]
    assert seen and all(np.isfinite(batch).all() and batch.shape[1:] == (10,) for batch in seen)


def test_a_task_kind_that_lets_invalid_inputs_through_is_caught(
    services_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a tabular task kind whose schema takes any mapping, NaN included
    monkeypatch.setattr(TabularRegression, "input_type", lambda self: dict[str, Any])
    name = clone_service(services_dir, "diabetes")
    # when
    report = check_service(name, services_dir)
    # then
    message = failed(report)["invalid inputs never reach predict"]
    assert message.startswith("NaN in place of the number at input.age got through the predict API and reached predict")
    assert "the task kind tabular_regression must refuse it first" in message


def test_an_unknown_service_or_a_broken_manifest_raises(services_dir: Path) -> None:
    with pytest.raises(UnknownServiceError):
        check_service("nope", services_dir)
    name = clone_service(services_dir, "diabetes")
    (services_dir / name / "service.yaml").write_text(f"name: {name}\ntask: tabular_regression\n")
    with pytest.raises(ManifestError, match="field model: required, but missing"):
        check_service(name, services_dir)


@pytest.fixture
def mlseam_check(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Runs `mlseam check <service>` in process against a given services folder."""

    def run(service: str, services_dir: Path) -> Result:
        monkeypatch.setenv("MLSEAM_SERVICES_DIR", str(services_dir))
        get_settings.cache_clear()
        return CliRunner().invoke(app, ["check", service])

    yield run
    get_settings.cache_clear()


def test_cli_check_prints_every_rule_and_exits_0(mlseam_check: Any) -> None:
    result = mlseam_check("digits", SERVICES)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:-1] == [f"PASS  {rule}" for rule in RULE_NAMES]
    assert lines[-1].startswith(f"digits: all {len(RULES)} rules pass (")


def test_cli_check_exits_1_naming_the_broken_rule(services_dir: Path, mlseam_check: Any) -> None:
    source = """
    class Broken(DiabetesModel):
        def evaluate(self, examples):
            return {"rmse": float("inf")}
    """
    name = broken_service(services_dir, "diabetes", source)

    result = mlseam_check(name, services_dir)

    assert result.exit_code == 1
    assert f"FAIL  {FINITE_METRICS}: this model's metric(s) rmse are NaN or infinite" in result.stdout
    assert result.stdout.splitlines()[-1].startswith(f"{name}: 1 of {len(RULES)} rules fail ({FINITE_METRICS})")


def test_cli_check_of_an_unknown_service_is_one_line_and_exit_2(services_dir: Path, mlseam_check: Any) -> None:
    result = mlseam_check("nope", services_dir)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: unknown service 'nope'")
