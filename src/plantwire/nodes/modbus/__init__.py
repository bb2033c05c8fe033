"""Modbus nodes: modbus-client (config), modbus-read, modbus-write, modbus-server."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
