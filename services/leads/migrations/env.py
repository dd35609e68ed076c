from crmkit.alembic_env import run
from services.leads.models import Base

run(Base.metadata, "leads")
