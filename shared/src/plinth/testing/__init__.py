"""Helpers for tests of code that uses the real stack (no fakes of our own infrastructure)."""
