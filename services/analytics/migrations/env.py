# modules that define tables of their own are imported so autogenerate never proposes to drop
# them: value_feed (customer_value_feed), scoring (scoring_models, customer_scores), recommend
# (product_buyers, product_pairs, customer_holdings)
from crmkit.alembic_env import run
from services.analytics import recommend, scoring, value_feed  # noqa: F401
from services.analytics.models import Base

run(Base.metadata, "analytics")
