"""pycoreos.api"""
