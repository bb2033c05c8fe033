"""e-mail node against a real local SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import asyncio
import base64
import datetime
import email
import email.policy
import ipaddress
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import plantwire.nodes.email.send  # noqa: F401  (registers "e-mail")
from plantwire.runtime.message import Msg
from plantwire.runtime.runtime import Runtime, RuntimeSettings
from tests.tcp_proxy import free_port

USER = "plant@example.com"
PASSWORD = "s3cret-Pa55word!"
TAB = {"id": "t1", "type": "tab", "label": "mail"}


@dataclass
class Inbox:
    """What the test server received."""

    mails: list[tuple[Envelope, EmailMessage]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, opts: Any
    ) -> str:
        if address.startswith("nobody@"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append((envelope, parsed))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append(data.login.decode())
            ok = data.login.decode() == USER and data.password.decode() == PASSWORD
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)


@dataclass
class Server:
    port: int
    inbox: Inbox


def make_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_context(tmp_path: Path) -> ssl.SSLContext:
    cert, key = make_cert(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def start_server(**kwargs: Any) -> tuple[Controller, Server]:
    inbox = Inbox()
    port = free_port()
    if kwargs.pop("auth", False):
        kwargs.update(authenticator=inbox.authenticate, auth_required=True, auth_require_tls=False)
    ctl = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    ctl.start()
    return ctl, Server(port, inbox)


@pytest.fixture
def smtp() -> Iterator[Server]:
    ctl, srv = start_server()
    yield srv
    ctl.stop()


@pytest.fixture
def smtp_auth() -> Iterator[Server]:
    ctl, srv = start_server(auth=True)
    yield srv
    ctl.stop()


@pytest.fixture
def smtp_starttls(tmp_path: Path) -> Iterator[Server]:
    ctl, srv = start_server(tls_context=server_context(tmp_path), require_starttls=True)
    yield srv
    ctl.stop()


@pytest.fixture
def smtp_implicit_tls(tmp_path: Path) -> Iterator[Server]:
    ctl, srv = start_server(ssl_context=server_context(tmp_path))
    yield srv
    ctl.stop()


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = Runtime(RuntimeSettings(tmp_path / "data", credential_secret="s"))
    yield runtime
    await runtime.stop()


async def run(
    rt: Runtime,
    port: int,
    msg: Msg,
    creds: dict[str, str] | None = None,
    inbox: Inbox | None = None,
    **cfg: Any,
) -> list[Msg]:
    """Deploy e-mail (+ catch -> probe), send ``msg``; wait for a mail or a catch."""
    node: dict[str, Any] = {
        "id": "mail",
        "type": "e-mail",
        "z": "t1",
        "server": "127.0.0.1",
        "port": str(port),
        "secure": False,
        "tls": True,
        "authtype": "NONE",
        "name": "",
        "dname": "",
        "wires": [],
    }
    node.update(cfg)
    if creds is not None:
        node["credentials"] = creds
    await rt.deploy(
        [
            TAB,
            node,
            {"id": "c", "type": "catch", "z": "t1", "scope": None, "wires": [["caught"]]},
            {"id": "caught", "type": "test-probe", "z": "t1", "wires": [[]]},
        ]
    )
    target = rt.get_node("mail")
    assert target is not None
    rt.deliver(target, msg)
    caught: list[Msg] = rt.get_node("caught").received  # type: ignore[union-attr]
    for _ in range(300):
        if caught or (inbox is not None and inbox.mails):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)
    return caught


async def test_plain_send_arrives(rt: Runtime, smtp: Server) -> None:
    caught = await run(
        rt,
        smtp.port,
        {
            "payload": "Line 3 stopped: filler jam",
            "topic": "Line 3 alarm",
            "to": "shift@example.com, lead@example.com",
            "cc": "maint@example.com",
            "bcc": ["audit@example.com"],
            "from": "line3@plant.example",
            "priority": "high",
        },
        inbox=smtp.inbox,
    )
    assert caught == []
    assert len(smtp.inbox.mails) == 1
    env, mail = smtp.inbox.mails[0]
    assert env.mail_from == "line3@plant.example"
    assert env.rcpt_tos == [
        "shift@example.com",
        "lead@example.com",
        "maint@example.com",
        "audit@example.com",
    ]
    assert mail["Subject"] == "Line 3 alarm"
    assert mail["To"] == "shift@example.com, lead@example.com"
    assert mail["Cc"] == "maint@example.com"
    assert mail["Bcc"] is None
    assert mail["X-Priority"] == "1 (Highest)"
    body = mail.get_body(("plain",))
    assert body is not None
    assert body.get_content().strip() == "Line 3 stopped: filler jam"
    assert mail.get_body(("html",)) is None
    assert rt.get_node("mail").last_status == {}  # type: ignore[union-attr]


async def test_node_recipient_and_default_subject(rt: Runtime, smtp: Server) -> None:
    caught = await run(
        rt,
        smtp.port,
        {"payload": {"temp": 71.5}, "from": "edge@plant.example"},
        inbox=smtp.inbox,
        name="ops@example.com",
    )
    assert caught == []
    env, mail = smtp.inbox.mails[0]
    assert env.rcpt_tos == ["ops@example.com"]
    assert mail["Subject"] == "Message from Node-RED"
    body = mail.get_body(("plain",))
    assert body is not None
    assert body.get_content().strip() == '{"temp":71.5}'


async def test_html_body(rt: Runtime, smtp: Server) -> None:
    html = "<h1>Shift report</h1><p>OEE <b>87%</b></p>"
    await run(
        rt,
        smtp.port,
        {"payload": html, "topic": "Report", "to": "a@example.com", "from": "r@example.com",
         "plaintext": "Shift report: OEE 87%"},
        inbox=smtp.inbox,
    )  # fmt: skip
    _env, mail = smtp.inbox.mails[0]
    html_part = mail.get_body(("html",))
    plain_part = mail.get_body(("plain",))
    assert html_part is not None and plain_part is not None
    assert html_part.get_content().strip() == html
    assert plain_part.get_content().strip() == "Shift report: OEE 87%"


async def test_attachments_arrive_intact(rt: Runtime, smtp: Server) -> None:
    blob = bytes(range(256)) * 40
    csv = "ts,value\n1,2.5\n"
    await run(
        rt,
        smtp.port,
        {
            "payload": "See attached",
            "to": "a@example.com",
            "from": "r@example.com",
            "attachments": [
                {"filename": "dump.bin", "content": blob},
                {"filename": "data.csv", "content": csv},
                {"filename": "b64.bin", "content": base64.b64encode(b"\x00\x01hi").decode(),
                 "encoding": "base64", "contentType": "application/x-test"},
                {"filename": "buf.bin", "content": {"type": "Buffer", "data": [1, 2, 3]}},
            ],
        },
        inbox=smtp.inbox,
    )  # fmt: skip
    _env, mail = smtp.inbox.mails[0]
    got = {a.get_filename(): a for a in mail.iter_attachments()}
    assert got["dump.bin"].get_content() == blob
    assert got["data.csv"].get_content_type() == "text/csv"
    assert got["data.csv"].get_content() == csv
    assert got["b64.bin"].get_content_type() == "application/x-test"
    assert got["b64.bin"].get_content() == b"\x00\x01hi"
    assert got["buf.bin"].get_content() == b"\x01\x02\x03"


async def test_binary_payload_becomes_attachment(rt: Runtime, smtp: Server) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    await run(
        rt, smtp.port, {"payload": png, "to": "a@example.com", "from": "r@example.com"},
        inbox=smtp.inbox,
    )  # fmt: skip
    _env, mail = smtp.inbox.mails[0]
    (att,) = list(mail.iter_attachments())
    assert att.get_filename() == "attachment.png"
    assert att.get_content() == png


async def test_invalid_attachment_reaches_catch(rt: Runtime, smtp: Server) -> None:
    caught = await run(
        rt, smtp.port,
        {"payload": "x", "to": "a@example.com", "from": "r@example.com",
         "attachments": [{"filename": "n.txt", "content": 42}]},
    )  # fmt: skip
    assert "n.txt" in caught[0]["error"]["message"]
    assert smtp.inbox.mails == []


async def test_auth_success(
    rt: Runtime, smtp_auth: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caught = await run(
        rt, smtp_auth.port, {"payload": "hello", "to": "a@example.com"},
        creds={"userid": USER, "password": PASSWORD}, inbox=smtp_auth.inbox, authtype="BASIC",
    )  # fmt: skip
    assert caught == []
    env, _mail = smtp_auth.inbox.mails[0]
    assert env.mail_from == USER
    assert smtp_auth.inbox.logins == [USER]
    assert PASSWORD not in caplog.text


async def test_auth_failure_reaches_catch(
    rt: Runtime, smtp_auth: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caught = await run(
        rt, smtp_auth.port, {"payload": "hello", "to": "a@example.com"},
        creds={"userid": USER, "password": PASSWORD + "x"}, authtype="BASIC",
    )  # fmt: skip
    text = caught[0]["error"]["message"]
    assert "refused the login of user 'plant@example.com'" in text
    assert "535" in text
    assert PASSWORD not in text
    assert PASSWORD not in caplog.text
    assert smtp_auth.inbox.mails == []
    assert rt.get_node("mail").last_status == {  # type: ignore[union-attr]
        "fill": "red", "shape": "ring", "text": "send failed"
    }  # fmt: skip


async def test_server_requiring_auth_refuses_anonymous(rt: Runtime, smtp_auth: Server) -> None:
    caught = await run(
        rt, smtp_auth.port, {"payload": "x", "to": "a@example.com", "from": "r@example.com"}
    )
    text = caught[0]["error"]["message"]
    assert "530" in text or "Authentication required" in text


async def test_connection_refused_reaches_catch(rt: Runtime) -> None:
    port = free_port()
    caught = await run(rt, port, {"payload": "x", "to": "a@example.com", "from": "r@example.com"})
    text = caught[0]["error"]["message"]
    assert text.startswith(f"Cannot connect to mail server 127.0.0.1:{port}: Connection refused")
    assert "waits in the store-and-forward queue" in text


async def test_mail_waits_while_the_server_is_down_and_is_sent_when_it_is_back(
    rt: Runtime,
) -> None:
    port = free_port()
    base = {"to": "purchasing@example.com", "from": "line1@plant.example"}
    caught = await run(rt, port, {**base, "payload": "reorder 1", "topic": "PO 1"})
    assert len(caught) == 1 and "waits" in caught[0]["error"]["message"]
    node = rt.get_node("mail")
    assert node is not None
    rt.deliver(node, {**base, "payload": "reorder 2", "topic": "PO 2"})
    await asyncio.sleep(0.2)
    assert len(caught) == 1  # one report per outage
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()  # the server comes up on the same port: the queue is sent in order
    try:
        for _ in range(400):
            if len(inbox.mails) == 2:
                break
            await asyncio.sleep(0.05)
        assert [m["Subject"] for _e, m in inbox.mails] == ["PO 1", "PO 2"]
    finally:
        ctl.stop()


async def test_permanent_refusal_is_not_queued(rt: Runtime, smtp: Server) -> None:
    caught = await run(
        rt, smtp.port, {"payload": "x", "to": "nobody@example.com", "from": "r@example.com"}
    )
    assert "550" in caught[0]["error"]["message"]
    assert "waits" not in caught[0]["error"]["message"]
    node = rt.get_node("mail")
    assert node is not None and node.outbox.pending == 0


async def test_recipient_refused_names_recipient(rt: Runtime, smtp: Server) -> None:
    caught = await run(
        rt, smtp.port, {"payload": "x", "to": "nobody@example.com", "from": "r@example.com"}
    )
    text = caught[0]["error"]["message"]
    assert "nobody@example.com" in text
    assert "550" in text and "User unknown" in text


async def test_partly_refused_recipients(rt: Runtime, smtp: Server) -> None:
    caught = await run(
        rt, smtp.port,
        {"payload": "x", "to": "ok@example.com, nobody@example.com", "from": "r@example.com"},
    )  # fmt: skip
    assert "nobody@example.com: 550" in caught[0]["error"]["message"]
    env, _mail = smtp.inbox.mails[0]
    assert env.rcpt_tos == ["ok@example.com"]


async def test_no_recipient_reaches_catch(rt: Runtime, smtp: Server) -> None:
    caught = await run(rt, smtp.port, {"payload": "x", "from": "r@example.com"})
    assert "No recipient" in caught[0]["error"]["message"]


async def test_starttls(rt: Runtime, smtp_starttls: Server) -> None:
    caught = await run(
        rt, smtp_starttls.port, {"payload": "tls", "to": "a@example.com", "from": "r@example.com"},
        inbox=smtp_starttls.inbox, tls=False,
    )  # fmt: skip
    assert caught == []
    assert len(smtp_starttls.inbox.mails) == 1


async def test_starttls_untrusted_certificate_refused(rt: Runtime, smtp_starttls: Server) -> None:
    caught = await run(
        rt, smtp_starttls.port, {"payload": "x", "to": "a@example.com", "from": "r@example.com"},
        tls=True,
    )  # fmt: skip
    assert "certificate not trusted" in caught[0]["error"]["message"]
    assert smtp_starttls.inbox.mails == []


async def test_implicit_tls(rt: Runtime, smtp_implicit_tls: Server) -> None:
    caught = await run(
        rt, smtp_implicit_tls.port,
        {"payload": "secure", "to": "a@example.com", "from": "r@example.com"},
        inbox=smtp_implicit_tls.inbox, secure=True, tls="false",
    )  # fmt: skip
    assert caught == []
    assert len(smtp_implicit_tls.inbox.mails) == 1


async def test_bad_config_refused_at_deploy(rt: Runtime) -> None:
    with pytest.raises(Exception, match="authtype"):
        await rt.deploy([TAB, {"id": "m", "type": "e-mail", "z": "t1", "authtype": "KERBEROS"}])


async def test_silent_server_times_out(rt: Runtime) -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts the connection, never greets
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        caught = await run(
            rt, port, {"payload": "x", "to": "a@example.com", "from": "r@example.com"},
            timeout="1",
        )  # fmt: skip
    finally:
        server.close()
    assert caught[0]["error"]["message"].startswith(
        f"Cannot connect to mail server 127.0.0.1:{port}: no answer (timeout); the message "
        "waits in the store-and-forward queue"
    )


async def test_docs_example_flow(rt: Runtime, smtp_auth: Server) -> None:
    """The example flow in docs/email.md, pointed at the local server."""
    import json
    import re

    doc = (Path(__file__).parents[3] / "docs" / "email.md").read_text()
    match = re.search(r"```json\n(.*?)```", doc, re.S)
    assert match is not None
    flow: list[dict[str, Any]] = json.loads(match.group(1))
    for node in flow:
        if node["id"] == "mail":
            node.update(server="127.0.0.1", port=str(smtp_auth.port), tls=False)
            node["credentials"] = {"userid": USER, "password": PASSWORD}
    flow.append({"id": "c2", "type": "catch", "z": "t1", "scope": None, "wires": [["caught"]]})
    flow.append({"id": "caught", "type": "test-probe", "z": "t1", "wires": [[]]})
    await rt.deploy(flow)
    compose = rt.get_node("compose")
    assert compose is not None
    rt.deliver(compose, {"payload": {"line": 3, "code": "E42"}})
    for _ in range(200):
        if smtp_auth.inbox.mails:
            break
        await asyncio.sleep(0.05)
    assert rt.get_node("caught").received == []  # type: ignore[union-attr]
    env, mail = smtp_auth.inbox.mails[0]
    assert env.rcpt_tos == ["shift@plant.example", "maintenance@plant.example"]
    assert mail["Subject"] == "Line 3 alarm E42"
    (att,) = list(mail.iter_attachments())
    assert att.get_filename() == "alarm.csv"
    assert att.get_content() == "line,code\n3,E42\n"
