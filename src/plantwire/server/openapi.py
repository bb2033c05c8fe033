"""The OpenAPI 3.1 document of the server's HTTP API (served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_REF = "#/components/schemas/"
_ERRORS = {
    "401": _error("Not authenticated (authentication is on)"),
    "403": _error("CSRF token missing or wrong, foreign Origin, or the role may not do this"),
}
_BODY_ERRORS = {
    "400": _error("Malformed JSON or an invalid flow (``problems`` names node and field)"),
    "413": _error("Request body larger than the limit (5 MB by default)"),
    "415": _error("Body not sent as application/json"),
}
_API_VERSION = {
    "name": "Node-RED-API-Version",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "enum": ["v1", "v2"], "default": "v1"},
    "description": "v1: the flows as an array; v2: {rev, flows}.",
}
_FLOW_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def openapi_document(version: str) -> dict[str, Any]:
    """The OpenAPI document (a new dict on each call)."""
    flows_array = {"type": "array", "items": {"$ref": _REF + "NodeObject"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Plantwire API",
            "version": version,
            "description": (
                "Node-RED's Admin API for flows, the node catalogue and the runtime's "
                "events. The /comms WebSocket is described in docs/api.md."
            ),
        },
        "security": [{}, {"bearer": []}, {"session": []}],
        "paths": {
            "/flows": {
                "get": {
                    "summary": "The deployed flows",
                    "parameters": [_API_VERSION],
                    "responses": {
                        "200": _json(
                            {"oneOf": [flows_array, {"$ref": _REF + "FlowsV2"}]},
                            "v1: array of node objects; v2: {rev, flows}",
                        ),
                        "400": _error("Unknown API version"),
                        **_ERRORS,
                    },
                },
                "post": {
                    "summary": "Deploy flows",
                    "parameters": [
                        _API_VERSION,
                        {
                            "name": "Node-RED-Deployment-Type",
                            "in": "header",
                            "required": False,
                            "schema": {
                                "type": "string",
                                "enum": ["full", "flows", "nodes", "reload"],
                                "default": "full",
                            },
                        },
                    ],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {"oneOf": [flows_array, {"$ref": _REF + "FlowsV2"}]}
                            }
                        },
                    },
                    "responses": {
                        "200": _json({"$ref": _REF + "Rev"}, "v2: the new revision"),
                        "204": {"description": "v1: deployed"},
                        "409": _error("v2: the rev sent is not the current one (version_mismatch)"),
                        **_BODY_ERRORS,
                        **_ERRORS,
                    },
                },
            },
            "/flow": {
                "post": {
                    "summary": "Add a flow (tab)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": _REF + "Flow"}}},
                    },
                    "responses": {
                        "200": _json({"$ref": _REF + "Id"}, "The new flow's id"),
                        **_BODY_ERRORS,
                        **_ERRORS,
                    },
                }
            },
            "/flow/{id}": {
                "parameters": [_FLOW_ID],
                "get": {
                    "summary": "One flow (tab) or 'global' (config nodes and subflows)",
                    "responses": {
                        "200": _json({"$ref": _REF + "Flow"}),
                        "404": _error("No such flow"),
                        **_ERRORS,
                    },
                },
                "put": {
                    "summary": "Replace one flow",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": _REF + "Flow"}}},
                    },
                    "responses": {
                        "200": _json({"$ref": _REF + "Id"}),
                        "404": _error("No such flow"),
                        **_BODY_ERRORS,
                        **_ERRORS,
                    },
                },
                "delete": {
                    "summary": "Remove one flow and its nodes",
                    "responses": {
                        "204": {"description": "Removed"},
                        "400": _error("'global' cannot be removed"),
                        "404": _error("No such flow"),
                        **_ERRORS,
                    },
                },
            },
            "/inject/{id}": {
                "parameters": [_FLOW_ID],
                "post": {
                    "summary": "Press an inject node's button",
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "__user_inject_props__": {
                                            "type": "array",
                                            "items": {"type": "object"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Injected",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "404": _error("No running inject node with that id"),
                        **_BODY_ERRORS,
                        **_ERRORS,
                    },
                },
            },
            "/nodes": {
                "get": {
                    "summary": "The node catalogue",
                    "responses": {
                        "200": _json({"type": "array", "items": {"$ref": _REF + "NodeType"}}),
                        **_ERRORS,
                    },
                }
            },
            "/nodes/{type}": {
                "parameters": [
                    {"name": "type", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "get": {
                    "summary": "One node type",
                    "responses": {
                        "200": _json({"$ref": _REF + "NodeType"}),
                        "404": _error("No such node type"),
                        **_ERRORS,
                    },
                },
            },
            "/credentials/{type}/{id}": {
                "parameters": [
                    {"name": "type", "in": "path", "required": True, "schema": {"type": "string"}},
                    _FLOW_ID,
                ],
                "get": {
                    "summary": "Which credentials a node has (values are never returned)",
                    "responses": {
                        "200": _json(
                            {"type": "object", "additionalProperties": {"type": "boolean"}},
                            "has_<name>: true when set",
                        ),
                        **_ERRORS,
                    },
                },
            },
            "/settings": {
                "get": {
                    "summary": "Server settings the editor needs",
                    "responses": {"200": _json({"type": "object"}), **_ERRORS},
                }
            },
            "/revisions": {
                "get": {
                    "summary": "The deploy history, newest first",
                    "responses": {
                        "200": _json({"type": "array", "items": {"$ref": _REF + "Revision"}}),
                        **_ERRORS,
                    },
                }
            },
            "/revisions/{rev}": {
                "parameters": [
                    {"name": "rev", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "get": {
                    "summary": "The flows of one revision",
                    "responses": {
                        "200": _json({"$ref": _REF + "FlowsV2"}),
                        "404": _error("Not in the history"),
                        **_ERRORS,
                    },
                },
            },
            "/auth/login": {
                "get": {
                    "summary": "How to log in ({} when authentication is off)",
                    "security": [{}],
                    "responses": {"200": _json({"type": "object"})},
                },
                "post": {
                    "summary": "Log in: sets the session and CSRF cookies",
                    "security": [{}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": _REF + "Credentials"}}},
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "user": {"$ref": _REF + "User"},
                                    "csrf": {"type": "string"},
                                },
                            }
                        ),
                        "400": _error("Malformed request"),
                        "401": _error("Invalid username or password"),
                        "429": _error("Too many failed logins"),
                    },
                },
            },
            "/auth/logout": {
                "post": {
                    "summary": "End the session",
                    "responses": {"204": {"description": "Logged out"}, **_ERRORS},
                }
            },
            "/auth/me": {
                "get": {
                    "summary": "Whether authentication is on, who is logged in",
                    "security": [{}],
                    "responses": {"200": _json({"type": "object"})},
                }
            },
            "/auth/token": {
                "post": {
                    "summary": "Exchange username and password for a bearer token",
                    "security": [{}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": _REF + "Credentials"}},
                            "application/x-www-form-urlencoded": {
                                "schema": {"$ref": _REF + "Credentials"}
                            },
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "access_token": {"type": "string"},
                                    "expires_in": {"type": "integer"},
                                    "token_type": {"type": "string"},
                                },
                            }
                        ),
                        "400": _error("Malformed request"),
                        "401": _error("Invalid username or password"),
                        "429": _error("Too many failed logins"),
                    },
                }
            },
            "/auth/revoke": {
                "post": {
                    "summary": "Revoke a bearer token",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"token": {"type": "string"}},
                                    "required": ["token"],
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {"description": "Revoked"},
                        "404": _error("No such token"),
                        **_BODY_ERRORS,
                        **_ERRORS,
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [{}],
                    "responses": {"200": _json({"type": "object"})},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "pw_session",
                    "description": "Non-GET requests also need the X-CSRF-Token header.",
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "problems": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "string"},
                                    "type": {"type": "string"},
                                    "field": {"type": "string"},
                                    "message": {"type": "string"},
                                },
                            },
                        },
                    },
                    "required": ["code", "message"],
                },
                "NodeObject": {
                    "type": "object",
                    "properties": {"id": {"type": "string"}, "type": {"type": "string"}},
                    "required": ["id", "type"],
                },
                "FlowsV2": {
                    "type": "object",
                    "properties": {
                        "rev": {"type": "string"},
                        "flows": {"type": "array", "items": {"$ref": _REF + "NodeObject"}},
                        "credentials": {"type": "object"},
                    },
                    "required": ["flows"],
                },
                "Flow": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "label": {"type": "string"},
                        "disabled": {"type": "boolean"},
                        "info": {"type": "string"},
                        "env": {"type": "array"},
                        "nodes": {"type": "array", "items": {"$ref": _REF + "NodeObject"}},
                        "configs": {"type": "array", "items": {"$ref": _REF + "NodeObject"}},
                        "subflows": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "Rev": {"type": "object", "properties": {"rev": {"type": "string"}}},
                "Id": {"type": "object", "properties": {"id": {"type": "string"}}},
                "NodeType": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "category": {"type": "string"},
                        "inputs": {"type": "integer"},
                        "outputs": {"type": "integer"},
                        "color": {"type": "string"},
                        "icon": {"type": "string"},
                        "config": {"type": "boolean"},
                        "summary": {"type": "string"},
                        "help": {"type": "string"},
                        "module": {"type": "string"},
                        "schema": {"type": "object"},
                    },
                },
                "Revision": {
                    "type": "object",
                    "properties": {
                        "rev": {"type": "string"},
                        "deployed": {"type": "number"},
                        "user": {"type": ["string", "null"]},
                        "type": {"type": "string"},
                    },
                },
                "User": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "role": {"type": "string"}},
                },
                "Credentials": {
                    "type": "object",
                    "properties": {
                        "username": {"type": "string"},
                        "password": {"type": "string"},
                        "grant_type": {"type": "string"},
                    },
                    "required": ["username", "password"],
                },
            },
        },
    }
