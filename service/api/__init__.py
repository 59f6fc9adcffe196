"""The analyst and dashboard HTTP API under /v1 (DESIGN.md section 6); `routes.api_router`."""
