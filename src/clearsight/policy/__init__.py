"""Accountability: who searched whom, why, under which policy, with a tamper-evident record."""
