"""The inference APIs: FastAPI apps with hot-reloaded champions and micro-batched predictions."""

from mlseam.serving.app import create_app
from mlseam.serving.server import serve

__all__ = ["create_app", "serve"]
