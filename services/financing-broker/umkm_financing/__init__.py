"""umkm_financing"""
