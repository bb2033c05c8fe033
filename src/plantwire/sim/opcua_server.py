"""OPC UA server (asyncua) showing the plant as an ISA-95 tree.

Objects/Plantwire (enterprise)/Site1 (site)/Bottling (area)/Line1 (line)/{Silo, Filler,
Motor, EnergyMeter} (machines). Node ids are strings in the simulator's namespace
``urn:plantwire:sim``: ``ns=<idx>;s=Plantwire.Site1.Bottling.Line1.Filler.LineSpeed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from asyncua import ua
from asyncua.common.node import Node
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.server.server import Server
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds
from cryptography.x509.oid import ExtendedKeyUsageOID

from plantwire.sim.engine import Controls
from plantwire.sim.plant import Command, Snapshot

NAMESPACE_URI = "urn:plantwire:sim"
APPLICATION_URI = "urn:plantwire:sim:server"
LINE_PATH = ("Plantwire", "Site1", "Bottling", "Line1")
UNECE_URI = "http://www.opcfoundation.org/UA/units/un/cefact"
V = ua.VariantType


@dataclass(frozen=True)
class UaPoint:
    """One variable: machine, browse name, snapshot key, type, UNECE unit, setpoint flag."""

    machine: str
    name: str
    key: str
    vtype: ua.VariantType
    unit: str  # UNECE common code, "" = no EngineeringUnits
    unit_text: str
    description: str
    writable: bool = False

    @property
    def node_id(self) -> str:
        """The string identifier of the node."""
        return ".".join((*LINE_PATH, self.machine, self.name))


POINTS: tuple[UaPoint, ...] = (
    UaPoint("Silo", "Level", "silo_level", V.Double, "P1", "%", "Silo level"),
    UaPoint(
        "Silo",
        "DeliveryState",
        "delivery_state",
        V.UInt16,
        "",
        "",
        "0 none, 1 ordered, 2 unloading",
    ),
    UaPoint(
        "Silo",
        "DeliveryAmount",
        "delivery_amount",
        V.Double,
        "P1",
        "%",
        "Silo % one delivery adds",
        True,
    ),
    UaPoint("Filler", "State", "state", V.UInt16, "", "", "0 idle, 1 running, 2 fault"),
    UaPoint("Filler", "StateText", "state", V.String, "", "", "IDLE, RUNNING or FAULT"),
    UaPoint(
        "Filler",
        "FaultCode",
        "fault_code",
        V.UInt16,
        "",
        "",
        "0 none, 1 overtemp, 2 silo empty, 3 jam, 4 bearing",
    ),
    UaPoint(
        "Filler", "LineSpeed", "line_speed", V.Double, "C94", "bottles/min", "Actual line speed"
    ),
    UaPoint(
        "Filler",
        "LineSpeedSetpoint",
        "line_speed_sp",
        V.Double,
        "C94",
        "bottles/min",
        "Line speed setpoint (0..600)",
        True,
    ),
    UaPoint("Filler", "BottleCount", "bottle_count", V.UInt32, "C62", "bottles", "Bottles filled"),
    UaPoint("Filler", "GoodCount", "good_count", V.UInt32, "C62", "bottles", "Good bottles"),
    UaPoint(
        "Filler", "RejectCount", "reject_count", V.UInt32, "C62", "bottles", "Rejected bottles"
    ),
    UaPoint("Motor", "Temperature", "motor_temp", V.Double, "CEL", "°C", "Motor temperature"),
    UaPoint(
        "Motor",
        "TemperatureLimit",
        "max_motor_temp",
        V.Double,
        "CEL",
        "°C",
        "Trip limit (40..150)",
        True,
    ),
    UaPoint("Motor", "Vibration", "vibration", V.Double, "C16", "mm/s", "Vibration RMS"),
    UaPoint("Motor", "Wear", "wear_pct", V.Double, "P1", "%", "Bearing wear (100 % = failure)"),
    UaPoint("Motor", "RunHours", "run_hours", V.Double, "HUR", "h", "Running hours"),
    UaPoint("EnergyMeter", "Power", "power_kw", V.Double, "KWT", "kW", "Electrical power"),
    UaPoint("EnergyMeter", "Energy", "energy_kwh", V.Double, "KWH", "kWh", "Energy consumed"),
)
"""Every variable of the address space."""

METHODS: tuple[tuple[str, str, Command], ...] = (
    ("Filler", "Start", Command.START),
    ("Filler", "Stop", Command.STOP),
    ("Filler", "ResetFault", Command.RESET_FAULT),
    ("Filler", "ResetCounters", Command.RESET_COUNTERS),
    ("Silo", "OrderDelivery", Command.ORDER_DELIVERY),
    ("Motor", "Repair", Command.REPAIR),
)
"""Methods (no input; output ``Accepted`` Boolean)."""


def _nid(identifier: str, ns: int) -> ua.NodeId:
    return ua.NodeId(cast(ua.String, identifier), cast(ua.Int16, ns))


def unit_id(code: str) -> int:
    """OPC UA UnitId of a UNECE common code (its ASCII bytes packed big-endian)."""
    value = 0
    for char in code:
        value = (value << 8) | ord(char)
    return value


def _value(point: UaPoint, snap: Snapshot) -> Any:
    raw = getattr(snap, point.key)
    if point.vtype is V.String:
        return raw.name
    if point.vtype is V.Double:
        return float(raw)
    return int(raw)


class OpcUaAdapter:
    """asyncua ``Server`` with the line's address space, refreshed every tick."""

    name = "opcua"

    def __init__(
        self,
        controls: Controls,
        host: str,
        port: int,
        *,
        security: str = "none",
        cert_dir: Path | None = None,
    ) -> None:
        self.controls = controls
        self.host = host
        self.port = port
        self.security = security
        self.cert_dir = cert_dir
        self.url = f"opc.tcp://{host}:{port}/plantwire/sim"
        self.ns = 0
        self._server: Server | None = None
        self._nodes: dict[UaPoint, Node] = {}
        self._published: dict[str, Any] = {}

    def endpoint(self) -> str:
        """Where OPC UA clients connect."""
        return f"opcua {self.url} (security {self.security})"

    async def start(self) -> None:
        """Build the address space and listen."""
        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name("Plantwire virtual factory")
        await server.set_application_uri(APPLICATION_URI)
        if self.security == "basic256sha256":
            await self._setup_security(server)
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self.ns = await server.register_namespace(NAMESPACE_URI)
        await self._build(server)
        try:
            await server.start()
        except Exception as exc:
            raise OSError(f"OPC UA server cannot listen on {self.url}: {exc}") from exc
        self._server = server

    async def _setup_security(self, server: Server) -> None:
        cert_dir = self.cert_dir or Path.cwd() / "plantwire-sim-pki"
        cert_dir.mkdir(parents=True, exist_ok=True)
        key_file, cert_file = cert_dir / "server-key.pem", cert_dir / "server-cert.der"
        await setup_self_signed_certificate(
            key_file, cert_file, APPLICATION_URI, self.host,
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            {"commonName": "Plantwire sim", "organizationName": "Plantwire"},
        )  # fmt: skip
        await server.load_certificate(str(cert_file))
        await server.load_private_key(str(key_file))
        server.set_security_policy(
            [
                ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                ua.SecurityPolicyType.Basic256Sha256_Sign,
            ]
        )

    async def _build(self, server: Server) -> None:
        ns = self.ns
        parent: Node = server.nodes.objects
        path: list[str] = []
        for level in LINE_PATH:
            path.append(level)
            parent = await parent.add_object(_nid(".".join(path), ns), ua.QualifiedName(level, ns))
        machines: dict[str, Node] = {}
        for point in POINTS:
            if point.machine not in machines:
                node_id = _nid(".".join((*LINE_PATH, point.machine)), ns)
                machines[point.machine] = await parent.add_object(
                    node_id, ua.QualifiedName(point.machine, ns)
                )
            var = await machines[point.machine].add_variable(
                _nid(point.node_id, ns),
                ua.QualifiedName(point.name, ns),
                ua.Variant("" if point.vtype is V.String else 0, point.vtype),
            )
            await var.write_attribute(
                AttributeIds.Description,
                ua.DataValue(ua.Variant(ua.LocalizedText(point.description), V.LocalizedText)),
            )
            if point.unit:
                eu = ua.EUInformation(
                    NamespaceUri=UNECE_URI,
                    UnitId=unit_id(point.unit),
                    DisplayName=ua.LocalizedText(point.unit_text),
                    Description=ua.LocalizedText(point.unit_text),
                )
                await var.add_property(
                    _nid(point.node_id + ".EngineeringUnits", ns),
                    ua.QualifiedName("EngineeringUnits", 0),
                    ua.Variant(eu, V.ExtensionObject),
                )
            if point.writable:
                await var.set_writable()
            self._nodes[point] = var
        for machine, name, cmd in METHODS:
            await machines[machine].add_method(
                _nid(".".join((*LINE_PATH, machine, name)), ns),
                ua.QualifiedName(name, ns),
                self._method(cmd),
                [],
                [
                    ua.Argument(
                        Name="Accepted",
                        DataType=ua.NodeId(ua.Int32(ObjectIds.Boolean)),
                        ValueRank=-1,
                    )
                ],
            )

    def _method(self, cmd: Command) -> Any:
        async def call(parent: ua.NodeId) -> list[ua.Variant]:
            return [ua.Variant(self.controls.command(cmd, "opcua"), V.Boolean)]

        return call

    async def stop(self) -> None:
        """Stop the server."""
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def publish(self, snap: Snapshot) -> None:
        """Take setpoint writes into the plant, then write every variable."""
        if self._server is None:
            return
        for point, node in self._nodes.items():
            if point.writable and point.key in self._published:
                current = await node.read_value()
                if current != self._published[point.key]:
                    self.controls.set_setpoint(point.key, float(current), "opcua")
        now = cast(ua.DateTime, datetime.now(UTC))
        for point, node in self._nodes.items():
            value = _value(point, snap)
            if point.writable:
                value = float(getattr(self.controls.plant, point.key))
            if self._published.get(point.name + point.machine) == value and not point.writable:
                continue
            await self._server.write_attribute_value(
                node.nodeid, ua.DataValue(ua.Variant(value, point.vtype), SourceTimestamp=now)
            )
            self._published[point.name + point.machine] = value
            if point.writable:
                self._published[point.key] = value
