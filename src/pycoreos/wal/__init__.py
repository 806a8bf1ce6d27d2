"""pycoreos.wal"""
