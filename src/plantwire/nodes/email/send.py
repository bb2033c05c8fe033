"""e-mail: send ``msg.payload`` as a mail over SMTP (node-red-node-email's "e-mail" type)."""

from __future__ import annotations

import base64
import os
import ssl
from typing import Any, ClassVar, Literal

import aiosmtplib
from pydantic import Field

from plantwire.expressions.paths import get_msg_property
from plantwire.nodes.common.outbox import Outbox, OutboxConfig
from plantwire.runtime.message import MISSING, Msg
from plantwire.runtime.node import DoneFn, Node, SendFn
from plantwire.spec import LooseBool, LooseFloat, LooseInt, node_type

from .mime_codec import MailError, Outgoing, build_outgoing

__all__ = ["EmailConfig", "EmailNode"]


class EmailConfig(OutboxConfig):
    """Properties of an ``e-mail`` node as Node-RED writes them (plus store-and-forward)."""

    name: str = Field(
        "",
        description="To: the recipient address(es), comma separated. Empty: taken from "
        "msg.to (and msg.cc, msg.bcc, msg.replyTo are allowed).",
    )
    server: str = Field("smtp.gmail.com", description="SMTP server host name or address.")
    port: LooseInt = Field(465, ge=1, le=65535, description="SMTP server port.")
    secure: LooseBool = Field(
        True,
        description="Secure connection: TLS from the start (usually port 465). Off: plain "
        "connection upgraded with STARTTLS when the server offers it (ports 587, 25).",
    )
    tls: LooseBool = Field(True, description="Check that the server's TLS certificate is valid.")
    authtype: Literal["BASIC", "NONE", "XOAUTH2"] = Field(
        "BASIC",
        description="Auth type: BASIC (userid + password credentials), NONE, or XOAUTH2 "
        "(userid credential + an access token from a msg property).",
    )
    saslformat: LooseBool = Field(
        True,
        description="XOAUTH2 only: build the SASL string from userid and token. Off: the "
        "msg property already holds the base64 SASL string.",
    )
    token: str = Field(
        "oauth2Response.access_token",
        description="XOAUTH2 only: msg property holding the access token.",
    )
    dname: str = Field("", description="Label shown in the editor.")
    timeout: LooseFloat = Field(
        60.0,
        gt=0,
        description="Plantwire: seconds to wait for the server at each step before the send fails.",
    )


