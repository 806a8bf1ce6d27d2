"""pycoreos.testing"""
