"""Verdict policies: each org's risk appetite, versioned, and the one a job is judged under."""
