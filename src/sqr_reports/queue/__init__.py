"""The durable job queue: one home for leases, heartbeats, fencing, reaping, backoff, wake-ups and
the worker loop, for every kind of durable work (report jobs, webhook deliveries).

A kind of work is a table whose rows carry the `Queued` columns (`table.py`); the row is the
queue entry, inserted in the same transaction as whatever made the work due (ADR 0001).
"""
