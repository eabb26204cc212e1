"""Plinth composite service."""
