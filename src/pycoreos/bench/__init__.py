"""pycoreos.bench"""
