"""Unpickling resolves only allow-listed globals: authors' numpy, scipy and scikit-learn state loads, gadgets do not."""

from __future__ import annotations

import collections
import datetime
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from payloads import System, crafted_call, marker_code
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from builders import linear_examples, linear_service
from mlseam.artifacts import InMemoryArtifactStore
from mlseam.errors import ContractError, UntrustedArtifactError
from mlseam.examples.memory import InMemoryExamplesStore
from mlseam.manifest import load_service
from mlseam.registry import InMemoryRegistry, Status
from mlseam.runtime.allowlist import find_allowed
from mlseam.runtime.codec import dump_model, load_model
from mlseam.training import Retrainer


def test_a_reduce_payload_is_refused_before_it_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(UntrustedArtifactError, match=r"x v1: its pickle names posix\.system, which is not on the"):
        load_model(pickle.dumps(System(f"touch {marker}"), protocol=5), service="x", where="x v1")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("builtins", "exec"),
        ("builtins", "eval"),
        ("builtins", "getattr"),
        ("numpy.testing._private.utils", "runstring"),  # exec in an allowed package
        ("numpy", "testing._private.utils.runstring"),  # the same reached through a dotted name
        ("sklearn.base", "np.testing._private.utils.runstring"),  # ... or through a module's import
        ("numpy._core._internal", "_ufunc_reconstruct"),
        ("numpy", "load"),  # a function of an allowed package: functions are allowed by name only
        ("numpy", "memmap"),  # a class that creates files when built
        ("subprocess", "Popen"),
        ("antigravity", "x"),  # importing it runs it: refused before the import
    ],
)
def test_globals_outside_the_allow_list_are_refused_before_their_code_runs(
    module: str, name: str, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(UntrustedArtifactError, match=rf"names {module}\.{name}, which is not on the allow-list"):
        load_model(crafted_call(module, name, marker_code(marker)), service="x", where="x v1")
    assert not marker.exists()


def test_the_service_may_not_name_another_services_classes() -> None:
    with pytest.raises(UntrustedArtifactError, match="not on the allow-list"):
        find_allowed("mlseam_service_other_model", "OtherModel", service="x", where="x v1")


def test_what_estimators_pickle_into_is_allowed() -> None:
    assert find_allowed("numpy._core.multiarray", "_reconstruct", service="x", where="x v1") is not None
    assert find_allowed("numpy.core.multiarray", "_reconstruct", service="x", where="x v1") is not None  # numpy 1
    assert find_allowed("sklearn.tree._tree", "Tree", service="x", where="x v1") is not None
    assert find_allowed("scipy.sparse._csr", "csr_matrix", service="x", where="x v1") is scipy.sparse.csr_matrix


def test_an_authors_numpy_scipy_sklearn_and_own_state_loads_back(services_dir: Path) -> None:
    # given: a service's model holding the state authors keep: estimators, arrays, sparse matrices,
    # random generators, plain containers and dates
    name = linear_service(services_dir)
    service = load_service(name, services_dir)
    model = service.new_model()
    x = np.random.default_rng(0).normal(size=(40, 3))
    model.extra = {  # type: ignore[attr-defined]
        "pipeline": make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3)).fit(x, x[:, 0] > 0),
        "objects": np.array(["a", None, 3], dtype=object),
        "sparse": scipy.sparse.csr_matrix(np.eye(3)),
        "legacy_rng": np.random.RandomState(1),
        "rng": np.random.default_rng(2),
        "ordered": collections.OrderedDict(a=1),
        "counts": collections.defaultdict(list, {"a": [1]}),
        "when": datetime.datetime(2026, 12, 3, tzinfo=datetime.UTC),
        "shape": (slice(1, 2), frozenset({1}), complex(1, 2), np.float32(1.5), np.dtype("<U3")),
    }
    # when: saved and loaded as a retrain and an API do
    loaded = load_model(dump_model(model, service=name), service=name, where=f"{name} v1")
    # then: everything comes back as it was
    assert type(loaded) is service.model_class
    extra = loaded.extra  # type: ignore[attr-defined]
    assert (extra["pipeline"].predict(x) == model.extra["pipeline"].predict(x)).all()  # type: ignore[attr-defined]
    assert extra["objects"].tolist() == ["a", None, 3]
    assert (extra["sparse"].toarray() == np.eye(3)).all()
    assert extra["legacy_rng"].randint(1000) == np.random.RandomState(1).randint(1000)
    assert extra["rng"].integers(1000) == np.random.default_rng(2).integers(1000)
    assert extra["counts"]["b"] == [] and extra["when"].year == 2026 and extra["shape"][3] == np.float32(1.5)


def test_a_model_holding_a_class_outside_the_allow_list_is_refused_when_saved(services_dir: Path) -> None:
    name = linear_service(services_dir)
    model = load_service(name, services_dir).new_model()
    model.folder = services_dir  # type: ignore[attr-defined]
    with pytest.raises(ContractError, match=r"its pickle names pathlib\.(Posix)?Path, which is not on the allow-list"):
        dump_model(model, service=name)


def test_a_retrain_whose_candidate_holds_a_refused_class_fails_naming_it_and_stores_nothing(
    services_dir: Path,
) -> None:
    # given: a model whose fit keeps a pathlib.Path among its fitted state
    name = linear_service(services_dir)
    folder = services_dir / name
    source = (folder / "model.py").read_text()
    source += "\n\nclass PathModel(LinearModel):\n    def fit(self, examples):\n"
    source += "        super().fit(examples)\n        import pathlib\n        self.where = pathlib.Path('.')\n"
    (folder / "model.py").write_text(source)
    manifest = folder / "service.yaml"
    manifest.write_text(manifest.read_text().replace("model.py:LinearModel", "model.py:PathModel"))
    service = load_service(name, services_dir)
    examples, registry, artifacts = InMemoryExamplesStore(), InMemoryRegistry(), InMemoryArtifactStore()
    examples.add(name, service.kind, linear_examples(60, seed=1), source="t")
    # when
    outcome = Retrainer(service, examples=examples, registry=registry, artifacts=artifacts).run()
    # then
    assert outcome.record is not None and outcome.record.status == Status.FAILED
    assert "its pickle names pathlib." in outcome.record.reason and "not on the allow-list" in outcome.record.reason
    assert registry.get_champion(name) is None and not any(key.endswith(".pkl") for key in artifacts.objects)
