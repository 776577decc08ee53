"""Prometheus metrics (ADR 0018): what the service counts (`instruments`), how the processes of
one deployment unit share them (`exposition`), and `GET /metrics` (`router`, `service`), which
adds what the queue holds, read from the database at scrape time."""
