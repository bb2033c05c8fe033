"""File and spreadsheet nodes: spreadsheet in, spreadsheet out, folder watch."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
