"""Build the MIME message of an ``e-mail`` node from a Node-RED message (no I/O).

The rules follow node-red-node-email with nodemailer: subject from ``msg.topic``, a
plain-text body, an HTML alternative when the payload looks like HTML, a binary payload
turned into an attachment, and ``msg.attachments`` in nodemailer's shape
(``filename`` + ``content`` as bytes, a Node.js Buffer object, or a string with an
optional ``encoding``).
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any

from plantwire.runtime.message import MISSING

__all__ = [
    "Attachment",
    "MailError",
    "Outgoing",
    "addresses",
    "build_outgoing",
    "ensure_string",
    "parse_attachment",
]

HTML_RE = re.compile(r"<[a-z][\s\S]*>", re.IGNORECASE)
"""Node-RED's test for an HTML payload."""

DEFAULT_SUBJECT = "Message from Node-RED"

_PRIORITY = {
    "high": ("1 (Highest)", "High", "High"),
    "low": ("5 (Lowest)", "Low", "Low"),
}


class MailError(ValueError):
    """A message that cannot be turned into a mail (bad attachment, no recipient)."""


@dataclass
class Attachment:
    """One attachment: file name, content and MIME type."""

    filename: str
    content: bytes
    content_type: str
    cid: str = ""


@dataclass
class Outgoing:
    """A mail ready for SMTP: the MIME message and its envelope."""

    message: EmailMessage
    sender: str
    recipients: list[str] = field(default_factory=list)


def ensure_string(value: Any) -> str:
    """Node-RED's ``RED.util.ensureString``: bytes decoded, objects as JSON, else text."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), default=str)
    if value is None or value is MISSING:
        return ""
    return str(value)


def _buffer(value: Any) -> bytes | None:
    """Bytes from bytes or a Node.js Buffer written as JSON (``{"type":"Buffer",...}``)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dict) and value.get("type") == "Buffer":
        data = value.get("data")
        if isinstance(data, list) and all(isinstance(b, int) for b in data):
            return bytes(data)
    return None


def addresses(value: Any) -> list[str]:
    """Addresses from a comma-separated string, a list, or nodemailer's ``{address}``."""
    if value is None or value is MISSING or value == "":
        return []
    items: list[Any] = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if isinstance(item, dict):
            addr = str(item.get("address") or "")
            if addr:
                out.append(addr)
            continue
        for _name, addr in getaddresses([str(item)]):
            if addr:
                out.append(addr)
    return out


def _header_list(value: Any) -> str:
    """The text of an address header from a string or list (names kept)."""
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict):
                addr = str(item.get("address") or "")
                name = str(item.get("name") or "")
                parts.append(str(Address(display_name=name, addr_spec=addr)) if name else addr)
            else:
                parts.append(str(item))
        return ", ".join(p for p in parts if p)
    if isinstance(value, dict):
        return _header_list([value])
    return str(value)


def _guess_type(filename: str) -> str:
    guessed, _enc = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def parse_attachment(item: Any, index: int) -> Attachment:
    """One nodemailer-style attachment; raises :class:`MailError` naming the problem."""
    if not isinstance(item, dict):
        raise MailError(
            f"Invalid attachment {index + 1}: must be an object with filename and content"
        )
    filename = str(item.get("filename") or f"attachment-{index + 1}.bin")
    filename = re.sub(r"^.*[\\/]", "", filename) or f"attachment-{index + 1}.bin"
    raw = item.get("content", MISSING)
    if raw is MISSING:
        raise MailError(f"Invalid attachment '{filename}': it has no content")
    data = _buffer(raw)
    if data is None:
        if not isinstance(raw, str):
            raise MailError(
                f"Invalid attachment '{filename}': content must be a string or a buffer"
            )
        encoding = str(item.get("encoding") or "").lower()
        try:
            if encoding == "base64":
                data = base64.b64decode(raw, validate=False)
            elif encoding == "hex":
                data = bytes.fromhex(raw)
            elif encoding in ("", "utf8", "utf-8"):
                data = raw.encode("utf-8")
            elif encoding in ("latin1", "binary", "ascii"):
                data = raw.encode("latin-1")
            else:
                raise MailError(f"Invalid attachment '{filename}': unknown encoding '{encoding}'")
        except (binascii.Error, ValueError) as exc:
            if isinstance(exc, MailError):
                raise
            raise MailError(f"Invalid attachment '{filename}': {encoding} content: {exc}") from None
    ctype = str(item.get("contentType") or "") or _guess_type(filename)
    return Attachment(filename, data, ctype, str(item.get("cid") or ""))


