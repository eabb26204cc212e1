"""Plinth dashboard-api service."""
