"""Plinth segment service."""
