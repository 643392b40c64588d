"""The inference APIs over HTTP: FastAPI apps, routes, auth, error answers, request metrics, uvicorn."""

from mlseam.serving.app import create_app
from mlseam.serving.server import serve

__all__ = ["create_app", "serve"]
