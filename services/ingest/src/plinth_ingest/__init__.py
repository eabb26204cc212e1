"""Plinth ingest service."""
