"""Supplier matching: the in-memory index, the matcher and the index's database sync."""

from .engine import FACTORS, MatchQuery, match, solve_bundle
from .index import CertIn, ProductIn, SupplierIn, SupplierIndex
from .sync import IndexSync

__all__ = [
    "FACTORS",
    "CertIn",
    "IndexSync",
    "MatchQuery",
    "ProductIn",
    "SupplierIn",
    "SupplierIndex",
    "match",
    "solve_bundle",
]
