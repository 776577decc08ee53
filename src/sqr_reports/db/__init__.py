"""Database: the declarative base, the engine factory and the migrations."""
