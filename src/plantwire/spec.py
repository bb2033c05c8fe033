"""How a node type declares itself.

A node type is a subclass of :class:`plantwire.runtime.node.Node` with

* ``config_model``: one pydantic model (a subclass of :class:`NodeConfig`) that
  validates the node object exactly as Node-RED writes it in flows.json. It is the
  single source of deploy-time validation, the editor form (JSON Schema) and the
  generated docs page (field docstrings become the docs);
* class attributes for the palette: ``category``, ``inputs``, ``outputs``,
  ``color``, ``icon``; the class docstring is the node's help text;
* ``credential_fields`` (a ``ClassVar[dict[str, str]]``, like the ``credentials``
  definition of a Node-RED node): the properties kept in the encrypted credential store
  instead of flows.json, each ``"text"`` (shown to whoever edits the node, e.g. a user
  name) or ``"password"`` (write-only: never sent back to the editor). The instance
  attribute ``self.credentials`` holds their values at run time. Example:
  ``credential_fields = {"user": "text", "password": "password"}``.

Two field helpers give the editor what a plain type cannot say:

* :func:`config_ref` for a property holding the id of a config node of one type
  (``"x-config": "<type>"`` in the JSON Schema: the editor shows a picker);
* :func:`choices` for a text property that takes one of a few fixed words (an
  ``enum`` in the JSON Schema: the editor shows a select).

It is registered with :func:`node_type`::

    @node_type("change")
    class ChangeNode(Node):
        config_model = ChangeConfig
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "CREDENTIAL_KINDS",
    "ConfigNodeConfig",
    "LooseBool",
    "LooseFloat",
    "LooseInt",
    "NodeConfig",
    "OptFloat",
    "OptInt",
    "choices",
    "config_ref",
    "node_type",
]

CREDENTIAL_KINDS = ("text", "password")
"""What a ``credential_fields`` entry may be: shown (text) or write-only (password)."""


def _loose_bool(value: Any) -> Any:
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off", ""):
            return False
    if value is None:
        return False
    return value


def _empty_to_none(value: Any) -> Any:
    if isinstance(value, str) and value.strip() == "":
        return None
    return value


LooseBool = Annotated[bool, BeforeValidator(_loose_bool)]
"""A boolean that also accepts Node-RED's string forms ``"true"``/``"false"``."""

OptInt = Annotated[int | None, BeforeValidator(_empty_to_none)]
"""An integer written as a number or numeric string; ``""`` means not set."""

OptFloat = Annotated[float | None, BeforeValidator(_empty_to_none)]
"""A number written as a number or numeric string; ``""`` means not set."""

LooseInt = Annotated[
    int, BeforeValidator(lambda v: int(float(v)) if isinstance(v, str) and v.strip() else v)
]
"""An integer that also accepts a numeric string such as ``"5"`` or ``"5.0"``."""

LooseFloat = Annotated[
    float, BeforeValidator(lambda v: float(v) if isinstance(v, str) and v.strip() else v)
]
"""A number that also accepts a numeric string such as ``"2.5"``."""


class NodeConfig(BaseModel):
    """Properties every node object of a flow has, as Node-RED writes them."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, coerce_numbers_to_str=True)

    id: str = Field(description="Unique id of the node.")
    type: str = Field(description="The node type name.")
    z: str = Field("", description="Id of the tab or subflow the node belongs to.")
    name: str = Field("", description="Label shown in the editor.")
    d: LooseBool = Field(False, description="Disabled: the node is not started.")
    g: str | None = Field(None, description="Id of the group the node belongs to.")
    wires: list[list[str]] = Field(
        default_factory=list, description="One list of target node ids per output."
    )
    x: float | None = Field(None, description="Editor x position.")
    y: float | None = Field(None, description="Editor y position.")


class ConfigNodeConfig(NodeConfig):
    """A config node: shared settings (a connection, a schema) referenced by id."""


def config_ref(type_name: str, description: str, default: Any = "") -> Any:
    """A field holding the id of a config node of type ``type_name`` (``""``: none).

    The JSON Schema of the field carries ``"x-config": type_name`` so the editor offers
    the config nodes of that type (and *add new*) instead of a text box::

        database: str = config_ref("sql-database", "The database to query.")
    """
    return Field(default, description=description, json_schema_extra={"x-config": type_name})


def choices(*words: Any) -> dict[str, Any]:
    """``json_schema_extra`` for a field that takes one of ``words`` (a JSON Schema enum).

    List every value the node accepts, including ``""`` when it stands for the default,
    so that no flow that deploys today looks invalid in the editor::

        mode: str = Field("query", description="...", json_schema_extra=choices(*MODES))
    """
    return {"enum": list(words)}


N = TypeVar("N", bound=type)


def node_type(type_name: str) -> Callable[[N], N]:
    """Class decorator: register a node class under ``type_name`` in the default registry."""
    from plantwire.registry import default_registry

    def wrap(cls: N) -> N:
        default_registry.register(type_name, cls)
        return cls

    return wrap
