"""Node-RED's core nodes. Importing this package registers every node module in it."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
