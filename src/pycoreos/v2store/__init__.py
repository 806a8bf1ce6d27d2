"""pycoreos.v2store"""
