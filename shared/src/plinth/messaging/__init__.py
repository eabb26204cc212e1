"""Kafka topic names and the versioned event models that travel on them."""
