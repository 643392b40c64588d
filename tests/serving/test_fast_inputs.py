"""The vectorised predict-body check never accepts what the item-by-item check refuses, and agrees on values."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlseam.errors import InvalidInputError
from mlseam.manifest import Service, load_service
from mlseam.serving.predict import _checked_inputs, _fast_inputs
from mlseam.serving.schemas import build_schemas

SERVICES = Path(__file__).resolve().parents[2] / "services"
MAX_ITEMS = 5


def _runtime(name: str) -> Any:
    service: Service = load_service(name, SERVICES)
    return SimpleNamespace(
        service=service, settings=SimpleNamespace(max_items=MAX_ITEMS), schemas=build_schemas(service, MAX_ITEMS)
    )


DIGITS = _runtime("digits")
DIABETES = _runtime("diabetes")
FEATURES = DIABETES.service.kind.features

numbers = st.one_of(
    st.integers(min_value=-3, max_value=20),
    st.floats(min_value=-1.0, max_value=17.0),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**70), max_value=2**70),
)
odd_values = st.one_of(st.booleans(), st.none(), st.text(max_size=3), st.just([]), st.just({}), st.just([1.0]))
values = st.one_of(numbers, numbers, numbers, numbers, odd_values)
edge_values = st.one_of(st.booleans(), st.sampled_from([17, -1, 16.5, -0.0, 2**70, 1e300]), values)
"""What a single odd pixel or feature in an otherwise valid body is drawn from."""


@st.composite
def images(draw: st.DrawFn) -> Any:
    height = draw(st.sampled_from([8] * 8 + [7, 0]))
    width = draw(st.sampled_from([8] * 8 + [9, 0]))
    if draw(st.integers(0, 9)):  # mostly: one value kind, right shape; the fast path's ground
        value = draw(st.sampled_from([1, 2.5, 16, 0]))
        rows: list[Any] = [[value] * width for _ in range(height)]
        if height and width and not draw(st.integers(0, 3)):
            rows[draw(st.integers(0, height - 1))][draw(st.integers(0, width - 1))] = draw(edge_values)
        return rows
    return [draw(st.lists(values, min_size=width, max_size=width)) for _ in range(height)]


@st.composite
def rows(draw: st.DrawFn) -> Any:
    keys = draw(st.sampled_from(["all"] * 8 + ["missing", "extra"]))
    row = {feature: draw(st.floats(-0.2, 0.2)) for feature in FEATURES}
    if not draw(st.integers(0, 3)):
        row[draw(st.sampled_from(FEATURES))] = draw(st.one_of(edge_values, st.just(1e10)))
    if keys == "missing":
        row.pop(FEATURES[0])
    elif keys == "extra":
        row["colour"] = 1.0
    return row


def _bodies(item: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    usual = st.lists(item, min_size=1, max_size=3)
    inputs = st.one_of(usual, usual, usual, usual, st.lists(item, min_size=0, max_size=MAX_ITEMS + 1))
    documents = st.one_of(
        *[st.builds(lambda xs: {"inputs": xs}, inputs)] * 6,
        st.builds(lambda xs: {"inputs": xs, "extra": 1}, inputs),
        st.builds(lambda x: {"inputs": x}, values),
    )
    return documents.map(lambda doc: json.dumps(doc).encode())


def _agrees(runtime: Any, body: bytes) -> None:
    fast = _fast_inputs(runtime, body)
    if fast is None:
        return
    slow = _checked_inputs(runtime, body)  # raises InvalidInputError if the fast path accepted a bad body
    assert len(fast) == len(slow)
    for quick, checked in zip(fast, slow, strict=True):
        assert np.array_equal(np.asarray(quick, dtype=np.float64), np.asarray(checked, dtype=np.float64))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_bodies(images()))
def test_image_bodies(body: bytes) -> None:
    _agrees(DIGITS, body)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_bodies(rows()))
def test_tabular_bodies(body: bytes) -> None:
    _agrees(DIABETES, body)


def test_well_formed_bodies_take_the_fast_path() -> None:
    image = [[float(c % 17) for c in range(8)] for _ in range(8)]
    assert _fast_inputs(DIGITS, orjson.dumps({"inputs": [image, image]})) is not None
    row = dict.fromkeys(FEATURES, 0.01)
    assert _fast_inputs(DIABETES, orjson.dumps({"inputs": [row]})) is not None


@pytest.mark.parametrize(
    "body",
    [
        b'{"inputs": [' + orjson.dumps([[True, *[1.0] * 7]] + [[1.0] * 8] * 7) + b"]}",
        b'{"inputs": [' + orjson.dumps([[17.0] * 8] * 8) + b"]}",
        b'{"inputs": [' + orjson.dumps([[1.0] * 8] * 7) + b"]}",
        b'{"inputs": [' + orjson.dumps([[1.0] * 8] * 8) + b'], "x": 1}',
        b'{"inputs": ['
        + orjson.dumps([[1.0] * 8, [1.0] * 9, [1.0] * 7] + [[1.0] * 8] * 5)
        + b"]}",  # 64 numbers, ragged
        b'{"inputs": [' + orjson.dumps([[1.0] * 8] * 8) + b'], "inputs": []}',
        b'{"inputs": []}',
        b"[]",
        b"{",
    ],
)
def test_anything_doubtful_is_left_to_the_item_by_item_check(body: bytes) -> None:
    assert _fast_inputs(DIGITS, body) is None
    with pytest.raises(InvalidInputError):
        _checked_inputs(DIGITS, body)
