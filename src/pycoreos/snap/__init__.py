"""pycoreos.snap"""
