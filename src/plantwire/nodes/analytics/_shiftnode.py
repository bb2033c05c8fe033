"""The node glue shared by the per-shift nodes (oee, integrate): the tracker kept in node
context across restarts, shift-end messages, ignored topics and the reports sent."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.node import DoneFn, Node, SendFn

from .shift_codec import ShiftConfig, ShiftTracker
from .time_codec import msg_time

__all__ = ["ShiftNode", "is_shift_end"]

C = TypeVar("C", bound=ShiftConfig)
T = TypeVar("T", bound=ShiftTracker)


def is_shift_end(msg: Msg) -> bool:
    """A message that closes the current shift now: topic "shift" or msg.shift "end"."""
    return msg.get("topic") == "shift" or msg.get("shift") == "end"


class ShiftNode(Node, Generic[C, T]):
    """Base of a node that sends one report per shift from a ``ShiftTracker``.

    A subclass sets ``report_topic`` (also the node-context key of the saved figures) and
    provides the tracker, the settings that make saved figures invalid when changed, the
    topics it expects, how a value message is fed and the node status."""

    report_topic: ClassVar[str]

    def __init__(self, flow: Any, config: C) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.tracker = self._new_tracker()
        self._ignored: set[str] = set()
        self._signature = [
            config.shifts,
            config.shiftSeconds,
            config.timezone,
            *self._signature_fields(),
        ]

    # ----- provided by the subclass ---------------------------------------------------

    def _new_tracker(self) -> T:
        raise NotImplementedError

    def _signature_fields(self) -> list[Any]:
        """Settings besides the shifts whose change makes saved figures invalid."""
        raise NotImplementedError

    def _expected_topics(self) -> tuple[str, ...]:
        raise NotImplementedError

    def _feed(self, msg: Msg, stamp: float, topic: Any) -> list[dict[str, Any]] | None:
        """Feed a message that does not end the shift; None when its topic is not one of
        ours. ValueError (reaching catch nodes) when its value is not usable."""
        raise NotImplementedError

    def _show(self) -> None:
        raise NotImplementedError

    def _check_report(self, report: dict[str, Any]) -> None:
        """Called with every report before it is sent."""

    # ----- shared ---------------------------------------------------------------------

    async def start(self) -> None:
        saved = self.context().get(self.report_topic, self.cfg.store or None)
        if (
            saved is not MISSING
            and isinstance(saved, dict)
            and saved.get("signature") == self._signature
        ):
            try:
                self.tracker.from_dict(saved)
            except (TypeError, ValueError, KeyError) as exc:
                self.warn(f"saved figures ignored: {exc}")
                self.tracker = self._new_tracker()
        self._show()

    def _save(self) -> None:
        data = self.tracker.to_dict()
        data["signature"] = self._signature
        self.context().set(self.report_topic, data, self.cfg.store or None)

    def _ignore(self, topic: Any) -> None:
        """Messages of other topics are ignored; a warning names each such topic once."""
        name = str(topic)
        if name in self._ignored or len(self._ignored) >= 50:
            return
        self._ignored.add(name)
        expected = ", ".join(t for t in self._expected_topics() if t)
        self.warn(f"messages with topic '{name}' are ignored (expected: {expected}, shift)")

    def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        stamp = msg_time(msg, self.cfg.timeProperty)
        topic = msg.get("topic")
        tracker = self.tracker
        try:
            if is_shift_end(msg):
                reports: list[dict[str, Any]] | None = tracker.end_shift(stamp)
            else:
                reports = self._feed(msg, stamp, topic)
        except ValueError as exc:
            self.error(str(exc), msg)
            return
        if reports is None:
            self._ignore(topic)
            return
        interim = tracker.interim_due()
        if interim is not None:
            reports.append(interim)
        self._save()
        for report in reports:
            self._check_report(report)
            send({"topic": self.report_topic, "payload": report})
        self._show()
