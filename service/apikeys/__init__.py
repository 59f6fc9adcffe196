"""API keys of the query API: generation, storage (hashed) and a small verified-key cache."""
