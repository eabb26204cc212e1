"""Controller for the local development stack (Kafka, FerretDB, versitygw).

Standard library only: it must run on a fresh machine before the project's venv exists.
"""
