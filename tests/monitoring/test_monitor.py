"""Labels joined back to logged predictions, each version measured on them, drift judged (real stack)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
from api_servers import start_api, train
from event_queue import subscribe_queue
from sklearn.datasets import load_digits

from builders import clone_service
from mlseam.manifest import load_service
from mlseam.monitoring import monitor_service
from mlseam.predictionlog import PredictionLog
from mlseam.runtime import load_artifact
from mlseam.settings import Settings
from mlseam.status import overview_table
from mlseam.stores import Stores
from mlseam.tasks import Examples

DIGITS = load_digits()


def _wait_logged(log: PredictionLog, service: str, ids: list[str]) -> None:
    deadline = time.monotonic() + 15
    while len(log.lookup(service, ids)) < len(ids):
        assert time.monotonic() < deadline, "predictions never reached the log"
        time.sleep(0.1)


def _label(url: str, items: list[dict[str, str]]) -> dict[str, object]:
    response = httpx.post(url, json={"examples": items}, timeout=30)
    assert response.status_code == 201, response.text
    answer: dict[str, object] = response.json()
    return answer


def test_labels_joined_by_prediction_id_grade_the_version_that_answered(
    settings: Settings, stores: Stores, tmp_path: Path
) -> None:
    # given: a served digits champion that answered 60 predictions, all logged
    name = clone_service(settings.services_dir, "digits")
    train(settings, stores, name)
    api = start_api(settings, [name], tmp_path)
    try:
        images = [DIGITS.images[i].tolist() for i in range(60)]
        answer = httpx.post(api.url(f"/{name}/v1/predict"), json={"inputs": images}, timeout=30).json()
        ids = [output["prediction_id"] for output in answer["outputs"]]
        assert stores.predictions is not None
        _wait_logged(stores.predictions, name, ids)
        truth = [str(DIGITS.target[i]) for i in range(60)]
        url = api.url(f"/{name}/v1/examples")

        # when: labels arrive by prediction id: five wrong then corrected, ten sent twice, ten late, one unknown
        first = _label(
            url,
            [
                {"prediction_id": pid, "label": "0" if t != "0" else "1"}
                for pid, t in zip(ids[:5], truth[:5], strict=True)
            ],
        )
        assert first["stored"] == 5
        batch = [{"prediction_id": pid, "label": t} for pid, t in zip(ids[:40], truth[:40], strict=True)]
        bogus = {"prediction_id": "f" * 32, "label": "3"}
        second = _label(url, [*batch, bogus])
        assert (second["stored"], second["corrected"]) == (35, 5)
        assert second["errors"] == [
            {
                "index": 40,
                "field": "examples[40].prediction_id",
                "message": second["errors"][0]["message"],  # type: ignore[index]
            }
        ]
        assert "f" * 32 + " is not in the prediction log" in second["errors"][0]["message"]  # type: ignore[index]
        again = _label(url, batch[:10])
        assert (again["stored"], again["corrected"]) == (0, 0)
        time.sleep(1.0)
        late = _label(
            url, [{"prediction_id": pid, "label": t} for pid, t in zip(ids[40:50], truth[40:50], strict=True)]
        )
        assert late["stored"] == 10
        for item, problem in [
            ({"prediction_id": "not-an-id", "label": "3"}, "examples[0].prediction_id: String should match pattern"),
            ({"prediction_id": ids[0], "label": "3", "input": images[0]}, "examples[0].prediction_id: Extra inputs"),
            ({"prediction_id": ids[0], "label": "12"}, "examples[0].label: '12' is not one of the labels"),
            ({"prediction_id": "e" * 32, "label": "3"}, f"examples[0].prediction_id: {'e' * 32} is not in the"),
        ]:
            refused = httpx.post(url, json={"examples": [item]}, timeout=30)
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["message"].startswith(problem), refused.text

        # then: the monitor grades v1 on exactly those 50 rows, as its own evaluate does
        service = load_service(name, settings.services_dir)
        result = monitor_service(
            service,
            examples=stores.examples,
            predictions=stores.predictions,
            registry=stores.registry,
            artifacts=stores.artifacts,
            min_window=10,
        )
        served = httpx.get(api.url(f"/{name}/v1/model"), timeout=30).json()
    finally:
        assert api.stop() == 0, api.logs()
    record = stores.registry.get_version(name, "v1")
    model = load_artifact(record, stores.artifacts)
    rows = Examples(ids=np.arange(50), inputs=[DIGITS.images[i] for i in range(50)], labels=np.asarray(truth[:50]))
    expected = model.evaluate(rows)
    assert record.live is not None and record.live["labelled"] == 50
    assert record.live["metrics"] == expected
    assert served["live"] == record.live and served["drift"] == record.drift
    assert record.live["holdout"] == {"macro_f1": record.metrics["macro_f1"]}
    assert record.live["label_lag"]["p90_s"] >= 1.0
    assert result.lines[0].startswith(f"{name} v1: macro_f1 {expected['macro_f1']:.4f} on 50 labelled predictions")
    assert record.drift is not None and record.drift["window"] == 60 and record.drift["verdict"] != "drifted"
    row = next(r for r in _rows(overview_table(settings, stores)) if r[0] == name)
    assert row[5] == f"{expected['macro_f1']:.4f} on 50"


def _rows(table: object) -> list[list[str]]:
    columns = table.columns  # type: ignore[attr-defined]
    return [list(cells) for cells in zip(*(column._cells for column in columns), strict=True)]


def test_inverted_images_are_flagged_as_drift_and_the_verdict_is_stored(
    settings: Settings, stores: Stores, tmp_path: Path
) -> None:
    name = clone_service(settings.services_dir, "digits")
    train(settings, stores, name)
    api = start_api(settings, [name], tmp_path)
    try:
        inverted = [(16 - DIGITS.images[i]).tolist() for i in range(300)]
        outputs = httpx.post(api.url(f"/{name}/v1/predict"), json={"inputs": inverted[:50]}, timeout=30).json()
        for start in range(50, 300, 50):
            httpx.post(api.url(f"/{name}/v1/predict"), json={"inputs": inverted[start : start + 50]}, timeout=30)
        assert stores.predictions is not None
        _wait_logged(stores.predictions, name, [o["prediction_id"] for o in outputs["outputs"]])
        time.sleep(0.5)
    finally:
        assert api.stop() == 0, api.logs()
    service = load_service(name, settings.services_dir)
    events = subscribe_queue(settings)
    result = monitor_service(
        service,
        examples=stores.examples,
        predictions=stores.predictions,
        registry=stores.registry,
        artifacts=stores.artifacts,
        min_window=200,
        events=stores.events,
    )
    drift = stores.registry.get_version(name, "v1").drift
    assert drift is not None and drift["verdict"] == "drifted" and drift["window"] == 300, drift
    assert result.lines[-1].startswith(f"{name} v1 drift: inputs drifted: ")
    flagged = events.wait_for(name, "drift.flagged")
    assert flagged["version"] == "v1" and flagged["details"]["verdict"] == "drifted"
    assert flagged["details"]["window"] == 300 and flagged["reason"] == drift["summary"]
    too_few = monitor_service(
        service,
        examples=stores.examples,
        predictions=stores.predictions,
        registry=stores.registry,
        artifacts=stores.artifacts,
    )
    assert too_few.drift is not None and too_few.drift["verdict"] == "insufficient"
    assert "300 logged predictions since" in too_few.drift["summary"] and "(needs 1000)" in too_few.drift["summary"]
