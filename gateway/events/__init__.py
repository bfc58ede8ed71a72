"""Merchant events: the event model, webhook signing, delivery and redelivery."""
