"""EtherNet/IP (Logix) nodes: enip-endpoint (config), enip-read, enip-write."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
