"""Input the analytics service accepts (validated here too: the gateway is not the only caller)."""
from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from crmkit import timeutil


class FunnelQuery(BaseModel):
    """Filters of the funnel: period [start, end) as ISO 8601 with offset, owner, team, pipeline."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    pipeline_id: str | None = Field(default=None, min_length=1, max_length=36)
    owner_id: str | None = Field(default=None, min_length=1, max_length=36)
    team_id: str | None = Field(default=None, min_length=1, max_length=36)
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> FunnelQuery:
        self.start = timeutil.parse_time(self.start)
        self.end = timeutil.parse_time(self.end)
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("start must be before end")
        return self
