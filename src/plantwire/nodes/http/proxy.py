"""http proxy: the proxy server an http request node goes through (Node-RED's type)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from plantwire.runtime.node import Node
from plantwire.spec import NodeConfig, node_type

__all__ = ["HttpProxyConfig", "HttpProxyNode"]


class HttpProxyConfig(NodeConfig):
    """The http proxy config node as Node-RED writes it in flows.json."""

    url: str = Field("", description="Proxy URL, e.g. http://proxy.plant.local:3128.")
    noproxy: list[str] = Field(
        default_factory=list, description="Hosts (or .domain suffixes) reached directly."
    )

    @field_validator("noproxy", mode="before")
    @classmethod
    def _noproxy(cls, value: Any) -> list[str]:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return list(value or [])


@node_type("http proxy")
class HttpProxyNode(Node):
    """An HTTP proxy for http request nodes: its URL, the hosts that bypass it, and the
    user name / password (credentials ``username``, ``password``) it may require."""

    credential_fields: ClassVar[dict[str, str] | None] = {
        "username": "text",
        "password": "password",
    }

    config_model = HttpProxyConfig
    category = "config"
    is_config = True
    inputs = 0
    outputs = 0

    def __init__(self, flow: Any, config: HttpProxyConfig) -> None:
        super().__init__(flow, config)
        self.url = config.url
        self.noproxy = list(config.noproxy)
