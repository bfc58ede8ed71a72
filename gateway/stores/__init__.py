"""Stores with a static entry code (issue #15): the tourist scans the store's QR and types the
amount."""
