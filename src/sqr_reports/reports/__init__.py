"""Report jobs: creation, status, download URLs, and the job queue they form."""
