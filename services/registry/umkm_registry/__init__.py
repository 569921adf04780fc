"""umkm_registry"""
