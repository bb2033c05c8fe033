"""SQL nodes: sql-database (shared async engine), sql-query and pg-listen."""

from plantwire.registry import import_node_modules

import_node_modules(__name__, __path__)
