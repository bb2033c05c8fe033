"""Analytics nodes: stats, threshold, forecast, oee, integrate."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
