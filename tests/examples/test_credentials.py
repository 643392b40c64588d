"""Database credentials from a Secrets Manager secret: read at connect time, read again after a rotation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import psycopg2
import pytest

from builders import FEATURES, linear_examples
from mlseam.aws import aws_client
from mlseam.errors import StoreError
from mlseam.examples.credentials import Credentials, SecretCredentials, with_credentials
from mlseam.settings import Settings
from mlseam.stores import build_stores, database_url
from mlseam.tasks import TabularRegression

table = TabularRegression.from_manifest({"features": FEATURES})


def test_the_secret_is_read_once_and_again_on_refresh() -> None:
    # given
    values = iter([{"username": "app", "password": "one"}, {"username": "app", "password": "two"}])
    reads: list[str] = []

    def fetch() -> str:
        reads.append("read")
        return json.dumps(next(values))

    credentials = SecretCredentials(fetch, "db-secret")
    # when / then
    assert credentials.get() == Credentials("app", "one")
    assert credentials.get() == Credentials("app", "one")
    assert len(reads) == 1
    assert credentials.get(refresh=True) == Credentials("app", "two")


@pytest.mark.parametrize("raw", ["not json", json.dumps({"username": "app"}), json.dumps(["app", "pw"])])
def test_a_malformed_secret_says_which_keys_it_needs(raw: str) -> None:
    with pytest.raises(StoreError, match="must be JSON with 'username' and 'password'"):
        SecretCredentials(lambda: raw, "db-secret").get()


def test_an_unreadable_secret_names_it() -> None:
    def fetch() -> str:
        raise RuntimeError("AccessDenied")

    with pytest.raises(StoreError, match="cannot read the database secret db-secret: AccessDenied"):
        SecretCredentials(fetch, "db-secret").get()


def test_credentials_are_escaped_into_the_url() -> None:
    url = with_credentials(
        "postgresql://master@db.example:5432/mlseam?sslmode=require", Credentials("a@b", "p@ss:w/rd%")
    )
    parts = urlsplit(url)
    assert (unquote(parts.username or ""), unquote(parts.password or "")) == ("a@b", "p@ss:w/rd%")
    assert (parts.hostname, parts.port, parts.path, parts.query) == ("db.example", 5432, "/mlseam", "sslmode=require")


@pytest.fixture
def password_role(settings: Settings) -> Iterator[tuple[str, str]]:
    """A login role that must give its password (scram) on this server; the rest of the stack keeps trust."""
    role, password = f"rotated_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    conn = psycopg2.connect(settings.dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET password_encryption = 'scram-sha-256'")
        cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD %s", (password,))
        cur.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        cur.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
        cur.execute("SELECT setting FROM pg_settings WHERE name = 'hba_file'")
        (hba_file,) = cur.fetchone()
        cur.execute("SELECT pg_read_file(%s)", (hba_file,))
        (original,) = cur.fetchone()
        _write_server_file(cur, hba_file, f"host all {role} 127.0.0.1/32 scram-sha-256\n{original}")
    try:
        yield role, password
    finally:
        with conn.cursor() as cur:
            _write_server_file(cur, hba_file, original)
            cur.execute(f"REASSIGN OWNED BY {role} TO CURRENT_USER")
            cur.execute(f"DROP OWNED BY {role}")
            cur.execute(f"DROP ROLE {role}")
        conn.close()


def _write_server_file(cur: psycopg2.extensions.cursor, path: str, text: str) -> None:
    """Write a file as the server's own user (a large object exported by the server), then reload."""
    cur.execute("SELECT lo_from_bytea(0, convert_to(%s, 'UTF8'))", (text,))
    (oid,) = cur.fetchone()
    cur.execute("SELECT lo_export(%s, %s), lo_unlink(%s), pg_reload_conf()", (oid, path, oid))


def test_the_store_logs_in_with_the_secret_and_survives_a_rotation(
    settings: Settings, password_role: tuple[str, str]
) -> None:
    # given: the URL names no password; the secret holds the role's
    role, password = password_role
    secret_id = f"mlseam/test/db-{uuid.uuid4().hex[:8]}"
    secrets = aws_client(settings, "secretsmanager")
    secrets.create_secret(Name=secret_id, SecretString=json.dumps({"username": role, "password": password}))
    configured = settings.model_copy(update={"database_secret_id": secret_id})
    stores = build_stores(configured)
    service = f"secret-{uuid.uuid4().hex[:8]}"
    # when: examples are stored through the secret's credentials
    assert stores.examples.add(service, table, linear_examples(5, seed=1), source="test").new == 5
    # then: the server saw that role, and a wrong password is really refused
    with psycopg2.connect(database_url(configured)) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone() == (role,)
    conn.close()
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(settings.dsn, user=role, password=uuid.uuid4().hex).close()

    # when: the password rotates after the store read the secret
    rotated = uuid.uuid4().hex
    with psycopg2.connect(settings.dsn) as conn, conn.cursor() as cur:
        cur.execute("SET password_encryption = 'scram-sha-256'")
        cur.execute(f"ALTER ROLE {role} PASSWORD %s", (rotated,))
    conn.close()
    secrets.put_secret_value(SecretId=secret_id, SecretString=json.dumps({"username": role, "password": rotated}))
    # then: the refused connection reads the secret again and the write goes through
    assert stores.examples.add(service, table, linear_examples(8, seed=2), source="test").new == 8
    assert stores.examples.stats(service, table).count == 13
