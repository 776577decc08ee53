"""The audit trail: every access to a report, hash-chained so that tampering shows (ADR 0021)."""
