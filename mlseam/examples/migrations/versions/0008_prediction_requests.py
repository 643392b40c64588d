"""The prediction log keeps one row per request instead of one per prediction.

A row holds the request body and the answer as text, exactly as they came and went, and the id
of its first prediction split into a random key and an index (the others follow it). Logging
then renders no JSON on the request path and costs one insert per request however many items it
holds; the database stores text instead of parsing every number of every input into ``jsonb``.
Each logged prediction of the old table becomes a one-prediction row of the new one, under the
same id, in a partition of the same day; downgrading turns the rows back into predictions.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD, NEW = "prediction_log", "prediction_requests"


def _day_partitions(table: str, source: str) -> str:
    """SQL creating ``table``'s day partition for each UTC day ``source`` holds entries of."""
    return f"""
        DO $$
        DECLARE day date;
        BEGIN
            FOR day IN SELECT DISTINCT (logged_at AT TIME ZONE 'UTC')::date FROM {source} LOOP
                EXECUTE format(
                    'CREATE TABLE IF NOT EXISTS %I PARTITION OF {table} FOR VALUES FROM (%L) TO (%L)',
                    '{table}_p' || to_char(day, 'YYYYMMDD'),
                    day::timestamp AT TIME ZONE 'UTC',
                    (day + 1)::timestamp AT TIME ZONE 'UTC'
                );
            END LOOP;
        END $$
    """


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE {NEW} (
            request_key text NOT NULL,
            first_index bigint NOT NULL,
            items       integer NOT NULL,
            service     text NOT NULL,
            version     text NOT NULL,
            request_id  text,
            logged_at   timestamptz NOT NULL,
            request     text NOT NULL,
            answer      text NOT NULL
        ) PARTITION BY RANGE (logged_at)
        """
    )
    # Labels join on (service, request_key); monitoring reads a service's recent window.
    op.execute(f"CREATE INDEX {NEW}_service_key ON {NEW} (service, request_key)")
    op.execute(f"CREATE INDEX {NEW}_service_logged_at ON {NEW} (service, logged_at)")
    op.execute(_day_partitions(NEW, OLD))
    op.execute(
        f"""
        INSERT INTO {NEW} (request_key, first_index, items, service, version, request_id, logged_at, request, answer)
        SELECT left(prediction_id, 24), ('x' || lpad(right(prediction_id, 8), 16, '0'))::bit(64)::bigint, 1,
               service, version, request_id, logged_at,
               json_build_object('inputs', json_build_array(input))::text,
               json_build_object('outputs', json_build_array(output), 'model_version', version)::text
        FROM {OLD} WHERE prediction_id ~ '^[0-9a-f]{{32}}$'
        """
    )
    op.execute(f"DROP TABLE {OLD}")


def downgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE {OLD} (
            prediction_id text NOT NULL,
            service       text NOT NULL,
            version       text NOT NULL,
            request_id    text,
            logged_at     timestamptz NOT NULL,
            input         jsonb NOT NULL,
            output        jsonb NOT NULL
        ) PARTITION BY RANGE (logged_at)
        """
    )
    op.execute(f"CREATE INDEX {OLD}_service_prediction ON {OLD} (service, prediction_id)")
    op.execute(f"CREATE INDEX {OLD}_service_logged_at ON {OLD} (service, logged_at)")
    op.execute(_day_partitions(OLD, NEW))
    op.execute(
        f"""
        INSERT INTO {OLD} (prediction_id, service, version, request_id, logged_at, input, output)
        SELECT r.request_key || lpad(to_hex(r.first_index + i.n - 1), 8, '0'), r.service, r.version, r.request_id,
               r.logged_at, i.value::jsonb, o.value::jsonb - 'prediction_id'
        FROM {NEW} AS r
        CROSS JOIN LATERAL json_array_elements(r.request::json -> 'inputs') WITH ORDINALITY AS i(value, n)
        JOIN LATERAL json_array_elements(r.answer::json -> 'outputs') WITH ORDINALITY AS o(value, m) ON i.n = o.m
        WHERE json_typeof(o.value) = 'object'
        """
    )
    op.execute(f"DROP TABLE {NEW}")
