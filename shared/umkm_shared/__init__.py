"""umkm_shared"""
