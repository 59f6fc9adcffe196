"""The analyst and dashboard HTTP API under /v1 (docs/api.md); `routes.api_router`."""
