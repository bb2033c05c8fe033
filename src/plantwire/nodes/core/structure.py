"""junction, comment and unknown: nodes that shape a flow rather than process data."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import NodeConfig, node_type


@node_type("junction")
class JunctionNode(Node):
    """A wire junction: passes every message to every wire leaving it."""

    category = "common"
    color = "#dddddd"
    icon = ""

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        send(msg)


class CommentConfig(NodeConfig):
    info: str = Field("", description="Longer notes shown in the editor's info panel.")


@node_type("comment")
class CommentNode(Node):
    """A note on the canvas; it does nothing at run time."""

    config_model = CommentConfig
    category = "common"
    inputs = 0
    outputs = 0
    color = "#ffffff"
    icon = "comment.svg"


@node_type("unknown")
class UnknownNode(Node):
    """Stands in for a node whose type is not installed.

    The flow still loads, and saving it keeps the node object unchanged; the runtime
    warns once per missing type, and the node does nothing with messages.
    """

    category = "common"
    color = "#ffffff"
    icon = "alert.svg"

    async def start(self) -> None:
        self.status("red", "ring", f"type not installed: {self.type}")


class GlobalConfigConfig(NodeConfig):
    env: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Global environment variables: a list of {name, value, type} entries.",
    )


@node_type("global-config")
class GlobalConfigNode(Node):
    """Holds the flows' global environment variables (Node-RED's global-config)."""

    config_model = GlobalConfigConfig
    category = "config"
    is_config = True
    inputs = 0
    outputs = 0
