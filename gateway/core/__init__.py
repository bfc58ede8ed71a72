"""The kernel every domain uses: config, errors, ids, durations, business days, metrics, secrets."""
