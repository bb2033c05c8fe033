"""HTTP nodes: http in, http response, http request (Node-RED's network nodes)."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
