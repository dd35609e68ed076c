from crmkit.alembic_env import run
from services.analytics import value_feed  # noqa: F401 - its table (customer_value_feed) too
from services.analytics.models import Base

run(Base.metadata, "analytics")
