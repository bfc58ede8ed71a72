"""The partners the gateway pays through: every call to one goes through `calls.PartnerCalls`."""
