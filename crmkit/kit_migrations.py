"""Schema changes of the kit's own tables (``crmkit.db.kit_tables``), shared by every
service's Alembic revisions: each service owns its store and its migrations, but the outbox
is the same table everywhere."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

_COLUMNS = "id, event_id, type, payload, created_at, sent_at"


def create_outbox_sent() -> None:
    """``outbox_sent``, the relayed events' archive; the rows an earlier relay marked sent
    in ``outbox`` move there."""
    op.create_table(
        "outbox_sent",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("type", sa.String(length=80), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_outbox_sent_sent_at", "outbox_sent", ["sent_at"], unique=False)
    op.execute(f"INSERT INTO outbox_sent ({_COLUMNS}) SELECT {_COLUMNS} FROM outbox "
               "WHERE sent_at IS NOT NULL")
    op.execute("DELETE FROM outbox WHERE sent_at IS NOT NULL")


def drop_outbox_sent() -> None:
    """Back to sent rows kept in ``outbox``."""
    op.execute(f"INSERT INTO outbox ({_COLUMNS}) SELECT {_COLUMNS} FROM outbox_sent")
    op.drop_index("ix_outbox_sent_sent_at", table_name="outbox_sent")
    op.drop_table("outbox_sent")
