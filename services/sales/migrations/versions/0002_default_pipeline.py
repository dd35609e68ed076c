"""default pipeline

Seeds the default pipeline (默认销售流程) exactly once per store: a migration
runs once, and replicas starting together take turns (``crmkit.db.migrate``
holds an advisory lock on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises
writers). Its ``pipeline.created`` event goes into the outbox in the same
transaction, so consumers learn of it like of any other pipeline.

The stages are written out here on purpose: a migration is a snapshot and must
not change when the code does.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 06:05:00.000000
"""
import json

from alembic import op
import sqlalchemy as sa
import crmkit.models
from crmkit import timeutil
from crmkit.events import envelope
from crmkit.ids import new_id


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

NAME = "默认销售流程"
STAGES = [  # (name, probability, kind)
    ("初步接洽", 10, "open"),
    ("需求确认", 30, "open"),
    ("方案报价", 50, "open"),
    ("谈判审核", 70, "open"),
    ("赢单", 100, "won"),
    ("输单", 0, "lost"),
]

pipelines = sa.table(
    "pipelines",
    sa.column("id", sa.String), sa.column("name", sa.String), sa.column("name_key", sa.String),
    sa.column("is_default", sa.Boolean), sa.column("created_by", sa.String),
    sa.column("created_at", crmkit.models.UTCDateTime), sa.column("updated_at", crmkit.models.UTCDateTime),
)
pipeline_stages = sa.table(
    "pipeline_stages",
    sa.column("id", sa.String), sa.column("pipeline_id", sa.String),
    sa.column("position", sa.Integer), sa.column("name", sa.String),
    sa.column("probability", sa.Integer), sa.column("kind", sa.String),
)
outbox = sa.table(
    "outbox",
    sa.column("event_id", sa.String), sa.column("type", sa.String), sa.column("payload", sa.Text),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.execute(sa.select(pipelines.c.id).where(pipelines.c.is_default.is_(True))).first():
        return
    now = timeutil.now()
    pipeline_id = new_id()
    op.bulk_insert(pipelines, [{
        "id": pipeline_id, "name": NAME, "name_key": NAME, "is_default": True,
        "created_by": None, "created_at": now, "updated_at": now}])
    stages = [{"id": new_id(), "pipeline_id": pipeline_id, "position": i, "name": name,
               "probability": probability, "kind": kind}
              for i, (name, probability, kind) in enumerate(STAGES)]
    op.bulk_insert(pipeline_stages, stages)
    event = envelope("pipeline.created", {
        "pipeline_id": pipeline_id, "name": NAME, "is_default": True,
        "stages": [{"name": s["name"], "probability": s["probability"], "kind": s["kind"],
                    "position": s["position"]} for s in stages],
    }, source="sales", correlation_id=new_id())
    op.bulk_insert(outbox, [{"event_id": event["id"], "type": event["type"],
                             "payload": json.dumps(event), "created_at": now}])


def downgrade() -> None:
    conn = op.get_bind()
    default = conn.execute(sa.select(pipelines.c.id).where(pipelines.c.is_default.is_(True))
                           ).scalar_one_or_none()
    if default is None:
        return
    used = conn.execute(sa.text("SELECT 1 FROM opportunities WHERE pipeline_id = :p LIMIT 1"),
                        {"p": default}).first()
    if used:  # opportunities follow it: keep it rather than orphan them
        return
    op.execute(pipeline_stages.delete().where(pipeline_stages.c.pipeline_id == default))
    op.execute(pipelines.delete().where(pipelines.c.id == default))
