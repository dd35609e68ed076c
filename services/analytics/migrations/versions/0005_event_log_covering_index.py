"""The funnel's partial edge days read the log by (type, occurred_at) without the heap.

``ix_event_log_type_time`` also carries owner, team and amount (PostgreSQL ``INCLUDE``), so
the edge-day sums of the funnel and the briefing are index-only scans instead of one random
heap page per event (measured on 1.9M events: 95 ms → a few ms for a 10-hour edge).

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_event_log_type_time', table_name='event_log')
    op.create_index('ix_event_log_type_time', 'event_log', ['type', 'occurred_at'],
                    postgresql_include=['owner_id', 'team_id', 'amount'])


def downgrade() -> None:
    op.drop_index('ix_event_log_type_time', table_name='event_log')
    op.create_index('ix_event_log_type_time', 'event_log', ['type', 'occurred_at'])
