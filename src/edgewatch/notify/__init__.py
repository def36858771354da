"""Notifications: the durable outbox and one module per channel."""