def _reason(exc: BaseException) -> str:
    """The server's reply or the OS reason, without Python class names."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}".strip()
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({getattr(exc, 'reason', None) or exc})"
    if isinstance(exc, TimeoutError):
        return "no answer (timeout)"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    text = str(exc) or exc.__class__.__name__
    return text


@node_type("e-mail")
class EmailNode(Node):
    """Sends ``msg.payload`` as an e-mail with the subject ``msg.topic``.

    The recipient is the node's *To* (``name``) or, when that is empty, ``msg.to``
    (comma-separated text or a list) together with ``msg.cc``, ``msg.bcc`` and
    ``msg.replyTo``. ``msg.from`` overrides the sender (default: the Userid).
    ``msg.priority`` (high/normal/low), ``msg.headers``, ``msg.inReplyTo``,
    ``msg.references`` and ``msg.envelope`` (``from``/``to``) are used when present.

    A payload containing HTML is sent as HTML with a plain-text alternative
    (``msg.plaintext`` or the payload itself). A binary payload becomes an attachment
    named ``msg.filename`` with ``msg.description`` as body. ``msg.attachments`` is a
    list of nodemailer-style objects: ``filename``, ``content`` (bytes, a Buffer, or a
    string with ``encoding`` "base64"/"hex"/"utf8"), optional ``contentType`` and ``cid``.

    *Secure connection* uses TLS from the start (port 465); off, the connection is
    upgraded with STARTTLS when the server offers it (port 587/25). A failed send
    (server unreachable, login refused, recipient refused, timeout) reaches catch nodes
    with the server's reason; the status shows "send failed".

    Beyond Node-RED, no mail is lost to an outage: while the server cannot be reached
    (refused, timeout, or a temporary 4xx reply) the mail waits on disk in the
    store-and-forward queue and is sent, in order, when the server is back (``spool``,
    on by default). The first failure reaches catch nodes saying the mail waits. A
    permanent refusal (5xx, login refused) is reported and not retried.
    """

    config_model = EmailConfig
    credential_fields: ClassVar[dict[str, str]] = {"userid": "text", "password": "password"}
    category = "social"
    inputs = 1
    outputs = 0
    color = "#c7e9c0"
    icon = "envelope.png"

    def __init__(self, flow: Any, config: EmailConfig) -> None:
        super().__init__(flow, config)
        self.cfg = config
        self.to = config.name
        self.outbox = Outbox(
            self,
            config,
            self._send_queued,
            remote=f"mail server {config.server}:{config.port}",
            is_transient=lambda exc: isinstance(exc, _SendFailed) and exc.transient,
        )

    async def start(self) -> None:
        await self.outbox.start(up=True)
        creds = self.credentials
        if self.cfg.authtype != "NONE" and not creds.get("userid"):
            self.error("No e-mail userid set")
        if self.cfg.authtype == "BASIC" and not creds.get("password"):
            self.error("No e-mail password set")
        if self.cfg.authtype == "XOAUTH2" and not self.cfg.token:
            self.error("No token property set")

    async def close(self, removed: bool) -> None:
        await self.outbox.stop()
        self.status({})

    @property
    def _where(self) -> str:
        return f"{self.cfg.server}:{self.cfg.port}"

    async def on_input(self, msg: Msg, send: SendFn, done: DoneFn) -> None:
        if "payload" not in msg or msg["payload"] is MISSING:
            self.warn("No payload to send")
            return
        userid = str(self.credentials.get("userid") or "")
        if msg.get("to") and self.to and msg.get("to") != self.to:
            self.warn("Warning: msg properties can no longer override set node properties.")
        try:
            build_outgoing(msg, self.to, userid)
        except MailError as exc:  # a mail that can never be sent is not queued
            self.status("red", "ring", "send failed")
            self.error(str(exc), msg)
            return
        await self.outbox.submit(msg)

    async def _send_queued(self, msg: Msg) -> None:
        """Send one mail now (directly or from the queue); raises _SendFailed."""
        userid = str(self.credentials.get("userid") or "")
        try:
            outgoing = build_outgoing(msg, self.to, userid)
        except MailError as exc:
            raise _SendFailed(str(exc)) from None
        self.status("blue", "dot", "sending")
        try:
            response = await self._deliver(outgoing, msg, userid)
        except _SendFailed:
            self.status("red", "ring", "send failed")
            raise
        self.log(f"Message sent: {response}")
        self.status({})

    def _xoauth2(self, msg: Msg, userid: str) -> str:
        value = get_msg_property(msg, self.cfg.token)
        if value is MISSING or value in (None, ""):
            raise _SendFailed(f"No OAuth2 access token in msg.{self.cfg.token}")
        if self.cfg.saslformat:
            raw = f"user={userid}\x01auth=Bearer {value}\x01\x01".encode()
            return base64.b64encode(raw).decode("ascii")
        return str(value)

    async def _deliver(self, out: Outgoing, msg: Msg, userid: str) -> str:
        """Connect, log in, send, quit; raises :class:`_SendFailed` with the reason."""
        cfg = self.cfg
        smtp = aiosmtplib.SMTP(
            hostname=cfg.server,
            port=cfg.port,
            use_tls=cfg.secure,
            start_tls=False if cfg.secure else None,
            validate_certs=cfg.tls,
            timeout=cfg.timeout,
        )
        try:
            try:
                await smtp.connect()
            except aiosmtplib.SMTPException as exc:
                raise _SendFailed(
                    f"Cannot connect to mail server {self._where}: {_reason(exc.__cause__ or exc)}",
                    transient=_temporary(exc),
                ) from None
            except (TimeoutError, OSError, ssl.SSLError) as exc:
                raise _SendFailed(
                    f"Cannot connect to mail server {self._where}: {_reason(exc)}",
                    transient=not isinstance(exc, ssl.SSLError),
                ) from None
            await self._login(smtp, msg, userid)
            try:
                errors, response = await smtp.send_message(
                    out.message, sender=out.sender, recipients=out.recipients
                )
            except aiosmtplib.SMTPRecipientsRefused as exc:
                refused = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
                raise _SendFailed(
                    f"Mail server {self._where} refused every recipient ({refused})"
                ) from None
            except aiosmtplib.SMTPSenderRefused as exc:
                raise _SendFailed(
                    f"Mail server {self._where} refused the sender {exc.sender}: "
                    f"{exc.code} {exc.message}",
                    transient=_temporary(exc),
                ) from None
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise _SendFailed(
                    f"Sending to {', '.join(out.recipients)} via {self._where} failed: "
                    f"{_reason(exc)}",
                    transient=_temporary(exc),
                ) from None
            if errors:
                refused = "; ".join(f"{rcpt}: {r.code} {r.message}" for rcpt, r in errors.items())
                raise _SendFailed(
                    f"Mail server {self._where} refused some recipients ({refused}); "
                    "the others received the mail"
                )
            return response
        finally:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError):
                    smtp.close()

    async def _login(self, smtp: aiosmtplib.SMTP, msg: Msg, userid: str) -> None:
        cfg = self.cfg
        try:
            if cfg.authtype == "BASIC":
                password = self.credentials.get("password")
                if userid and password:
                    await smtp.login(userid, str(password))
            elif cfg.authtype == "XOAUTH2":
                sasl = self._xoauth2(msg, userid)
                reply = await smtp.execute_command(b"AUTH", b"XOAUTH2", sasl.encode("ascii"))
                if reply.code == 334:
                    reply = await smtp.execute_command(b"")
                if reply.code != 235:
                    raise aiosmtplib.SMTPAuthenticationError(reply.code, reply.message)
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise _SendFailed(
                f"Mail server {self._where} refused the login of user '{userid}': "
                f"{exc.code} {exc.message}"
            ) from None
        except aiosmtplib.SMTPException as exc:
            raise _SendFailed(
                f"Login of user '{userid}' at mail server {self._where} failed: {_reason(exc)}"
            ) from None


class _SendFailed(Exception):
    """A send that failed; the text is for the plant engineer (no password in it).
    ``transient``: worth retrying later (unreachable, timeout, 4xx)."""

    def __init__(self, text: str, transient: bool = False) -> None:
        super().__init__(text)
        self.transient = transient


def _temporary(exc: BaseException) -> bool:
    """True for a failure that may pass: no connection, a timeout, or a 4xx reply."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return 400 <= exc.code < 500
    return isinstance(
        exc,
        TimeoutError
        | OSError
        | aiosmtplib.SMTPConnectError
        | aiosmtplib.SMTPServerDisconnected
        | aiosmtplib.SMTPTimeoutError,
    )
