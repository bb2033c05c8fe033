"""Sparkplug B nodes: edge node and host application."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
