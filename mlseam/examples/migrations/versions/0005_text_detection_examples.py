"""The ``text_detection`` task kind's table: grayscale images labelled with their text boxes.

The label is a JSON list of ``{x, y, width, height}`` boxes (possibly empty: an image without text).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "text_detection_examples"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE {TABLE} (
            id          bigserial PRIMARY KEY,
            service     text NOT NULL,
            external_id text NOT NULL,
            input       jsonb NOT NULL,
            label       jsonb NOT NULL,
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
