"""Webhooks: each org's one endpoint, the event outbox, and the queue of deliveries (ADR 0012)."""
