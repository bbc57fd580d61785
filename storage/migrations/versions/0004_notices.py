"""notices: notices, their runs, deliveries and receipts; digest runs; group tags and the
township group; outbox claims

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 01:34:48.488511
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import storage.models


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('digest_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('messages', sa.Integer(), nullable=False),
    sa.Column('at', storage.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_table('notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('targets', sa.JSON(), nullable=False),
    sa.Column('send_at', storage.models.UTCDateTime(), nullable=True),
    sa.Column('repeat', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('repeat_until', storage.models.UTCDateTime(), nullable=True),
    sa.Column('ask_receipt', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('next_run_at', storage.models.UTCDateTime(), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_by_person_id', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
    sa.Column('cancelled_at', storage.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_person_id'], ['people.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notices_next_run_at'), ['next_run_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_status'), ['status'], unique=False)

    op.create_table('notice_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['chat_groups.id'], ),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('notice_id', 'person_id', name='uq_notice_receipt')
    )
    with op.batch_alter_table('notice_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_receipts_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_receipts_notice_id'), ['notice_id'], unique=False)

    op.create_table('notice_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('scheduled_for', storage.models.UTCDateTime(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('notice_id', 'key', name='uq_notice_run')
    )
    with op.batch_alter_table('notice_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_runs_notice_id'), ['notice_id'], unique=False)

    op.create_table('notice_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['chat_groups.id'], ),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], ),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['notice_runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'group_id', name='uq_notice_delivery')
    )
    with op.batch_alter_table('notice_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_deliveries_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_deliveries_notice_id'), ['notice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_deliveries_run_id'), ['run_id'], unique=False)

    with op.batch_alter_table('chat_groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('street_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('tags', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.create_index(batch_op.f('ix_chat_groups_street_id'), ['street_id'], unique=False)
        batch_op.create_foreign_key('fk_chat_groups_street_id_streets', 'streets', ['street_id'], ['id'])

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_at', storage.models.UTCDateTime(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')

    with op.batch_alter_table('chat_groups', schema=None) as batch_op:
        batch_op.drop_constraint('fk_chat_groups_street_id_streets', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_chat_groups_street_id'))
        batch_op.drop_column('tags')
        batch_op.drop_column('street_id')

    with op.batch_alter_table('notice_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_deliveries_run_id'))
        batch_op.drop_index(batch_op.f('ix_notice_deliveries_notice_id'))
        batch_op.drop_index(batch_op.f('ix_notice_deliveries_group_id'))

    op.drop_table('notice_deliveries')
    with op.batch_alter_table('notice_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_runs_notice_id'))

    op.drop_table('notice_runs')
    with op.batch_alter_table('notice_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_receipts_notice_id'))
        batch_op.drop_index(batch_op.f('ix_notice_receipts_group_id'))

    op.drop_table('notice_receipts')
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notices_status'))
        batch_op.drop_index(batch_op.f('ix_notices_next_run_at'))

    op.drop_table('notices')
    op.drop_table('digest_runs')
