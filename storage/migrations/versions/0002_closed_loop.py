"""closed loop

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 03:19:30.437943
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import storage.models


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_supporters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'person_id', name='uq_case_supporter')
    )
    with op.batch_alter_table('case_supporters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_supporters_case_id'), ['case_id'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignee_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('dispatched_to', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column('merged_into', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('satisfaction', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column('reopen_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('escalation_level', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('accept_due_at', storage.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolve_due_at', storage.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('reminded_at', storage.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('accepted_at', storage.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', storage.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('followup_reminded_at', storage.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('closed_at', storage.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('urged_at', storage.models.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_cases_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_foreign_key('fk_cases_assignee_id_people', 'people', ['assignee_id'], ['id'])

    with op.batch_alter_table('chat_groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False, server_default='resident'))
        batch_op.add_column(sa.Column('community_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_chat_groups_community_id'), ['community_id'], unique=False)
        batch_op.create_foreign_key('fk_chat_groups_community_id_communities', 'communities', ['community_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('chat_groups', schema=None) as batch_op:
        batch_op.drop_constraint('fk_chat_groups_community_id_communities', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_chat_groups_community_id'))
        batch_op.drop_column('community_id')
        batch_op.drop_column('kind')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint('fk_cases_assignee_id_people', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_cases_assignee_id'))
        batch_op.drop_column('urged_at')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('followup_reminded_at')
        batch_op.drop_column('resolved_at')
        batch_op.drop_column('accepted_at')
        batch_op.drop_column('reminded_at')
        batch_op.drop_column('resolve_due_at')
        batch_op.drop_column('accept_due_at')
        batch_op.drop_column('escalation_level')
        batch_op.drop_column('reopen_count')
        batch_op.drop_column('satisfaction')
        batch_op.drop_column('merged_into')
        batch_op.drop_column('dispatched_to')
        batch_op.drop_column('assignee_id')

    with op.batch_alter_table('case_supporters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_supporters_case_id'))

    op.drop_table('case_supporters')
