"""AMQP 0-9-1 nodes (RabbitMQ): amqp-broker (config), amqp in, amqp out."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
