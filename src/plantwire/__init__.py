"""Plantwire: connect the factory floor to business systems with Node-RED compatible flows."""

__version__ = "0.1.0"
__all__ = ["__version__"]
