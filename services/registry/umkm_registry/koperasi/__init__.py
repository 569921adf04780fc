"""Registry: koperasi (see endpoints.py)."""
