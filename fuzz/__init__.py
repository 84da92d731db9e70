"""Fuzz harnesses for every parser boundary (see fuzz/README.md and docs/errors.md)."""
