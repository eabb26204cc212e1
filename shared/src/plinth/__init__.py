"""Plinth shared library: domain core, pure image stages and thin adapters."""
