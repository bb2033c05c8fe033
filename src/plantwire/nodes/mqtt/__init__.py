"""MQTT nodes: mqtt-broker (config), mqtt in, mqtt out, and an embedded broker."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
