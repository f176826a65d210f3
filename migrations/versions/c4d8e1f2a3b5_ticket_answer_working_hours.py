"""tickets.answer_working_hours: a first answer's working hours, counted once

Revision ID: c4d8e1f2a3b5
Revises: b7f3c2a91d04
Create Date: 2026-12-07 21:30:00

"""
import sqlalchemy as sa
from alembic import op

import scheduler.db

# revision identifiers, used by Alembic.
revision = 'c4d8e1f2a3b5'
down_revision = 'b7f3c2a91d04'
branch_labels = None
depends_on = None


def _backfill():
    """Count the working hours of every ticket answered before this column, with the one rule the app uses
    (booking.tickets.answer_hours), on departments rebuilt from their rows here (not loaded through the
    models, whose columns may run ahead of this revision)."""
    from booking.tickets.answer_hours import working_hours_between
    from scheduler.departments.models import BusinessHours, Department

    bind = op.get_bind()
    tickets = sa.table("tickets", sa.column("id", sa.Integer), sa.column("department_id", sa.Integer),
                       sa.column("opened_at", scheduler.db.UTCDateTime()),
                       sa.column("first_answered_at", scheduler.db.UTCDateTime()),
                       sa.column("answer_working_hours", sa.Float))
    answered = bind.execute(sa.select(tickets.c.id, tickets.c.department_id, tickets.c.opened_at,
                                      tickets.c.first_answered_at)
                            .where(tickets.c.first_answered_at.is_not(None))).all()
    if not answered:
        return
    departments_table = sa.table("departments", sa.column("id", sa.Integer), sa.column("timezone", sa.String),
                                 sa.column("holiday_calendar", sa.String))
    hours_table = sa.table("business_hours", sa.column("department_id", sa.Integer),
                           sa.column("weekday", sa.Integer), sa.column("opens", sa.Time), sa.column("closes", sa.Time))
    departments = {row.id: Department(timezone=row.timezone, holiday_calendar=row.holiday_calendar)
                   for row in bind.execute(sa.select(departments_table))}
    for row in bind.execute(sa.select(hours_table)):
        if row.department_id in departments:
            departments[row.department_id].hours.append(
                BusinessHours(weekday=row.weekday, opens=row.opens, closes=row.closes))
    update = (tickets.update().where(tickets.c.id == sa.bindparam("ticket_id"))
              .values(answer_working_hours=sa.bindparam("hours")))
    values = [{"ticket_id": row.id, "hours": working_hours_between(row.opened_at, row.first_answered_at,
                                                                     departments[row.department_id])}
              for row in answered]
    for start in range(0, len(values), 5000):
        bind.execute(update, values[start:start + 5000])


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answer_working_hours', sa.Float(), nullable=True))
    _backfill()


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('answer_working_hours')
