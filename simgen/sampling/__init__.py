"""Samplers: small functions that take an explicit ``numpy.random.Generator``."""
