"""Siemens S7 nodes: s7-endpoint (config), s7-read, s7-write."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
