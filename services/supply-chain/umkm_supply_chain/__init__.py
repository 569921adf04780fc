"""umkm_supply_chain"""
