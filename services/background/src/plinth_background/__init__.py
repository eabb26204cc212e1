"""Plinth background service."""
