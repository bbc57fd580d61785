"""scale indexes: the ledger's filters in newest-first order, the figures' grid + period, a
case's first response

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 05:30:00
"""
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

CASE_INDEXES = {
    "ix_cases_grid_no": ["grid_id", "no"],
    "ix_cases_status_no": ["status", "no"],
    "ix_cases_category_no": ["category", "no"],
    "ix_cases_grid_created": ["grid_id", "created_at"],
}


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        for name, columns in CASE_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.create_index('ix_case_events_case_action_at', ['case_id', 'action', 'at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_index('ix_case_events_case_action_at')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        for name in reversed(CASE_INDEXES):
            batch_op.drop_index(name)
