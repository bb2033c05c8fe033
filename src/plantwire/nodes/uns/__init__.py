"""Unified Namespace nodes: model config, publisher, snapshot, topic tree."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
