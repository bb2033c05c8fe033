"""e-mail nodes: send mail over SMTP (Node-RED's node-red-node-email "e-mail" type)."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
