"""One OPC UA session per opcua-client config node, shared by every node that uses it.

:class:`OpcUaConnection` owns an asyncua ``Client`` and a
:class:`~plantwire.nodes.common.poll.PollCoordinator`: the coordinator connects,
reconnects with backoff and jitter, and serves every polled read (all points due in a
cycle go out as one Read service call per 200 items). A health point (the server's
``ServerStatus.State``) is polled at the watchdog interval so a dead connection is
noticed even when only subscriptions use it. After every (re)connect the monitored
items of every subscribing node are created again. Writes, method calls and browsing
go through :meth:`OpcUaConnection.call`, between poll requests.

With a security policy other than None the server's certificate is checked against
the trust list *before* the secure channel is opened; an untrusted certificate is
refused (and saved in the rejected folder) with a message naming the endpoint and the
certificate's subject and thumbprint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from asyncua import ua
from asyncua.client.client import Client
from asyncua.client.ua_client import UaClientState
from asyncua.crypto import security_policies
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaStatusCodeError
from cryptography.hazmat.primitives.serialization import Encoding

from plantwire.nodes.common.poll import ConnectionLost, PollCoordinator

from . import convert_codec as cc
from ._pki import TrustList, UntrustedCertificate, describe, load_cert

__all__ = ["ClientSettings", "MonitorItem", "MonitorSpec", "OpcUaConnection", "Point"]

log = logging.getLogger("plantwire.opcua")
T = TypeVar("T")
HEALTH = "i=2259"  # Server_ServerStatus_State
_CHUNK = 200
_LOST_CODES = {
    StatusCodes.BadSessionIdInvalid,
    StatusCodes.BadSessionClosed,
    StatusCodes.BadSecureChannelClosed,
    StatusCodes.BadSecureChannelIdInvalid,
    StatusCodes.BadConnectionClosed,
    StatusCodes.BadServerNotConnected,
    StatusCodes.BadCommunicationError,
    StatusCodes.BadServerHalted,
    StatusCodes.BadShutdown,
}


@dataclass(frozen=True)
class Point:
    """One polled value: a node id or browse path as the user wrote it."""

    ref: str


@dataclass
class ReadRequest:
    """One Read service call and the points it serves."""

    points: list[Point]


@dataclass(frozen=True)
class MonitorItem:
    """One monitored item of a subscription."""

    ref: str
    sampling_interval: float = 1000.0
    deadband_type: str = "none"  # none | absolute | percent
    deadband: float = 0.0
    queue_size: int = 1


@dataclass(eq=False)
class MonitorSpec:
    """A subscribing node's monitored items and where their changes go."""

    items: list[MonitorItem]
    publishing_interval: float
    on_change: Callable[[MonitorItem, ua.DataValue], None]
    on_item_error: Callable[[MonitorItem, str], None]
    generation: int = -1
    subscription: Any = None


@dataclass
class ClientSettings:
    """Everything the connection needs, taken from the opcua-client node."""

    endpoint: str
    policy: str = "None"
    mode: str = "None"
    auth: str = "anonymous"
    username: str = ""
    password: str = ""
    cert_path: Path | None = None
    key_path: Path | None = None
    user_cert_path: Path | None = None
    user_key_path: Path | None = None
    trust: TrustList = field(default_factory=TrustList)
    rejected_dir: Path | None = None
    application_uri: str = "urn:plantwire:client"
    timeout: float = 5.0
    backoff_max: float = 5.0
    watchdog: float = 1.0


class _Handler:
    """asyncua subscription handler feeding one MonitorSpec."""

    def __init__(self, spec: MonitorSpec, handles: dict[int, MonitorItem]) -> None:
        self.spec = spec
        self.handles = handles

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        item = self.handles.get(data.subscription_data.client_handle)
        if item is not None:
            self.spec.on_change(item, data.monitored_item.Value)

    def status_change_notification(self, status: Any) -> None:
        log.debug("subscription status change: %s", status)


