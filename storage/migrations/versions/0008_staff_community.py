"""staff community: the community (or the whole street) a staff person answers for in chat

Backfills what the rows already say: a staff person registered in one of a community's grids, or
linked to a community staff account, serves that community; one linked to a township admin
account serves that account's street when there is just one. Anyone else stays unset and is
refused in chat until an admin sets it (handlers/commands/permissions.py).

Revision ID: 0008_staff_community
Revises: 0007
Create Date: 2026-11-26 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_staff_community'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('community_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('street_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_people_community_id'), ['community_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_people_street_id'), ['street_id'], unique=False)
        batch_op.create_foreign_key('fk_people_community_id_communities', 'communities',
                                    ['community_id'], ['id'])
        batch_op.create_foreign_key('fk_people_street_id_streets', 'streets',
                                    ['street_id'], ['id'])
    op.execute(
        "UPDATE people SET community_id = (SELECT grids.community_id FROM grids "
        "WHERE grids.id = people.grid_id) "
        "WHERE role = 'staff' AND grid_id IS NOT NULL AND community_id IS NULL")
    op.execute(
        "UPDATE people SET community_id = (SELECT a.community_id FROM staff_accounts a "
        "WHERE a.person_id = people.id AND a.role = 'community_staff') "
        "WHERE role = 'staff' AND community_id IS NULL")
    op.execute(
        "UPDATE people SET street_id = (SELECT MIN(streets.id) FROM streets) "
        "WHERE role = 'staff' AND community_id IS NULL AND street_id IS NULL "
        "AND (SELECT COUNT(*) FROM streets) = 1 "
        "AND EXISTS (SELECT 1 FROM staff_accounts a WHERE a.person_id = people.id "
        "AND a.role = 'township_admin')")


def downgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_constraint('fk_people_street_id_streets', type_='foreignkey')
        batch_op.drop_constraint('fk_people_community_id_communities', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_people_street_id'))
        batch_op.drop_index(batch_op.f('ix_people_community_id'))
        batch_op.drop_column('street_id')
        batch_op.drop_column('community_id')
