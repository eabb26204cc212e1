"""Plinth derive service."""
