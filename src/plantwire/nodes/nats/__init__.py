"""NATS nodes (with JetStream): nats-server (config), nats in, nats out."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
