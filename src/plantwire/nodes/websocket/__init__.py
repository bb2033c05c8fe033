"""websocket nodes."""

import importlib
import logging
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    if (
        not _info.name.startswith("_")
        and not _info.name.endswith("_codec")
        and _info.name not in ("client", "sparkplug_b_pb2", "model")
    ):
        try:
            importlib.import_module(f"{__name__}.{_info.name}")
        except Exception as _exc:
            logging.getLogger("plantwire.registry").error(
                "node module %s.%s failed to import: %s", __name__, _info.name, _exc
            )
