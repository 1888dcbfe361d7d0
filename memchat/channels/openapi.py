"""The OpenAPI document of ``memchat serve`` (``/openapi.json``), written from the server's own
table of operations, so that a route cannot be served undocumented or documented unserved.

The schemas are JSON Schema written out here: the server checks a request by hand (a few
lines; a validation library cost a third of a second at start-up), and the document tells
clients what it checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ERROR_BODY = {
    "type": "object",
    "description": "Every error, in Rasa's form.",
    "required": ["version", "status", "message", "reason", "code"],
    "properties": {
        "version": {"type": "string"},
        "status": {"type": "string", "examples": ["failure"]},
        "message": {"type": "string", "examples": ["message: Field required"]},
        "reason": {"type": "string", "examples": ["BadRequest"]},
        "code": {"type": "integer", "examples": [400]},
    },
}

# the lengths are checked by the dialogue manager (one error form for HTTP and Python); they are
# here so that clients know them. Printable characters only, which JSON Schema cannot say
# portably: the description says it
USER_MESSAGE = {
    "type": "object",
    "description": "A message for the bot, as Rasa's REST channel receives it.",
    "required": ["sender", "message"],
    "properties": {
        "sender": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "description": "The conversation id: one per user; 1 to 255 printable characters.",
            "examples": ["alice"],
        },
        "message": {
            "type": "string",
            "maxLength": 10_000,
            "description": "What the user says, at most 10,000 characters; empty lets the bot go on.",
            "examples": ["hi"],
        },
        "metadata": {
            "anyOf": [{"type": "object"}, {"type": "null"}],
            "description": "Rasa clients' metadata: stored with the user's message, where plugins read it; "
            "its message_id (a string) makes a retried message answered once.",
        },
    },
}

BOT_MESSAGE = {
    "type": "object",
    "description": "One message of the bot's turn, as Rasa's REST channel sends it.",
    "required": ["recipient_id"],
    "properties": {
        "recipient_id": {"type": "string"},
        "text": {"type": "string"},
        "buttons": {"type": "array", "items": {"type": "object"}},
        "image": {"type": "string"},
        "custom": {"anyOf": [{"type": "object"}, {"type": "array"}, {"type": "string"}]},
    },
}

ERRORS = {
    "400": "A malformed or invalid request: the message names the field; nothing is stored",
    "401": "No token, or the wrong one (with --auth-token)",
    "404": "No such route, or no such conversation",
    "408": "The body came slower than --read-timeout",
    "413": "A body over --max-body",
    "503": "The database is unavailable; nothing of the turn is stored: send it again",
}


@dataclass
class Operation:
    """One documented route: its summary and description are the endpoint's docstring."""

    method: str  # "get" or "post"
    path: str  # OpenAPI's form: /conversations/{conversation_id}/tracker
    endpoint: object  # the function that answers it
    tag: str
    answer: dict = field(default_factory=lambda: {"type": "object"})  # the 200 body's schema
    media: str = "application/json"  # the 200 body's type
    query: dict = field(default_factory=dict)  # name -> schema of optional query parameters
    path_types: dict = field(default_factory=dict)  # name -> schema of a path parameter not a string
    body: dict | None = None  # the request body's schema


def document(version: str, operations: list[Operation]) -> dict:
    """The OpenAPI 3.1 document of ``operations``."""
    paths: dict = {}
    for op in operations:
        summary, _, description = (op.endpoint.__doc__ or "").strip().partition("\n")
        spec: dict = {
            "tags": [op.tag],
            "summary": summary.strip(),
            "operationId": op.endpoint.__name__,
            "responses": {
                "200": {"description": "Success", "content": {op.media: {"schema": op.answer}}},
                **{
                    code: {
                        "description": text,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                    }
                    for code, text in ERRORS.items()
                },
            },
        }
        if description.strip():
            spec["description"] = " ".join(description.split())
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": op.path_types.get(name, {"type": "string"})}
            for name in _path_names(op.path)
        ] + [{"name": name, "in": "query", "required": False, "schema": schema} for name, schema in op.query.items()]
        if parameters:
            spec["parameters"] = parameters
        if op.body is not None:
            spec["requestBody"] = {"required": True, "content": {"application/json": {"schema": op.body}}}
        paths.setdefault(op.path, {})[op.method] = spec
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "memchat",
            "version": version,
            "description": "A response-selection bot (MemN2N) with the Rasa REST channel contract.",
        },
        "paths": paths,
        "components": {"schemas": {"ErrorBody": ERROR_BODY}},
    }


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
