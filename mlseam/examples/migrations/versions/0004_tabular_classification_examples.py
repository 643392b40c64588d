"""The ``tabular_classification`` task kind's table: named features labelled with a class name.

Like the regression table it keeps the validated feature values as a float8[] beside the JSON
input (``features_key`` names the feature list they follow), so reads can use a binary COPY.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "tabular_classification_examples"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE {TABLE} (
            id           bigserial PRIMARY KEY,
            service      text NOT NULL,
            external_id  text NOT NULL,
            input        jsonb NOT NULL,
            label        text NOT NULL,
            source       text NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            features     double precision[],
            features_key text,
            CONSTRAINT {TABLE}_service_external_id UNIQUE (service, external_id)
        )
        """
    )
    # Reads stream one service's rows in id order up to a watermark.
    op.execute(f"CREATE INDEX {TABLE}_service_id ON {TABLE} (service, id)")


def downgrade() -> None:
    op.execute(f"DROP TABLE {TABLE}")
