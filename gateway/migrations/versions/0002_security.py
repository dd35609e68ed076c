"""Security: API keys, scope grants (查看权限) and the audit log.

Revision ID: 0002_security
Revises: 0001_identity_and_inbox
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_security"
down_revision = "0001_identity_and_inbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_table(
        "scope_grants",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("grantee_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("target_user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("target_team_id", sa.String(32), sa.ForeignKey("teams.id"), nullable=True),
        sa.Column("include_subteams", sa.Boolean(), nullable=False),
        sa.Column("access", sa.String(16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_scope_grants_grantee_id", "scope_grants", ["grantee_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("actor_id", sa.String(32), nullable=True),
        sa.Column("actor_name", sa.String(100), nullable=True),
        sa.Column("target", sa.String(100), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor_id"])
    op.create_index("ix_audit_log_action_id", "audit_log", ["action", "id"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("scope_grants")
    op.drop_table("api_keys")
