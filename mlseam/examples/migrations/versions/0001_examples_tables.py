"""One table of labelled examples per task kind.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# (table, SQL type of its label) for each task kind at the time of this revision.
TABLES = [
    ("image_classification_examples", "text"),
    ("tabular_regression_examples", "double precision"),
]


def upgrade() -> None:
    for table, label_type in TABLES:
        op.execute(
            f"""
            CREATE TABLE {table} (
                id          bigserial PRIMARY KEY,
                service     text NOT NULL,
                external_id text NOT NULL,
                input       jsonb NOT NULL,
                label       {label_type} NOT NULL,
                source      text NOT NULL,
                created_at  timestamptz NOT NULL DEFAULT now(),
                CONSTRAINT {table}_service_external_id UNIQUE (service, external_id)
            )
            """
        )
        # Reads stream one service's rows in id order up to a watermark.
        op.execute(f"CREATE INDEX {table}_service_id ON {table} (service, id)")


def downgrade() -> None:
    for table, _ in TABLES:
        op.execute(f"DROP TABLE {table}")
