"""The prediction log: partitioned by RANGE on its log time, one partition per UTC day.

The writer creates each day's partition on demand; retention drops whole partitions, so expiring
a day costs one catalog change instead of a DELETE over millions of rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLE = "prediction_log"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE {TABLE} (
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
    # Labels join on (service, prediction_id); monitoring reads a service's recent window.
    op.execute(f"CREATE INDEX {TABLE}_service_prediction ON {TABLE} (service, prediction_id)")
    op.execute(f"CREATE INDEX {TABLE}_service_logged_at ON {TABLE} (service, logged_at)")


def downgrade() -> None:
    op.execute(f"DROP TABLE {TABLE}")
