"""WebSocket nodes: websocket-listener, websocket-client, websocket in/out."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
