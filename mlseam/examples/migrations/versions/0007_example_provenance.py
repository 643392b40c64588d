"""Provenance, corrections and quarantine of labelled examples.

Every examples table gains the request id of an API write, the prediction id an example labels,
and ``superseded_by``: a corrected label is a new row and the old row points at it, so a read at
an older watermark still sees the old label. The unique (service, external_id) constraint becomes
a unique index over the rows not superseded. Quarantine events (one per ``mlseam examples
quarantine`` or ``release``) and the rows each one covered are kept in two tables, never updated.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Every task kind's table at the time of this revision.
TABLES = [
    "image_classification_examples",
    "tabular_regression_examples",
    "ocr_examples",
    "tabular_classification_examples",
    "text_detection_examples",
]


def upgrade() -> None:
    for table in TABLES:
        op.execute(
            f"""
            ALTER TABLE {table}
                ADD COLUMN request_id    text,
                ADD COLUMN prediction_id text,
                ADD COLUMN superseded_by bigint
            """
        )
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_service_external_id")
        op.execute(
            f"CREATE UNIQUE INDEX {table}_current_external_id ON {table} (service, external_id) "
            "WHERE superseded_by IS NULL"
        )
        # A read counts the rows superseded up to its watermark from these few, not the whole table.
        op.execute(
            f"CREATE INDEX {table}_superseded ON {table} (service, superseded_by) WHERE superseded_by IS NOT NULL"
        )
        # Labels for logged predictions are joined to the prediction log by this id.
        op.execute(f"CREATE INDEX {table}_prediction_id ON {table} (prediction_id) WHERE prediction_id IS NOT NULL")
    op.execute(
        """
        CREATE TABLE example_quarantine_events (
            id             bigserial PRIMARY KEY,
            service        text NOT NULL,
            examples_table text NOT NULL,
            action         text NOT NULL CHECK (action IN ('quarantine', 'release')),
            rule           text NOT NULL,
            reason         text NOT NULL,
            actor          text NOT NULL,
            rows           integer NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX example_quarantine_events_service ON example_quarantine_events (service, id)")
    op.execute(
        """
        CREATE TABLE example_quarantine_rows (
            event_id       bigint NOT NULL REFERENCES example_quarantine_events (id),
            service        text NOT NULL,
            examples_table text NOT NULL,
            example_id     bigint NOT NULL,
            quarantined    boolean NOT NULL,
            PRIMARY KEY (event_id, example_id)
        )
        """
    )
    # A read finds each row's latest event up to a revision.
    op.execute(
        "CREATE INDEX example_quarantine_rows_lookup "
        "ON example_quarantine_rows (service, examples_table, example_id, event_id)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE example_quarantine_rows")
    op.execute("DROP TABLE example_quarantine_events")
    for table in TABLES:
        op.execute(f"DROP INDEX {table}_prediction_id")
        op.execute(f"DROP INDEX {table}_superseded")
        op.execute(f"DROP INDEX {table}_current_external_id")
        # Only the rows not superseded fit the old constraint: the corrected-away ones go.
        op.execute(f"DELETE FROM {table} WHERE superseded_by IS NOT NULL")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_service_external_id UNIQUE (service, external_id)")
        op.execute(f"ALTER TABLE {table} DROP COLUMN request_id, DROP COLUMN prediction_id, DROP COLUMN superseded_by")
