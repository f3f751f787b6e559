"""Shared kernel: the few building blocks both services use (ids, time, money, geography,
errors, settings, database plumbing). It knows no service."""
