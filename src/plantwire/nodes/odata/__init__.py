"""OData v2/v4 nodes (SAP S/4HANA and others): odata-service (config), odata."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
