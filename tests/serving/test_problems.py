"""Each error class answers with one status and code, and every validation failure names its field the same way."""

from __future__ import annotations

import json

import pydantic
import pytest

from mlseam.errors import (
    BatchNotFoundError,
    ConfigError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    MlseamError,
    ModelOutputError,
    NoModelError,
    StoreError,
    TooManyItemsError,
    VersionNotFoundError,
)
from mlseam.serving.deps import check_token
from mlseam.serving.problems import (
    BodyTooLargeError,
    UnauthorizedError,
    in_list,
    invalid_input_from,
    problem_for,
    render_problem,
)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidInputError("inputs[0]: bad", index=0, field="inputs[0]"), 422, "invalid_input"),
        (TooManyItemsError("inputs: 51 items"), 413, "too_many_items"),
        (BatchNotFoundError("no batch 'x'"), 404, "unknown_batch"),
        (IdempotencyKeyReusedError("key names another batch"), 409, "idempotency_key_reused"),
        (NoModelError("digits has no model loaded"), 503, "no_model"),
        (StoreError("DynamoDB is unreachable"), 503, "store_unavailable"),
        (VersionNotFoundError("no v9"), 503, "store_unavailable"),
        (ModelOutputError("predict gave 3 outputs for 4 inputs"), 500, "model_error"),
        (ConfigError("bad setting"), 500, "internal"),
        (MlseamError("anything"), 500, "internal"),
        (RuntimeError("a bug"), 500, "internal"),
        (UnauthorizedError(), 401, "unauthorized"),
        (BodyTooLargeError(1024), 413, "too_large"),
    ],
)
def test_each_error_class_answers_with_its_own_status_and_code(error: Exception, status: int, code: str) -> None:
    problem = problem_for(error)
    assert (problem.status, problem.code) == (status, code)


def test_a_server_side_failure_quotes_the_request_id_and_hides_its_own_words() -> None:
    for error in (ModelOutputError("predict returned secrets"), RuntimeError("secrets")):
        problem = problem_for(error)
        assert "secrets" not in problem.message and "quote request id" in problem.message


def test_the_body_names_code_message_index_and_field_only_when_known() -> None:
    body = json.loads(
        render_problem(problem_for(InvalidInputError("inputs[3].bmi: bad", index=3, field="inputs[3].bmi")))
    )
    assert body["error"] == {
        "code": "invalid_input",
        "message": "inputs[3].bmi: bad",
        "index": 3,
        "field": "inputs[3].bmi",
    }
    assert set(json.loads(render_problem(problem_for(NoModelError("none"))))["error"]) == {"code", "message"}


class _Row(pydantic.BaseModel):
    bmi: float


class _Body(pydantic.BaseModel):
    inputs: list[_Row] = pydantic.Field(max_length=2)


def test_a_validation_failure_names_the_item_and_its_field() -> None:
    with pytest.raises(pydantic.ValidationError) as failed:
        _Body.model_validate_json('{"inputs": [{"bmi": 1}, {"bmi": "high"}]}')
    error = invalid_input_from(failed.value, "inputs")
    assert (str(error), error.index, error.field) == (
        "inputs[1].bmi: Input should be a valid number, unable to parse string as a number",
        1,
        "inputs[1].bmi",
    )


def test_too_long_a_list_is_too_many_items_and_bad_json_is_the_body() -> None:
    with pytest.raises(pydantic.ValidationError) as failed:
        _Body.model_validate_json('{"inputs": [{"bmi": 1}, {"bmi": 1}, {"bmi": 1}]}')
    assert problem_for(invalid_input_from(failed.value, "inputs")).status == 413
    with pytest.raises(pydantic.ValidationError) as failed:
        _Body.model_validate_json('{"inputs": [')
    error = invalid_input_from(failed.value, "inputs")
    assert error.field == "body" and str(error).startswith("body: is not valid JSON")


@pytest.mark.parametrize(
    ("relative", "list_field", "item", "field"),
    [
        ("input.bmi", "inputs", "input", "inputs[3].bmi"),
        ("input[2]", "inputs", "input", "inputs[3][2]"),
        ("input", "inputs", "input", "inputs[3]"),
        ("input.bmi", "examples", "", "examples[3].input.bmi"),
        ("label", "examples", "", "examples[3].label"),
    ],
)
def test_an_item_error_is_renamed_to_where_the_item_sits_in_the_body(
    relative: str, list_field: str, item: str, field: str
) -> None:
    error = in_list(InvalidInputError(f"{relative}: Field required", index=3, field=relative), list_field, item=item)
    assert (str(error), error.index, error.field) == (f"{field}: Field required", 3, field)


@pytest.mark.parametrize("authorization", ["Bearer s3cret", "bearer s3cret", "BEARER s3cret", "Bearer  s3cret"])
def test_the_bearer_scheme_is_case_insensitive(authorization: str) -> None:
    check_token("s3cret", authorization)


@pytest.mark.parametrize("authorization", ["", "Bearer", "Bearer nope", "Basic s3cret", "s3cret", "Bearer s3cret2"])
def test_anything_but_the_token_is_unauthorized(authorization: str) -> None:
    with pytest.raises(UnauthorizedError):
        check_token("s3cret", authorization)
