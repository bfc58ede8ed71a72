"""Merchants: who takes the payments, where, on which business day and at which fees."""
