"""FX quotes: locking a rate for a payment."""
