"""The route label of a request path, read from the apps' own route tables, so every route is counted as itself."""

from __future__ import annotations

import re

from fastapi.routing import iter_route_contexts
from starlette.applications import Starlette
from starlette.routing import Mount, compile_path

UNMATCHED = ("-", "unmatched")
"""The labels of a path no route serves: label values stay bounded whatever clients send."""


class RouteLabels:
    """(service, route template) for a path, from the routes of each service app mounted on ``root``.

    The table is read when the first request arrives, once every route has been added.
    """

    def __init__(self, root: Starlette) -> None:
        self.root = root
        self._table: _Table | None = None

    def of(self, path: str) -> tuple[str, str]:
        """``("digits", "/v1/batches/{batch_id}")`` for ``/digits/v1/batches/ab12``; UNMATCHED otherwise."""
        if self._table is None:
            self._table = _read_routes(self.root)
        exact, templated = self._table
        labels = exact.get(path)
        if labels is not None:
            return labels
        for pattern, template in templated:
            if pattern.match(path):
                return template
        return UNMATCHED


_Table = tuple[dict[str, tuple[str, str]], list[tuple[re.Pattern[str], tuple[str, str]]]]
"""Labels by exact path, and by pattern for the routes with path parameters."""


def _read_routes(root: Starlette) -> _Table:
    exact: dict[str, tuple[str, str]] = {}
    templated: list[tuple[re.Pattern[str], tuple[str, str]]] = []
    for mount in root.routes:
        if not isinstance(mount, Mount):
            continue
        service = mount.path.strip("/")
        # FastAPI keeps an included router as one entry; its contexts are the routes it serves.
        for context in iter_route_contexts(mount.routes):
            if context.path is None:
                continue
            regex, template, convertors = compile_path(context.path)
            if convertors:
                templated.append((re.compile(re.escape(mount.path) + regex.pattern[1:]), (service, template)))
            else:
                exact[mount.path + context.path] = (service, template)
    return exact, templated
