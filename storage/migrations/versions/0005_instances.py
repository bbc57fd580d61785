"""instances: the bot account serving each group and sending each outbox row, leases for
leader election, an index for per-sender rate limits

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 01:56:31.011775
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import storage.models


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leases',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('expires_at', storage.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('chat_groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.create_index(batch_op.f('ix_chat_groups_account'), ['account'], unique=False)

    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False, server_default=''))
        batch_op.drop_constraint('uq_inbound_message', type_='unique')
        batch_op.create_unique_constraint('uq_inbound_message', ['transport', 'account', 'message_id'])
        batch_op.create_index('ix_inbound_sender_received', ['sender_id', 'received_at'], unique=False)

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column('sent_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_account'), ['account'], unique=False)

    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_column('account')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_account'))
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('sent_by')
        batch_op.drop_column('account')

    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_sender_received')
        batch_op.drop_constraint('uq_inbound_message', type_='unique')
        batch_op.create_unique_constraint('uq_inbound_message', ['transport', 'message_id'])
        batch_op.drop_column('account')

    with op.batch_alter_table('chat_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_groups_account'))
        batch_op.drop_column('account')

    op.drop_table('leases')
