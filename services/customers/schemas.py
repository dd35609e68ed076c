"""Input the customers service accepts."""
from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

Level = Literal["A", "B", "C", "D"]
Status = Literal["potential", "intent", "deal", "repeat", "dormant", "lost"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class CustomerCreate(_Input):
    name: str = Field(min_length=1, max_length=200)
    type: Literal["company", "individual"] = "company"
    industry: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=40)
    email: EmailStr | None = None
    website: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=20)
    level: Level = "C"
    status: Status = "potential"
    tags: list[str] = Field(default_factory=list, max_length=50)
    credit_limit: Decimal = Field(default=Decimal("0"), ge=0, max_digits=18, decimal_places=2)


class CustomerUpdate(_Input):
    """PATCH: owner, status, level and credit limit move only through their own commands."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    type: Literal["company", "individual"] | None = None
    industry: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=40)
    email: EmailStr | None = None
    website: str | None = Field(default=None, max_length=200)
    tags: list[str] | None = Field(default=None, max_length=50)
