"""umkm_clustering"""
