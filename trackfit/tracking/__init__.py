"""Tracking: MLflow runs and logging, the store, tags, provenance, datasets, the registry."""
