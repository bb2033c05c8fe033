"""OPC UA nodes: client endpoint, read, write, subscribe, browse, method, server."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
