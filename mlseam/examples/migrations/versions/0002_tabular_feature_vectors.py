"""Tabular examples keep their validated feature values as a float8[] beside the JSON input.

Reads build the training matrix from this column with a binary COPY instead of parsing JSON
in SQL (about ten times cheaper per row). ``features_key`` names the feature list the values
follow; rows written under another list, or by a writer that filled only ``input``, are read
from the JSON instead.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE tabular_regression_examples ADD COLUMN features double precision[], ADD COLUMN features_key text"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE tabular_regression_examples DROP COLUMN features, DROP COLUMN features_key")
