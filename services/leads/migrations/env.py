# scoring defines a table of its own (lead_scoring_models): imported so autogenerate sees it
from crmkit.alembic_env import run
from services.leads import scoring  # noqa: F401
from services.leads.models import Base

run(Base.metadata, "leads")
