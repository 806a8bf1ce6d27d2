"""pycoreos.cli"""
