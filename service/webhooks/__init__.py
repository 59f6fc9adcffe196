"""Webhook ingest: the RingCentral notification endpoint and its durable group-commit writer."""
