"""Helpers shared by every kind of test, each in one place.

- `waiting`: the one way to poll (`eventually`, and `wait_final` built on it);
- `seeding`: the one way to create merchants and their API keys;
- `families`: the protocol families (Alipay+, WalletRest) every family-wide suite runs over;
- `services`: the real services over a SQLite file, for service-layer unit tests
  (`tests/unit/gateway/services/`), with `scripted` partners (fake adapters whose answers each
  test scripts) and `virtual_time` (waits that take no time, deadlines that still pass).

Domain objects for unit tests stay in `tests/factories.py`.
"""
