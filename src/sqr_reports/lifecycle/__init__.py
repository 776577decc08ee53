"""Personal data's lifetime: retention, deletion and erasure of reports and users (ADR 0021)."""
