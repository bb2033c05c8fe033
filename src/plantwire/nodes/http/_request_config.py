"""The http request node's config model (Node-RED's properties plus retries/API key)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from plantwire.nodes.common.outbox import OutboxConfig
from plantwire.spec import LooseBool, LooseInt, config_ref

__all__ = ["AUTH_TYPES", "RETS", "HttpRequestConfig"]

RETS = ("txt", "bin", "obj")
AUTH_TYPES = ("", "basic", "digest", "bearer", "apikey")


class HttpRequestConfig(OutboxConfig):
    """The http request node as Node-RED writes it in flows.json (plus retries/API key)."""

    method: str = Field(
        "GET", description="GET, POST, PUT, DELETE, PATCH, HEAD or use (msg.method)."
    )
    ret: str = Field(
        "txt", description="Output: txt (UTF-8 string), bin (bytes), obj (parsed JSON)."
    )
    paytoqs: str = Field(
        "ignore",
        description="GET: ignore msg.payload, append it to the query string (query), "
        "or send it as the body (body).",
    )
    url: str = Field("", description="URL; {{{name}}} inserts msg.name (mustache); empty: msg.url.")
    tls: str = config_ref("tls-config", "Id of a tls-config node for https.")
    persist: LooseBool = Field(False, description="Keep connections open between requests.")
    proxy: str = config_ref("http proxy", "Id of an http proxy config node.")
    insecureHTTPParser: LooseBool = Field(
        False, description="Disable strict HTTP parsing (accepted; the parser is always lenient)."
    )
    authType: str = Field(
        "",
        description="basic (default), digest, bearer (token = password) or apikey "
        "(key = password, sent in the apiKeyHeader header); used when credentials are set.",
    )
    senderr: LooseBool = Field(
        False, description="Send errors only to catch nodes (no output message)."
    )
    headers: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Headers: {keyType, keyValue, valueType, valueValue}; type 'other' = "
        "literal, 'msg' = message property, else the type is the header name/value.",
    )
    retries: LooseInt = Field(
        0, description="Beyond Node-RED: retries after a connection error, timeout or 5xx."
    )
    retryDelay: LooseInt = Field(
        1000, description="Beyond Node-RED: first retry delay in ms (doubles each retry)."
    )
    spool: LooseBool = Field(
        False,
        description="Beyond Node-RED: POST/PUT/PATCH/DELETE requests that get no answer or "
        "a 5xx reply wait on disk and are sent again, in order, until the server takes "
        "them (store and forward).",
    )
    apiKeyHeader: str = Field(
        "X-API-Key", description="Beyond Node-RED: header carrying the key (authType apikey)."
    )

    @field_validator("paytoqs", mode="before")
    @classmethod
    def _paytoqs(cls, value: Any) -> str:
        if value is True or value == "true" or value == "query":
            return "query"
        if value == "body":
            return "body"
        return "ignore"

    @field_validator("ret")
    @classmethod
    def _ret(cls, value: str) -> str:
        if value not in RETS:
            raise ValueError(f"ret: '{value}' is not one of txt, bin, obj")
        return value

    @field_validator("authType")
    @classmethod
    def _auth(cls, value: str) -> str:
        if value not in AUTH_TYPES:
            raise ValueError(f"authType: '{value}' is not one of basic, digest, bearer, apikey")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        v = value.strip()
        if v and "://" in v and not v.startswith("http"):
            raise ValueError(f"url: '{value}' is not an http or https URL")
        return value

    @field_validator("retries", "retryDelay")
    @classmethod
    def _non_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"must not be negative, got {value}")
        return value
