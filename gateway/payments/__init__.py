"""Payments: creating one, booking its outcome, cancelling it, and the resolver that finishes
the ones whose outcome is unknown."""
