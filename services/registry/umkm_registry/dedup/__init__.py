"""Registry: dedup (see endpoints.py)."""
