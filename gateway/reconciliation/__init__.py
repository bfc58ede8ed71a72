"""Reconciliation: matching a partner's settlement file against our journal, and the run that
stores the report."""
