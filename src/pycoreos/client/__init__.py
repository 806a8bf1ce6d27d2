"""pycoreos.client"""
