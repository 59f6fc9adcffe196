"""Statistics rollups: per-slice summaries of the call outcomes that `/v1/stats/outcomes` and
`/v1/stats/trend` read instead of every call (docs/architecture.md, "Stats rollups")."""
