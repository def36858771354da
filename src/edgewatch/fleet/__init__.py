"""The fleet view: every device reporting to a PromQL engine, on one page (docs/fleet.md)."""
