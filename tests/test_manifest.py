"""service.yaml discovery and validation: every problem is one line naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from builders import clone_service, linear_service
from mlseam.errors import ContractError, ManifestError, UnknownServiceError
from mlseam.manifest import discover_services, load_service
from mlseam.settings import REPO_ROOT


def test_the_bundled_services_load() -> None:
    names = discover_services(REPO_ROOT / "services")
    assert {"digits", "diabetes"} <= set(names)
    for name in names:
        service = load_service(name, REPO_ROOT / "services")
        assert service.manifest.task == service.model_class.task


def _break(services_dir: Path, field: str, value: object) -> Path:
    name = clone_service(services_dir, "diabetes")
    path = services_dir / name / "service.yaml"
    data = yaml.safe_load(path.read_text())
    if value is None:
        del data[field]
    else:
        data[field] = value
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("task", "translation", "field task: unknown task kind 'translation'; use one of"),
        ("schedule", "every day", "field schedule: 'every day' must be a 5-field cron expression"),
        (
            "schedule",
            "0 3 1 * 1",
            "field schedule: '0 3 1 * 1': restrict the day of month or the day of week, not both",
        ),
        ("schedule", "0 3 * * */2", "field schedule: '0 3 * * */2': write the day of week as numbers 0-7"),
        ("schedule", "0 3 * * mon", "field schedule: '0 3 * * mon': write the day of week as numbers 0-7"),
        ("holdout_fraction", 0.9, "field holdout_fraction: must be less than 0.5 (got 0.9)"),
        ("min_examples", 1, "field min_examples: must be greater than or equal to 10 (got 1)"),
        ("model", "model.py", "field model: 'model.py' must look like 'model.py:ClassName'"),
        ("model", None, "field model: required, but missing"),
        ("colour", "blue", "field colour: unknown field; the fields here are name, description, task, model, inputs,"),
        ("resources", {"api": {"cpu": 300}}, "field resources.api: Value error, cpu must be one of"),
        ("inputs", {"features": ["age", "age"]}, "field inputs.features: feature names must be unique"),
        ("inputs", {}, "field inputs.features: required, but missing"),
        (
            "inputs",
            {"features": [{"name": "age", "low": 1}]},
            "field inputs.features[0].low: unknown field; the fields here are min, max, name",
        ),
        (
            "inputs",
            {"features": ["age"], "label": {"min": 10, "max": 1}},
            "field inputs.label: min 10.0 must be below max 1.0",
        ),
        ("model", "missing.py:X", "field model: missing.py does not exist"),
        ("model", "model.py:Nope", "field model: model.py defines no 'Nope'"),
        (
            "resources",
            {"api": {"cpus": 256}},
            "field resources.api.cpus: unknown field; the fields here are cpu, memory",
        ),
        ("promotion", {"prod": "manual"}, "field promotion.prod: must be 'auto' or 'approve'"),
        (
            "promotion",
            {"staging": "approve"},
            "field promotion: 'staging' is not an environment; use local, dev, prod (as MLSEAM_ENVIRONMENT)",
        ),
        ("shadow", {"share": 2}, "field shadow.share: must be less than or equal to 1 (got 2)"),
        ("shadow", {"timeout": "soon"}, "field shadow.timeout: 'soon' must be a duration such as 500ms, 2s, 30m"),
        ("shadow", {"timeout": "0s"}, "field shadow.timeout: must be more than 0 s and at most 10 minutes (got 0 s)"),
        ("shadow", {"candidates_for": "a day"}, "field shadow.candidates_for: 'a day' must be a duration such as"),
        ("shadow", {"min_labelled": 0}, "field shadow.min_labelled: must be greater than or equal to 1 (got 0)"),
        (
            "shadow",
            {"shares": 0.1},
            "field shadow.shares: unknown field; the fields here are share, timeout, candidates_for, auto_after_shadow",
        ),
        (
            "min_examples",
            "many",
            "field min_examples: must be a valid integer, unable to parse string as an integer (got 'many')",
        ),
    ],
)
def test_a_bad_manifest_names_file_and_field(services_dir: Path, field: str, value: object, expected: str) -> None:
    # given
    path = _break(services_dir, field, value)
    # when
    with pytest.raises((ManifestError, ContractError)) as caught:
        load_service(path.parent.name, services_dir)
    # then
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert expected.replace("Value error, ", "") in message
    assert "Value error" not in message and "Input should" not in message
    assert "\n" not in message


def test_a_manifest_whose_name_differs_from_its_folder_is_refused(services_dir: Path) -> None:
    path = _break(services_dir, "name", "other-name")
    with pytest.raises(ManifestError, match="must equal its folder name"):
        load_service(path.parent.name, services_dir)


def test_invalid_yaml_is_one_line(services_dir: Path) -> None:
    (services_dir / "broken").mkdir()
    (services_dir / "broken" / "service.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ManifestError, match=r"broken/service.yaml: is not valid YAML"):
        load_service("broken", services_dir)


def test_unknown_service_lists_the_known_ones(services_dir: Path) -> None:
    clone_service(services_dir, "digits", "digits")
    with pytest.raises(UnknownServiceError, match="unknown service 'nope'.*known services: digits"):
        load_service("nope", services_dir)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("NoPredict", "model.py:NoPredict: missing method predict; define `predict(self, inputs) -> list of outputs`"),
        ("NotAModel", "model.py:NotAModel: is not a subclass of mlseam.Model"),
    ],
)
def test_a_contract_breaking_model_is_refused_at_load(services_dir: Path, model: str, expected: str) -> None:
    name = linear_service(services_dir, model=model)
    with pytest.raises(ContractError) as caught:
        load_service(name, services_dir)
    assert expected in str(caught.value)


def test_a_model_file_that_fails_to_import_is_one_line(services_dir: Path) -> None:
    name = linear_service(services_dir)
    (services_dir / name / "model.py").write_text("import not_a_module_anywhere\n")
    with pytest.raises(ContractError, match="model.py: failed to import: ModuleNotFoundError"):
        load_service(name, services_dir)


def test_the_promotion_policy_is_auto_unless_the_environment_is_named_approve(services_dir: Path) -> None:
    path = _break(services_dir, "promotion", {"prod": "approve", "dev": "auto"})
    manifest = load_service(path.parent.name, services_dir).manifest
    assert [manifest.promotion_policy(env) for env in ("local", "dev", "prod")] == ["auto", "auto", "approve"]
    assert load_service("diabetes", REPO_ROOT / "services").manifest.promotion_policy("prod") == "auto"


def test_shadow_options_default_to_a_pending_version_at_a_tenth_and_read_durations(services_dir: Path) -> None:
    # given
    defaults = load_service("diabetes", REPO_ROOT / "services").manifest.shadow
    path = _break(services_dir, "shadow", {"timeout": "500ms", "candidates_for": "24h", "share": 0.25})
    # when
    options = load_service(path.parent.name, services_dir).manifest.shadow
    # then
    assert (defaults.share, defaults.timeout, defaults.candidates_for, defaults.auto_after_shadow) == (
        0.1,
        2.0,
        None,
        False,
    )
    assert (options.share, options.timeout, options.candidates_for) == (0.25, 0.5, 86400.0)


def test_auto_after_shadow_makes_auto_wait_for_the_shadow_but_leaves_approve_alone(services_dir: Path) -> None:
    path = _break(services_dir, "shadow", {"auto_after_shadow": True})
    data = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**data, "promotion": {"prod": "approve"}}))
    manifest = load_service(path.parent.name, services_dir).manifest
    assert [manifest.promotion_policy(env) for env in ("local", "prod")] == ["shadow", "approve"]
