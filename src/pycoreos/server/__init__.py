"""pycoreos.server"""
