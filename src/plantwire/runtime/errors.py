"""The exception hierarchy of Plantwire.

Every error Plantwire raises on purpose derives from :class:`PlantwireError`, so a
caller can catch them all at once. A library error is translated at the node boundary
into one of these, with a message a plant engineer understands.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class PlantwireError(Exception):
    """Base of every error Plantwire raises on purpose."""


class FlowFileError(PlantwireError):
    """A flows file could not be read (missing, not JSON, not a list of node objects)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow: which node, which field, what is wrong."""

    node_id: str
    node_type: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"node {self.node_id!r} ({self.node_type})"
        if self.field:
            where += f", field {self.field!r}"
        return f"{where}: {self.message}"


@dataclass
class FlowValidationError(PlantwireError):
    """A flow was refused at deploy; nothing of it was started."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"flow refused: {len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class NodeError(PlantwireError):
    """An error raised inside a node while it handled a message."""


class UnknownNodeTypeError(PlantwireError):
    """The registry has no node type of that name."""


class DuplicateNodeTypeError(PlantwireError):
    """A node type name was registered twice."""


class ExpressionError(PlantwireError):
    """A typed input or JSONata expression could not be parsed or evaluated."""


class CredentialsError(PlantwireError):
    """Credentials could not be decrypted (wrong credential secret) or stored."""
