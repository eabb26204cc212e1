"""Pure image stages: bytes/arrays in, bytes/arrays out. No Kafka, Mongo or S3 in here."""
