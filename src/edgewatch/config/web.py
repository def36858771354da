"""The ``query:``, ``push:`` and ``auth:`` sections: the query engine's budgets, the
push endpoint's limits, and who may read and change what over HTTP."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edgewatch.config.secret import Secret
from edgewatch.config.section import Section
from edgewatch.config.units import Duration, Size

Role = Literal["viewer", "admin"]


class QueryConfig(Section):
    lookback_delta: Duration = Field(
        default=300.0,
        gt=0,
        description="How far back an instant selector looks for the latest sample "
        "(Prometheus' lookback delta).",
    )
    timeout: Duration = Field(
        default=10.0,
        gt=0,
        description="Longest a query may run; past it the API answers 503 and the CLI exits 1.",
    )
    max_samples: int = Field(
        default=5_000_000,
        ge=1000,
        description="Most samples one query may load; past it the API answers 422.",
    )
    max_points: int = Field(
        default=11_000,
        ge=10,
        description="Most points per series a range query may return; a smaller range "
        "or a larger step is needed past it (400).",
    )
    rollup_min_step: Duration = Field(
        default=300.0,
        ge=0,
        description="Range queries with a step of at least this read 1-minute rollups "
        "instead of raw samples (1-hour rollups from 60 times this); 0 always reads raw.",
    )


class PushConfig(Section):
    enabled: bool = Field(default=True, description="Accept custom metrics on POST /api/push.")
    max_body: Size = Field(
        default=1024 * 1024, ge=1024, description="Largest request body accepted (413 past it)."
    )
    max_series_per_request: int = Field(
        default=2000, ge=1, description="Most series in one push request (413 past it)."
    )
    max_new_series_per_minute: int = Field(
        default=500,
        ge=1,
        description="Most series never seen before that pushes may create per minute "
        "(429 past it); protects the store from a label that carries an id.",
    )


class ApiToken(Section):
    name: str = Field(description="Who or what uses the token (shown in the audit log).")
    token: Secret = Field(description="The bearer token; give it as ${ENV_VAR}.")
    role: Role = Field(default="viewer", description="viewer (read) or admin (read and change).")

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: Secret) -> Secret:
        if len(value) < 16:
            raise ValueError("a token needs at least 16 characters")
        return value


class AuthConfig(Section):
    tokens: list[ApiToken] = Field(
        default_factory=list,
        description="Bearer API tokens (Authorization: Bearer ...), each with a role.",
    )
    session_lifetime: Duration = Field(
        default=12 * 3600.0, gt=0, description="How long a dashboard login lasts."
    )
    secure_cookies: bool = Field(
        default=False,
        description="Mark the session cookie Secure (set it when a TLS proxy fronts edgewatch).",
    )
    allow_anonymous_read: bool = Field(
        default=False,
        description="On a non-loopback address, let requests without credentials read "
        "(viewer); changes still need an admin.",
    )
