"""The ``ocr`` task kind's table: strip images (JSON rows of numbers) labelled with their text.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLE = "ocr_examples"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE {TABLE} (
            id          bigserial PRIMARY KEY,
            service     text NOT NULL,
            external_id text NOT NULL,
            input       jsonb NOT NULL,
            label       text NOT NULL,
            source      text NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT {TABLE}_service_external_id UNIQUE (service, external_id)
        )
        """
    )
    # Reads stream one service's rows in id order up to a watermark.
    op.execute(f"CREATE INDEX {TABLE}_service_id ON {TABLE} (service, id)")


def downgrade() -> None:
    op.execute(f"DROP TABLE {TABLE}")
