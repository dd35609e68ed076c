from crmkit.alembic_env import run
from services.customers.models import Base

run(Base.metadata, "customers")
