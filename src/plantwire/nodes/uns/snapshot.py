"""uns-tree: outputs the runtime's live UNS tree (nested or flat) on any input."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from plantwire.nodes.uns.config import UnsModelNode
from plantwire.nodes.uns.tree import tree_for
from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import NodeConfig, config_ref, node_type

__all__ = ["UnsTreeConfig", "UnsTreeNode"]


class UnsTreeConfig(NodeConfig):
    model: str = config_ref(
        "uns-model",
        "Id of a uns-model: only its namespace (under its root) is output. "
        "Empty: every topic the runtime knows.",
    )
    output: str = Field(
        "tree",
        description='"tree": msg.payload is the nested snapshot; "list": a flat list of '
        "points sorted by topic.",
    )

    @field_validator("output", mode="before")
    @classmethod
    def _output(cls, value: Any) -> Any:
        if value is None or value == "":
            return "tree"
        if value not in ("tree", "list"):
            raise ValueError(f'output must be "tree" or "list", not {value!r}')
        return value


@node_type("uns-tree")
class UnsTreeNode(Node):
    """Outputs the live Unified Namespace on any input.

    msg.payload becomes the snapshot of the runtime's UNS tree: every value the
    ``uns`` nodes published and, with ``browse`` on the model, what other
    publishers have in the namespace. ``tree``: nested objects, one key per topic
    level, each leaf ``{"value", "timestamp", "quality", "unit", "origin", ...}``;
    ``list``: ``[{"topic", "value", ...}]`` sorted by topic. A string in
    msg.prefix narrows it to topics under that prefix (an MQTT filter works too).
    """

    config_model = UnsTreeConfig
    category = "network"
    inputs = 1
    outputs = 1
    color = "#d8bfd8"
    icon = "bridge.svg"

    def __init__(self, flow: Any, config: UnsTreeConfig) -> None:
        super().__init__(flow, config)
        self.model_id = config.model
        self.output = config.output

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        prefix = ""
        if self.model_id:
            model = self.flow.get_node(self.model_id)
            if not isinstance(model, UnsModelNode):
                done(f"uns-model config node {self.model_id!r} is missing or disabled")
                return
            prefix = model.namespace.root
        asked = msg.get("prefix")
        if isinstance(asked, str) and asked:
            prefix = asked
        tree = tree_for(self.flow.runtime)
        msg["payload"] = tree.list(prefix) if self.output == "list" else tree.snapshot(prefix)
        send(msg)
