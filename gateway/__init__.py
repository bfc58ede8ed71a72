"""The gateway service: merchant API, routing, payment lifecycle, persistence, workers, CLI."""
