"""lead conversion scores (score, score_reasons, score_model_version, scored_at) and the
models received from analytics (lead_scoring_models)

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa
import crmkit.models


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lead_scoring_models',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('fitted_at', crmkit.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_at', crmkit.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('auc', sa.Float(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('version')
    )
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('score', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('score_reasons', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('score_model_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('scored_at', crmkit.models.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index('ix_leads_score', ['score', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index('ix_leads_score')
        batch_op.drop_column('scored_at')
        batch_op.drop_column('score_model_version')
        batch_op.drop_column('score_reasons')
        batch_op.drop_column('score')
    op.drop_table('lead_scoring_models')
