"""Thin async adapters to the infrastructure: Kafka (FastStream), MongoDB (PyMongo async), S3
(aioboto3). Services use these; the pure stages never do."""