class OpcUaConnection:
    """The shared session of one opcua-client config node (see the module docstring)."""

    def __init__(self, name: str, settings: ClientSettings) -> None:
        self.name = name
        self.settings = settings
        self.client: Client | None = None
        self.generation = 0
        self._broken: str | None = None
        self._resolved: dict[str, ua.NodeId] = {}
        self._types: dict[str, tuple[ua.NodeId, ua.VariantType, bool]] = {}
        self._monitors: list[MonitorSpec] = []
        self._monitor_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.coordinator: PollCoordinator[Point] = PollCoordinator(
            name,
            connect=self._connect,
            disconnect=self._disconnect,
            plan=self._plan,
            execute=self._execute,
            backoff_max=settings.backoff_max,
            request_timeout=settings.timeout * 2,
        )
        self._health = self.coordinator.subscribe(
            [Point(HEALTH)], settings.watchdog, lambda _results: None
        )

    # ----- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        await self.coordinator.start()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.coordinator.stop()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _secure(self, client: Client) -> None:
        """Pick the server's endpoint, check its certificate, set up the secure channel."""
        s = self.settings
        policy_cls = getattr(security_policies, f"SecurityPolicy{s.policy}")
        mode = getattr(ua.MessageSecurityMode, s.mode)
        probe = Client(s.endpoint, timeout=s.timeout)
        endpoints = await probe.connect_and_get_server_endpoints()
        chosen = [e for e in endpoints if e.SecurityPolicyUri == policy_cls.URI]
        chosen = [e for e in chosen if e.SecurityMode == mode]
        if not chosen:
            offered = sorted(
                {
                    f"{e.SecurityPolicyUri.rsplit('#', 1)[-1]}/{e.SecurityMode.name}"
                    for e in endpoints
                }
            )
            raise ConnectionError(
                f"{s.endpoint} offers no endpoint with {s.policy}/{s.mode} "
                f"(it offers {', '.join(offered)})"
            )
        der = chosen[0].ServerCertificate
        cert = load_cert(der[: int.from_bytes(der[2:4], "big") + 4])
        s.trust.check(cert, f"OPC UA server {s.endpoint}", s.rejected_dir)
        assert s.cert_path is not None and s.key_path is not None
        await client.set_security(
            policy_cls,
            str(s.cert_path),
            str(s.key_path),
            server_certificate=cert.public_bytes(Encoding.DER),
            mode=mode,
        )

    async def _connect(self) -> None:
        s = self.settings
        client = Client(s.endpoint, timeout=s.timeout, watchdog_intervall=max(1.0, s.watchdog))
        client.application_uri = s.application_uri
        client.name = client.description = "Plantwire"
        client.product_uri = "urn:plantwire"
        try:
            if s.policy != "None":
                await asyncio.wait_for(self._secure(client), s.timeout * 2)
            if s.auth == "username":
                client.set_user(s.username)
                client.set_password(s.password)
            elif s.auth == "certificate":
                cert = s.user_cert_path or s.cert_path
                key = s.user_key_path or s.key_path
                assert cert is not None and key is not None
                await client.load_client_certificate(str(cert))
                await client.load_private_key(key)
            await asyncio.wait_for(client.connect(auto_reconnect=False), s.timeout * 2)
        except UntrustedCertificate:
            raise
        except Exception as exc:
            raise ConnectionError(self.explain(exc)) from None
        self._broken = None
        self.client = client
        self.generation += 1
        self._resolved.clear()
        self._types.clear()
        self._spawn(self._restore_monitors())

    async def _disconnect(self) -> None:
        client, self.client = self.client, None
        for spec in self._monitors:
            spec.generation, spec.subscription = -1, None
        if client is not None:
            try:
                await asyncio.wait_for(client.disconnect(), 2.0)
            except Exception as exc:
                log.debug("%s: disconnect: %s", self.name, exc)

    def explain(self, exc: BaseException) -> str:
        """A library error in words a plant engineer understands."""
        s = self.settings
        if isinstance(exc, ConnectionRefusedError):
            return f"{s.endpoint} refused the connection (is the OPC UA server running?)"
        if isinstance(exc, TimeoutError | asyncio.TimeoutError):
            return f"no answer from {s.endpoint} within {s.timeout * 2:g} s"
        if isinstance(exc, UaStatusCodeError):
            code = getattr(exc, "code", None)
            text = cc.status_text(ua.StatusCode(code)) if code is not None else str(exc)
            if code in (
                StatusCodes.BadCertificateUntrusted,
                StatusCodes.BadSecurityChecksFailed,
            ):
                own = ""
                if s.cert_path is not None and s.cert_path.exists():
                    own = f" ({describe(load_cert(s.cert_path.read_bytes()))}, file {s.cert_path})"
                return (
                    f"{s.endpoint} does not trust our client certificate{own}: "
                    f"add it to the server's trust list [{text}]"
                )
            if code in (
                StatusCodes.BadUserAccessDenied,
                StatusCodes.BadIdentityTokenRejected,
            ):
                return f"{s.endpoint} rejected the user name / password or certificate [{text}]"
            return f"{s.endpoint}: {text}"
        if isinstance(exc, OSError):
            return f"cannot reach {s.endpoint}: {exc.strerror or exc}"
        return f"{s.endpoint}: {exc or type(exc).__name__}"

    def _is_lost(self, exc: BaseException, client: Client) -> bool:
        if client.uaclient.state is not UaClientState.CONNECTED:
            return True
        if isinstance(exc, ConnectionError | OSError | TimeoutError | asyncio.TimeoutError):
            return True
        return isinstance(exc, UaStatusCodeError) and getattr(exc, "code", 0) in _LOST_CODES

    def _require(self) -> Client:
        client = self.client
        if client is None:
            raise ConnectionLost(f"not connected to {self.settings.endpoint}")
        if self._broken or client.uaclient.state is not UaClientState.CONNECTED:
            raise ConnectionLost(self._broken or f"connection to {self.settings.endpoint} lost")
        return client

    # ----- polled reads ---------------------------------------------------------------

    @staticmethod
    def _plan(points: list[Point]) -> list[ReadRequest]:
        return [ReadRequest(points[i : i + _CHUNK]) for i in range(0, len(points), _CHUNK)]

    async def resolve(self, client: Client, ref: str) -> ua.NodeId:
        """The NodeId of a node id string or browse path (cached per session)."""
        nid = self._resolved.get(ref)
        if nid is None:
            if cc.is_browse_path(ref):
                node = await client.nodes.root.get_child(cc.browse_path_parts(ref))
                nid = node.nodeid
            else:
                nid = cc.parse_node_id(ref)
            self._resolved[ref] = nid
        return nid

    async def _execute(self, request: ReadRequest) -> dict[Point, Any]:
        client = self._require()
        out: dict[Point, Any] = {}
        to_read: list[tuple[Point, ua.NodeId]] = []
        try:
            for p in request.points:
                try:
                    to_read.append((p, await self.resolve(client, p.ref)))
                except UaStatusCodeError as exc:
                    if self._is_lost(exc, client):
                        raise
                    out[p] = ua.DataValue(StatusCode=ua.StatusCode(exc.code))
            if to_read:
                params = ua.ReadParameters()
                params.TimestampsToReturn = ua.TimestampsToReturn.Both
                for _, nid in to_read:
                    rv = ua.ReadValueId()
                    rv.NodeId, rv.AttributeId = nid, AttributeIds.Value
                    params.NodesToRead.append(rv)
                values = await client.uaclient.read(params)
                for (p, _), dv in zip(to_read, values, strict=True):
                    out[p] = dv
        except ConnectionLost:
            raise
        except Exception as exc:
            if self._is_lost(exc, client):
                self._broken = self.explain(exc)
                raise ConnectionLost(f"connection to {self.settings.endpoint} lost") from None
            raise RuntimeError(self.explain(exc)) from None
        return out

    async def call(self, op: Callable[[Client], Awaitable[T]]) -> T:
        """Run ``op(client)`` between poll requests; ConnectionLost when not connected,
        other errors as they come (translate them with :meth:`explain`)."""

        async def run() -> T:
            client = self._require()
            try:
                return await op(client)
            except Exception as exc:
                if self._is_lost(exc, client):
                    self._broken = self.explain(exc)
                    raise ConnectionLost(self._broken) from None
                raise

        result: T = await self.coordinator.call(run)
        return result

    async def variable_type(
        self, client: Client, ref: str
    ) -> tuple[ua.NodeId, ua.VariantType, bool]:
        """(NodeId, builtin type, is array) of a variable, read once per session."""
        info = self._types.get(ref)
        if info is None:
            from asyncua.common.ua_utils import data_type_to_variant_type

            nid = await self.resolve(client, ref)
            node = client.get_node(nid)
            dtype = await node.read_data_type()
            vtype = await data_type_to_variant_type(client.get_node(dtype))
            rank = await node.read_attribute(AttributeIds.ValueRank)
            info = (nid, vtype, (rank.Value.Value if rank.Value else -1) >= 0)
            self._types[ref] = info
        return info

    # ----- subscriptions --------------------------------------------------------------

    def add_monitor(self, spec: MonitorSpec) -> None:
        """Start monitoring ``spec``'s items now (when connected) and after every reconnect."""
        self._monitors.append(spec)
        if self.client is not None:
            self._spawn(self._restore_monitors())

    async def remove_monitor(self, spec: MonitorSpec) -> None:
        if spec in self._monitors:
            self._monitors.remove(spec)
        sub, spec.subscription = spec.subscription, None
        if sub is not None and self.client is not None:
            try:
                await asyncio.wait_for(sub.delete(), 2.0)
            except Exception as exc:
                log.debug("%s: deleting a subscription: %s", self.name, exc)

    async def _restore_monitors(self) -> None:
        async with self._monitor_lock:
            for spec in list(self._monitors):
                client = self.client
                if client is None:
                    return
                if spec.generation == self.generation:
                    continue
                try:
                    await self._create_monitor(client, spec)
                except Exception as exc:
                    text = self.explain(exc)
                    for item in spec.items:
                        spec.on_item_error(item, f"cannot subscribe: {text}")
                    if self._is_lost(exc, client):
                        self._broken = text
                        return

    async def _create_monitor(self, client: Client, spec: MonitorSpec) -> None:
        handles: dict[int, MonitorItem] = {}
        sub = await client.create_subscription(spec.publishing_interval, _Handler(spec, handles))
        requests: list[tuple[MonitorItem, ua.MonitoredItemCreateRequest]] = []
        for n, item in enumerate(spec.items, start=1):
            try:
                nid = await self.resolve(client, item.ref)
            except UaStatusCodeError as exc:
                spec.on_item_error(item, cc.status_text(ua.StatusCode(exc.code)))
                continue
            params = ua.MonitoringParameters()
            params.ClientHandle = n
            params.SamplingInterval = item.sampling_interval
            params.QueueSize = item.queue_size
            params.DiscardOldest = True
            if item.deadband_type in ("absolute", "percent"):
                flt = ua.DataChangeFilter()
                flt.Trigger = ua.DataChangeTrigger.StatusValue
                flt.DeadbandType = 1 if item.deadband_type == "absolute" else 2
                flt.DeadbandValue = float(item.deadband)
                params.Filter = flt
            rv = ua.ReadValueId()
            rv.NodeId, rv.AttributeId = nid, AttributeIds.Value
            mir = ua.MonitoredItemCreateRequest()
            mir.ItemToMonitor, mir.MonitoringMode = rv, ua.MonitoringMode.Reporting
            mir.RequestedParameters = params
            handles[n] = item
            requests.append((item, mir))
        results = await sub.create_monitored_items([m for _, m in requests]) if requests else []
        for (item, _), result in zip(requests, results, strict=True):
            if isinstance(result, ua.StatusCode):
                spec.on_item_error(item, cc.status_text(result))
        spec.subscription = sub
        spec.generation = self.generation
