"""umkm_platform"""