def _binary_payload(msg: dict[str, Any], payload: bytes) -> tuple[str, Attachment]:
    """Node-RED turns a buffer payload into an attachment with a short body text."""
    fname = msg.get("filename")
    if not fname:
        ext = "bin"
        head = payload[:2]
        if head == b"\xff\xd8":
            ext = "jpg"
        elif head == b"GI":
            ext = "gif"
        elif head == b"BM":
            ext = "bmp"
        elif head == b"\x89P":
            ext = "png"
        fname = f"attachment.{ext}"
        msg["filename"] = fname
    clean = re.sub(r"^.*[\\/]", "", str(fname)) or "attachment.bin"
    headers = msg.get("headers")
    ctype = ""
    if isinstance(headers, dict) and headers.get("content-type"):
        ctype = str(headers["content-type"])
    att = Attachment(clean, payload, ctype or _guess_type(clean))
    if "description" in msg:
        text = ensure_string(msg["description"])
    else:
        text = f"\nFile from Node-RED is attached: {clean}"
    return text, att


def _subject(msg: dict[str, Any]) -> str:
    if msg.get("topic", MISSING) == "":
        subject = ""
    else:
        subject = ensure_string(msg.get("topic") or msg.get("title") or DEFAULT_SUBJECT)
    return subject


def build_outgoing(msg: dict[str, Any], to: str, userid: str) -> Outgoing:
    """The mail for ``msg``: ``to`` is the node's recipient ("" = take ``msg.to``)."""
    sender = ensure_string(msg.get("from") or userid)
    recipient_text = to or msg.get("to")
    em = EmailMessage()
    em["Subject"] = _subject(msg)
    if sender:
        em["From"] = _header_list(sender)
    if recipient_text:
        em["To"] = _header_list(recipient_text)
    cc = bcc = None
    if not to:
        cc, bcc = msg.get("cc"), msg.get("bcc")
        if cc:
            em["Cc"] = _header_list(cc)
        if msg.get("replyTo"):
            em["Reply-To"] = _header_list(msg["replyTo"])
    in_reply_to = msg.get("inReplyTo")
    header = msg.get("header")
    if isinstance(header, dict) and header.get("message-id"):
        in_reply_to = header["message-id"]
        del em["Subject"]
        em["Subject"] = "Re: " + _subject(msg)
    if in_reply_to:
        em["In-Reply-To"] = ensure_string(in_reply_to)
    refs = msg.get("references")
    if refs:
        em["References"] = " ".join(refs) if isinstance(refs, list) else ensure_string(refs)
    priority = str(msg.get("priority") or "").lower()
    if priority in _PRIORITY:
        xp, ms, imp = _PRIORITY[priority]
        em["X-Priority"] = xp
        em["X-MSMail-Priority"] = ms
        em["Importance"] = imp
    em["Date"] = formatdate(localtime=True)
    em["Message-ID"] = make_msgid(
        domain=(addresses(sender) or ["plantwire@localhost"])[0].split("@")[-1]
    )
    extra = msg.get("headers")
    if isinstance(extra, dict):
        for name, value in extra.items():
            if name.lower() in ("content-type", "content-transfer-encoding", "mime-version"):
                continue
            if name in em:
                del em[name]
            em[name] = ensure_string(value)

    attachments: list[Attachment] = []
    payload = _buffer(msg.get("payload"))
    html: str | None = None
    if payload is not None:
        text, att = _binary_payload(msg, payload)
        attachments.append(att)
    else:
        text = ensure_string(msg.get("payload"))
        if HTML_RE.search(text):
            html = text
            if "plaintext" in msg:
                text = ensure_string(msg["plaintext"])
        raw = msg.get("attachments")
        if raw:
            items = raw if isinstance(raw, list) else [raw]
            attachments.extend(parse_attachment(item, i) for i, item in enumerate(items))
    em.set_content(text)
    if html is not None:
        em.add_alternative(html, subtype="html")
    for att in attachments:
        maintype, _, subtype = att.content_type.partition("/")
        em.add_attachment(
            att.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=att.filename,
            headers=[f"Content-ID: <{att.cid}>"] if att.cid else None,
        )

    envelope = msg.get("envelope")
    env_from = sender
    rcpts = addresses(recipient_text) + addresses(cc) + addresses(bcc)
    if isinstance(envelope, dict):
        if envelope.get("from"):
            env_from = ensure_string(envelope["from"])
        if envelope.get("to"):
            rcpts = addresses(envelope["to"])
    if not rcpts:
        raise MailError("No recipient: set the node's To address or msg.to")
    env_addr = addresses(env_from)
    if not env_addr:
        raise MailError("No sender address: set the Userid credential or msg.from")
    return Outgoing(em, env_addr[0], list(dict.fromkeys(rcpts)))
