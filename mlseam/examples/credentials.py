"""Database credentials read from a Secrets Manager secret, read again when the database refuses them.

In AWS the RDS master password lives in a secret that RDS rotates. Reading it when a connection is
made, instead of baking it into the environment at start-up, keeps long-running APIs working
across a rotation and keeps the password out of every task definition.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

from mlseam.errors import StoreError

if TYPE_CHECKING:
    import psycopg2.extensions


@dataclass(frozen=True)
class Credentials:
    """A database user name and password."""

    user: str
    password: str


class SecretCredentials:
    """Credentials from a JSON secret (``{"username": ..., "password": ...}``, the RDS-managed shape)."""

    def __init__(self, fetch: Callable[[], str], secret_id: str) -> None:
        self._fetch = fetch
        self.secret_id = secret_id
        self._cached: Credentials | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_secrets_manager(cls, client: object, secret_id: str) -> SecretCredentials:
        """Read ``secret_id`` through a boto3 Secrets Manager ``client``."""

        def fetch() -> str:
            value: str = client.get_secret_value(SecretId=secret_id)["SecretString"]  # type: ignore[attr-defined]
            return value

        return cls(fetch, secret_id)

    def get(self, *, refresh: bool = False) -> Credentials:
        """The credentials, read from the secret on first use or when ``refresh`` asks for it."""
        with self._lock:
            if self._cached is None or refresh:
                self._cached = self._read()
            return self._cached

    def _read(self) -> Credentials:
        try:
            raw = self._fetch()
        except Exception as exc:  # any boto3 failure means the same thing to the caller
            raise StoreError(f"cannot read the database secret {self.secret_id}: {exc}") from exc
        try:
            value = json.loads(raw)
            return Credentials(user=str(value["username"]), password=str(value["password"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(
                f"the database secret {self.secret_id} must be JSON with 'username' and 'password' keys"
            ) from exc


def with_credentials(dsn: str, credentials: Credentials) -> str:
    """``dsn`` (a ``postgresql://`` URL) with ``credentials`` written into it, for tools that take one URL."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = f"{quote(credentials.user, safe='')}:{quote(credentials.password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def is_auth_failure(exc: BaseException) -> bool:
    """Whether a connection error says the password was refused (a rotated secret, say)."""
    text = str(exc).lower()
    return "password authentication failed" in text or "authentication failed for user" in text


def open_connection(
    dsn: str, credentials: SecretCredentials | None, *, options: str | None = None
) -> psycopg2.extensions.connection:
    """A psycopg2 connection to ``dsn``, with the secret's credentials when given (re-read once if refused).

    ``options`` are the server settings of the session (``-c statement_timeout=5000``).
    """
    import psycopg2

    if credentials is None:
        return psycopg2.connect(dsn, connect_timeout=5, options=options)
    given = credentials.get()
    try:
        return psycopg2.connect(dsn, user=given.user, password=given.password, connect_timeout=5, options=options)
    except psycopg2.OperationalError as exc:
        if not is_auth_failure(exc):
            raise
    # Refused: the secret may have been rotated since it was read, so read it once more.
    given = credentials.get(refresh=True)
    return psycopg2.connect(dsn, user=given.user, password=given.password, connect_timeout=5, options=options)
