"""The Recoverly domain: models and services, free of Flask request state."""
