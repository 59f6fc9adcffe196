"""The `/dashboard` page: one self-contained HTML file that polls /v1/abandoned."""
