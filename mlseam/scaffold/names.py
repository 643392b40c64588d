"""Service name rules for new services: DNS-safe, short enough for AWS names, not reserved."""

from __future__ import annotations

from mlseam.errors import ConfigError
from mlseam.manifest import MAX_NAME_LENGTH, SERVICE_NAME

RESERVED_NAMES = frozenset(
    {
        # Paths a service serves under /<name>/, and what a platform puts at the root of an API:
        # a service named so would shadow a root route or read like one in logs and dashboards.
        "admin",
        "api",
        "docs",
        "health",
        "healthz",
        "livez",
        "metrics",
        "openapi",
        "readyz",
        "redoc",
        "static",
        "v1",
        # The platform's own words: its package, commands and the AWS name suffixes it adds.
        "batches",
        "mlseam",
        "platform",
        "retrain",
        "serve",
        "services",
        "status",
        "worker",
        # Names that tools or readers take for something else.
        "default",
        "local",
        "none",
        "null",
        "template",
        "templates",
        "test",
        "tests",
    }
)
"""Names a new service may not take (all DNS-safe, so only this list refuses them)."""


def check_service_name(name: str) -> None:
    """Raise ConfigError (one line saying what to do) unless ``name`` may name a new service."""
    if not SERVICE_NAME.match(name):
        raise ConfigError(
            f"invalid service name {name!r}: use 3-{MAX_NAME_LENGTH} characters of a-z, 0-9 and '-', "
            "starting with a letter and ending with a letter or digit, e.g. receipt-totals"
        )
    if name in RESERVED_NAMES:
        raise ConfigError(
            f"service name {name!r} is reserved (an API route or a platform word); "
            "pick a name saying what the service predicts, e.g. receipt-totals"
        )


def class_name_for(name: str) -> str:
    """The model class of service ``name``: ``receipt-totals`` -> ``ReceiptTotalsModel``."""
    words = "".join(word.capitalize() for word in name.split("-") if word)
    return words if words.endswith("Model") else f"{words}Model"
