"""The base of every config model: frozen, and unknown keys are errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section. Subclasses give every field a default and a ``description``."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
