"""Node-RED's core nodes. Importing this package registers every module in it."""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.endswith("_codec") and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
