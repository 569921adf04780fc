"""Registry: imports (see endpoints.py)."""
