from crmkit.alembic_env import run
from services.sales.models import Base

run(Base.metadata, "sales")
