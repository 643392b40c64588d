"""FastAPI exception handlers: every error leaves as the JSON body of ``problems``, never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlseam.errors import MlseamError
from mlseam.serving.problems import HttpError, Problem, problem_for, render_problem

log = logging.getLogger("mlseam.serving")


def problem_response(problem: Problem) -> Response:
    """``problem`` as a FastAPI response."""
    headers = {"connection": "close"} if problem.close else None
    return Response(render_problem(problem), status_code=problem.status, media_type="application/json", headers=headers)


async def _known(request: Request, exc: Exception) -> Response:
    problem = problem_for(exc)
    if problem.status >= 500:
        log.error("%s on %s: %s", type(exc).__name__, request.url.path, exc, exc_info=problem.status != 503)
    return problem_response(problem)


async def _routing(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it only
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}; see /<service>/docs for the API"
        return problem_response(Problem(404, "not_found", message))
    if exc.status_code == 405:
        return problem_response(
            Problem(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}")
        )
    return problem_response(Problem(exc.status_code, "http_error", str(exc.detail)))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return problem_response(problem_for(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Domain errors, HTTP-only errors and validation failures answer through the one table."""
    for error in (MlseamError, HttpError, RequestValidationError):
        app.add_exception_handler(error, _known)
    app.add_exception_handler(StarletteHTTPException, _routing)
    app.add_exception_handler(Exception, _unexpected)
