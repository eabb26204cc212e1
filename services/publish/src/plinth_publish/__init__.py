"""Plinth publish service."""
