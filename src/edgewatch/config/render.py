"""The effective config as people read it: YAML, secrets masked, ``10s`` not ``10.0``."""

from __future__ import annotations

import yaml
from pydantic import BaseModel


def render_yaml(config: BaseModel) -> str:
    """``config`` as YAML in field order; secrets print as ``**********``.

    Durations and sizes come out in their short form (``14d``, ``2GiB``), which
    reads back to the same values.
    """
    data = config.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
