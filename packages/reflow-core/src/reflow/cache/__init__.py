"""The cache layer: Merkle identities, code fingerprints, file states, and planning.

Given a definition and the store's records, it decides which task instances run
and which are taken from earlier runs, and explains why.
"""
