"""Orgs: the relying parties (API clients' owners) that reports are generated for."""
