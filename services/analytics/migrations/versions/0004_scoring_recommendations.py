"""explainable scoring (scoring_models, customer_scores) and recommendation counts
(product_buyers, product_pairs, customer_holdings)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 09:00:00
"""
from alembic import op
import sqlalchemy as sa
import crmkit.models


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scoring_models',
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('fitted_at', crmkit.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('samples', sa.Integer(), nullable=False),
    sa.Column('positives', sa.Integer(), nullable=False),
    sa.Column('test_samples', sa.Integer(), nullable=False),
    sa.Column('auc', sa.Float(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'version')
    )
    op.create_table('customer_scores',
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('features', sa.JSON(), nullable=False),
    sa.Column('model_version', sa.Integer(), nullable=False),
    sa.Column('computed_at', crmkit.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('customer_id')
    )
    op.create_index('ix_customer_scores_score', 'customer_scores', ['score'], unique=False)
    op.create_table('product_buyers',
    sa.Column('product_key', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('buyers', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('product_key')
    )
    op.create_table('product_pairs',
    sa.Column('x', sa.String(length=100), nullable=False),
    sa.Column('y', sa.String(length=100), nullable=False),
    sa.Column('customers', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('x', 'y')
    )
    op.create_table('customer_holdings',
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('product_key', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('held', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', 'product_key')
    )


def downgrade() -> None:
    op.drop_table('customer_holdings')
    op.drop_table('product_pairs')
    op.drop_table('product_buyers')
    op.drop_index('ix_customer_scores_score', table_name='customer_scores')
    op.drop_table('customer_scores')
    op.drop_table('scoring_models')
