"""The dashboard's ASGI app: server-rendered pages, its own static files, a strict CSP, optional auth."""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from mlseam.dashboard.pages import Reader, overview_context, service_context
from mlseam.errors import UnknownServiceError

HERE = Path(__file__).parent
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Scripts only from the dashboard's own files (no inline script, no other origin). Inline styles are
allowed because the charting library positions its elements with them; they cannot run code."""
PLOTLY_JS = Path(str(files("plotly") / "package_data" / "plotly.min.js"))
"""The charting library's browser bundle, shipped inside the ``plotly`` wheel: nothing comes from the internet."""


class _Headers(BaseHTTPMiddleware):
    """The CSP and friends on every answer; the token (bearer, or basic auth's password) when set."""

    def __init__(self, app: object, token: str | None) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.token = token

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if self.token is not None and not request.url.path.endswith("/healthz") and not self._authorised(request):
            response: Response = PlainTextResponse(
                "wants the API token", status_code=401, headers={"WWW-Authenticate": 'Basic realm="mlseam"'}
            )
        else:
            response = await call_next(request)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    def _authorised(self, request: Request) -> bool:
        assert self.token is not None  # noqa: S101 - only called when a token is set
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            given = value.strip()
        elif scheme.lower() == "basic":
            try:
                given = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                return False
        else:
            return False
        return hmac.compare_digest(given.encode(), self.token.encode())


def create_dashboard_app(reader: Reader, *, prefix: str = "", token: str | None = None) -> Starlette:
    """The dashboard for ``reader``'s stores, its routes under ``prefix`` (``/dashboard`` behind the ALB)."""
    prefix = prefix.rstrip("/")
    templates = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True), auto_reload=False
    )

    def render(name: str, context: dict[str, object], status: int = 200) -> HTMLResponse:
        context = {"charts": {}, "now": datetime.now(UTC).isoformat(timespec="seconds"), **context}
        html = templates.get_template(name).render(prefix=prefix, **context)
        return HTMLResponse(html, status_code=status)

    def overview(request: Request) -> Response:
        return render("overview.html", overview_context(reader))

    def service(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            return render("service.html", service_context(reader, name))
        except UnknownServiceError as exc:
            return render("missing.html", {"message": str(exc)}, status=404)

    def plotly(request: Request) -> Response:
        return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [
        Route(f"{prefix}/", overview),
        Route(f"{prefix}/services/{{name}}", service),
        Route(f"{prefix}/healthz", healthz),
        Route(f"{prefix}/static/plotly.min.js", plotly),
        Mount(f"{prefix}/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(_Headers, token=token)])
