"""Refunds: reserving, sending and booking them."""
