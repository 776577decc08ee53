"""Authentication: API clients, the OAuth token endpoint, RS256 keys and bearer-token checks."""
