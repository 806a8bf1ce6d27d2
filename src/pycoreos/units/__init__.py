"""pycoreos.units"""
