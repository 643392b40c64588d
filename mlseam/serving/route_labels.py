"""The route label of a request path, read from the apps' own route tables, so every route is counted as itself."""

from __future__ import annotations

import re

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Mount, compile_path
from starlette.types import ASGIApp

UNMATCHED = ("-", "unmatched")
"""The labels of a path no route serves: label values stay bounded whatever clients send."""


class RouteLabels:
    """(service, route template) for a path, from the routes of each service app mounted on ``root``.

    The table is read when the first request arrives, once every route has been added.
    """

    def __init__(self, root: ASGIApp) -> None:
        self.root = root
        self._exact: dict[str, tuple[str, str]] | None = None
        self._templated: list[tuple[re.Pattern[str], tuple[str, str]]] = []

    def of(self, path: str) -> tuple[str, str]:
        """``("digits", "/v1/batches/{batch_id}")`` for ``/digits/v1/batches/ab12``; UNMATCHED otherwise."""
        if self._exact is None:
            self._read_routes()
            assert self._exact is not None  # noqa: S101 - set by _read_routes
        labels = self._exact.get(path)
        if labels is not None:
            return labels
        for pattern, templated in self._templated:
            if pattern.match(path):
                return templated
        return UNMATCHED

    def _read_routes(self) -> None:
        exact: dict[str, tuple[str, str]] = {}
        for mount in _routes(self.root):
            if not isinstance(mount, Mount):
                continue
            service = mount.path.strip("/")
            # FastAPI keeps an included router as one entry; its contexts are the routes it serves.
            for context in iter_route_contexts(mount.routes):
                if context.path is None:
                    continue
                regex, template, convertors = compile_path(context.path)
                labels = (service, template)
                if convertors:
                    self._templated.append((re.compile(re.escape(mount.path) + regex.pattern[1:]), labels))
                else:
                    exact[mount.path + context.path] = labels
        self._exact = exact


def _routes(app: ASGIApp) -> list[BaseRoute]:
    """The routes of ``app``, looking through the ASGI wrappers that keep theirs in ``.app``."""
    while not isinstance(getattr(app, "routes", None), list) and hasattr(app, "app"):
        app = app.app
    routes: list[BaseRoute] = getattr(app, "routes", [])
    return routes
