"""``plantwire serve``: the runtime with its HTTP API, in one process."""

from __future__ import annotations

from plantwire.server.app import ApiError, PlantwireServer, ServerConfig, create_app

__all__ = ["ApiError", "PlantwireServer", "ServerConfig", "create_app"]
