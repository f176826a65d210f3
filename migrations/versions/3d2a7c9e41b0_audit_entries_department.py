"""audit entries know their department (supervisors read their own department's)

Revision ID: 3d2a7c9e41b0
Revises: 9947a7e394f5
Create Date: 2026-12-07 19:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3d2a7c9e41b0'
down_revision = '9947a7e394f5'
branch_labels = None
depends_on = None

# Entries written before the column: their department where the record still says it (entity_id is
# text, so the record's key is compared as text). Others stay NULL, readable by admins only.
BACKFILL = {
    "booking": "SELECT topics.department_id FROM bookings JOIN topics ON topics.id = bookings.topic_id "
               "WHERE bookings.code = audit_entries.entity_id",
    "ticket": "SELECT tickets.department_id FROM tickets WHERE tickets.number = audit_entries.entity_id",
    "expert": "SELECT experts.department_id FROM experts "
              "WHERE CAST(experts.id AS VARCHAR(80)) = audit_entries.entity_id",
    "user": "SELECT users.department_id FROM users WHERE CAST(users.id AS VARCHAR(80)) = audit_entries.entity_id",
    "date_override": "SELECT experts.department_id FROM date_overrides JOIN experts "
                     "ON experts.id = date_overrides.expert_id "
                     "WHERE CAST(date_overrides.id AS VARCHAR(80)) = audit_entries.entity_id",
    "reception_day": "SELECT locations.department_id FROM reception_days JOIN locations "
                     "ON locations.id = reception_days.location_id "
                     "WHERE CAST(reception_days.id AS VARCHAR(80)) = audit_entries.entity_id",
    "waiting": "SELECT locations.department_id FROM reception_waiting JOIN locations "
               "ON locations.id = reception_waiting.location_id "
               "WHERE CAST(reception_waiting.id AS VARCHAR(80)) = audit_entries.entity_id",
    "topic": "SELECT topics.department_id FROM topics WHERE CAST(topics.id AS VARCHAR(80)) = audit_entries.entity_id",
    "location": "SELECT locations.department_id FROM locations "
                "WHERE CAST(locations.id AS VARCHAR(80)) = audit_entries.entity_id",
    "department": "SELECT departments.id FROM departments "
                  "WHERE CAST(departments.id AS VARCHAR(80)) = audit_entries.entity_id",
}


def upgrade():
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_audit_entries_department_id_departments'), 'departments',
                                    ['department_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_audit_entries_department_at', ['department_id', 'at'], unique=False)
    for entity_type, source in BACKFILL.items():
        op.execute(sa.text(f"UPDATE audit_entries SET department_id = ({source}) "
                           "WHERE entity_type = :kind AND department_id IS NULL").bindparams(kind=entity_type))


def downgrade():
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_department_at')
        batch_op.drop_constraint(batch_op.f('fk_audit_entries_department_id_departments'), type_='foreignkey')
        batch_op.drop_column('department_id')
