"""Redis nodes: redis-config, redis in, redis out (pub/sub, streams, lists)."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
