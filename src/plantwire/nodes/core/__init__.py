"""Node-RED's core nodes. Importing this package registers every module in it.

A module that fails to import is logged and skipped, so one broken node type never
stops the runtime (its flows then load that node as an unknown type).
"""

import importlib
import logging
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.endswith("_codec") and not _info.name.startswith("_"):
        try:
            importlib.import_module(f"{__name__}.{_info.name}")
        except Exception as _exc:
            logging.getLogger("plantwire.registry").error(
                "node module %s.%s failed to import: %s", __name__, _info.name, _exc
            )
