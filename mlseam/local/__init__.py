"""The local stack: a real PostgreSQL server and an AWS emulator on 127.0.0.1, used by `make run` and the tests."""

from mlseam.local.aws import LocalAws
from mlseam.local.ports import free_port
from mlseam.local.postgres import LocalPostgres

__all__ = ["LocalAws", "LocalPostgres", "free_port"]
