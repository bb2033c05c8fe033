"""catch, status and complete: nodes the runtime feeds with errors, status and done()."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from plantwire.runtime.message import Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, NodeConfig, node_type


def _scope(value: Any) -> Any:
    if value is None or value == "" or value == "all":
        return None
    return value


class CatchConfig(NodeConfig):
    scope: list[str] | str | None = Field(
        None,
        description="Which nodes to catch errors from: null for all nodes of the flow, "
        '"group" for nodes in the same group, or a list of node ids.',
    )
    uncaught: LooseBool = Field(False, description="Only errors no other catch node handled.")

    _norm = field_validator("scope", mode="before")(_scope)


class StatusConfig(NodeConfig):
    scope: list[str] | str | None = Field(
        None, description='null for all nodes of the flow, "group", or a list of node ids.'
    )

    _norm = field_validator("scope", mode="before")(_scope)


class CompleteConfig(NodeConfig):
    scope: list[str] | None = Field(
        None, description="Ids of the nodes whose completed messages this node receives."
    )

    _norm = field_validator("scope", mode="before")(_scope)


class _ScopedNode(Node):
    def __init__(self, flow: Any, config: CatchConfig | StatusConfig | CompleteConfig) -> None:
        super().__init__(flow, config)
        self.scope = config.scope
        self.scope_ids = config.scope if isinstance(config.scope, list) else None

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        send(msg)


@node_type("catch")
class CatchNode(_ScopedNode):
    """Catches errors thrown by nodes on the same tab and sends them on as messages.

    The message is the one the failing node was handling, with ``msg.error`` set to
    ``{message, source: {id, type, name, count}}`` (a previous error moves to
    ``msg._error``). Scope: all nodes, the group the catch node is in, or chosen nodes;
    "uncaught" only takes errors no other catch node handled.
    """

    config_model = CatchConfig
    category = "common"
    inputs = 0
    color = "#e49191"
    icon = "alert.svg"

    def __init__(self, flow: Any, config: CatchConfig) -> None:
        super().__init__(flow, config)
        self.uncaught = config.uncaught


@node_type("status")
class StatusNode(_ScopedNode):
    """Sends a message whenever a node on the same tab changes its status.

    ``msg.status`` is ``{fill, shape, text, source: {id, type, name}}``.
    """

    config_model = StatusConfig
    category = "common"
    inputs = 0
    color = "#94c1d0"
    icon = "status.svg"


@node_type("complete")
class CompleteNode(_ScopedNode):
    """Sends a message when one of the chosen nodes finishes handling it (``done()``)."""

    config_model = CompleteConfig
    category = "common"
    inputs = 0
    color = "#c0edc0"
    icon = "alert.svg"
