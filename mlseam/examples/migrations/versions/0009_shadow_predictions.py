"""The prediction log keeps a challenger's answers in shadow beside the champion's, and each answer's latency.

``shadow_of`` links a challenger's row to the champion's first prediction of the same request (its
items follow in order), so agreement and live metrics compare the two on the same inputs;
``outcome`` marks a challenger's call that failed (``error``, ``timeout``, ``dropped``: its outputs are
empty); ``latency_ms`` is how long the answer took. Adding nullable columns rewrites no partition.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLE = "prediction_requests"


def upgrade() -> None:
    op.execute(f"ALTER TABLE {TABLE} ADD COLUMN latency_ms real, ADD COLUMN shadow_of text, ADD COLUMN outcome text")
    # Labels arrive by the champion's prediction ids: the challenger's rows are found by the champion's row key.
    op.execute(
        f"CREATE INDEX {TABLE}_service_shadow_of ON {TABLE} (service, left(shadow_of, 24)) WHERE shadow_of IS NOT NULL"
    )


def downgrade() -> None:
    op.execute(f"DELETE FROM {TABLE} WHERE shadow_of IS NOT NULL")
    op.execute(f"DROP INDEX IF EXISTS {TABLE}_service_shadow_of")
    op.execute(f"ALTER TABLE {TABLE} DROP COLUMN latency_ms, DROP COLUMN shadow_of, DROP COLUMN outcome")
