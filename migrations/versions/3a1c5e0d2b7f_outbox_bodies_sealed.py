"""outbox bodies sealed at rest and dropped once delivered

Revision ID: 3a1c5e0d2b7f
Revises: 3d1c0e7a5b92
Create Date: 2026-12-07 19:30:00

The text, HTML and attachments of a message become one sealed column. Messages not yet
delivered (waiting, being sent or given up on) are sealed with the application's current key,
so they still go out; delivered messages keep no body at all. Downgrading cannot restore the
bodies of delivered messages, and leaves the others' bodies empty.
"""
import json

import sqlalchemy as sa
from alembic import op
from flask import current_app

from scheduler.mail.models import mail_sealer

# revision identifiers, used by Alembic.
revision = '3a1c5e0d2b7f'
down_revision = '3d1c0e7a5b92'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_body', sa.Text(), nullable=True))

    connection = op.get_bind()
    messages = sa.table('outbox_messages', sa.column('id', sa.Integer()), sa.column('status', sa.String()),
                        sa.column('text_body', sa.Text()), sa.column('html_body', sa.Text()),
                        sa.column('attachments', sa.JSON()), sa.column('sealed_body', sa.Text()))
    unsent = connection.execute(sa.select(messages.c.id, messages.c.text_body, messages.c.html_body,
                                          messages.c.attachments).where(messages.c.status != 'sent')).all()
    if unsent:
        sealer = mail_sealer(current_app.config)
        for row in unsent:
            document = {"text": row.text_body, "html": row.html_body, "attachments": row.attachments or []}
            sealed = sealer.seal(json.dumps(document, ensure_ascii=False).encode("utf-8"))
            connection.execute(messages.update().where(messages.c.id == row.id).values(sealed_body=sealed))

    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('attachments')
        batch_op.drop_column('html_body')
        batch_op.drop_column('text_body')


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('text_body', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('html_body', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('attachments', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.drop_column('sealed_body')
