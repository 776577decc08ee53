"""`/docs` (Swagger UI) and `/redoc` (Redoc), served with their scripts from the package: the
pages load nothing from any other host (see static/README.md for the bundled versions); and the
OpenAPI document they show, completed for client generators (`document`)."""
