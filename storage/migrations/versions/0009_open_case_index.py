"""open case index: the overdue count over open cases' deadlines only; the dismissed cases
found without scanning every event

Revision ID: 0009
Revises: 0008_staff_community
Create Date: 2026-11-26 06:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008_staff_community'
branch_labels = None
depends_on = None

# as storage.models.OPEN_CASES_SQL when this migration was written (a migration keeps its own)
OPEN_CASES_SQL = "status IN ('reported', 'accepted', 'dispatched', 'reopened')"


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_open_due', ['status', 'accept_due_at', 'resolve_due_at'],
                              unique=False, postgresql_where=sa.text(OPEN_CASES_SQL),
                              sqlite_where=sa.text(OPEN_CASES_SQL))
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.create_index('ix_case_events_dismissed', ['case_id'], unique=False,
                              postgresql_where=sa.text("action = 'dismiss'"),
                              sqlite_where=sa.text("action = 'dismiss'"))


def downgrade() -> None:
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_index('ix_case_events_dismissed')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_open_due')
