"""pycoreos.api.v2http"""
