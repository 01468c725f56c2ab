"""Adapter tests: the shared conformance suite and one module per broker."""
