from crmkit.alembic_env import run
from services.service_desk.models import Base

run(Base.metadata, "service_desk")
