"""Helpers shared by the extensions (not an extension itself: the name starts with ``_``)."""

from __future__ import annotations

import datetime
import functools
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

# Names of the loaded extensions, filled in by extensions.load_all().
LOADED: list[str] = []

# WSGI middlewares: callables taking the wrapped app and returning a new app. The first
# one added is the outermost.
_MIDDLEWARES: list[Callable[[Any], Any]] = []

_PATCHED_MARK = "__emulator_original__"


def override(owner: type, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Replaces ``owner.name`` by the decorated function, which receives the original
    (unbound) attribute as its first argument::

        @override(Stream, "put_record")
        def put_record(original, self, *args, **kwargs): ...

    Registering twice does not stack: the newest replacement wraps the true original.
    """

    def decorate(replacement: Callable[..., Any]) -> Callable[..., Any]:
        current = owner.__dict__.get(name)
        if current is None:
            # Inherited, or new: take what lookup finds (may be None for a new method).
            current = getattr(owner, name, None)
        original = getattr(current, _PATCHED_MARK, current)

        @functools.wraps(replacement)
        def patched(*args: Any, **kwargs: Any) -> Any:
            return replacement(original, *args, **kwargs)

        setattr(patched, _PATCHED_MARK, original)
        setattr(owner, name, patched)
        return patched

    return decorate


def override_property(owner: type, name: str, fget: Callable[[Any], Any],
                      fset: Callable[[Any, Any], None] | None = None) -> None:
    """Replaces a property (or plain attribute handling) on ``owner``."""
    setattr(owner, name, property(fget, fset))


def add_middleware(factory: Callable[[Any], Any], outermost: bool = False) -> None:
    """Adds a WSGI middleware (``factory(app) -> app``); idempotent per factory. An
    ``outermost`` one sees every request before the others (and their answers after them)."""
    if factory not in _MIDDLEWARES:
        if outermost:
            _MIDDLEWARES.insert(0, factory)
        else:
            _MIDDLEWARES.append(factory)


def wrap_app(app: Any) -> Any:
    for factory in reversed(_MIDDLEWARES):
        app = factory(app)
    return app


def _json_default(value: Any) -> Any:
    # AWS JSON protocols send timestamps as epoch seconds.
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_response(start_response: Callable[..., Any], status: int, body: Any,
                  headers: Iterable[tuple[str, str]] = (),
                  content_type: str = "application/json") -> list[bytes]:
    """Writes a JSON WSGI response (for middlewares)."""
    payload = json.dumps(body, default=_json_default).encode("utf-8")
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}
    start_response(
        f"{status} {reason.get(status, 'Status')}",
        [("Content-Type", content_type), ("Content-Length", str(len(payload))), *headers],
    )
    return [payload]


# ----------------------------------------------------------------- whole services moto lacks


class AwsError(Exception):
    """Raise from a JSON-service handler to answer an AWS error (``__type`` + message)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class RequestContext:
    """What a JSON-service handler knows about the request besides its body."""

    operation: str
    region: str
    account_id: str
    environ: dict[str, Any] = field(repr=False)


JsonHandler = Callable[[RequestContext, dict[str, Any]], Any]
_JSON_SERVICES: dict[str, JsonHandler] = {}


def _region_of(environ: dict[str, Any]) -> str:
    # Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/service/aws4_request, ...
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        return auth.split("Credential=", 1)[1].split("/")[2]
    except IndexError:
        return os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def _account_of(environ: dict[str, Any]) -> str:
    # The same precedence as moto's BaseResponse.get_current_account.
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    from moto.iam.models import get_account_id_from

    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        access_key = auth.split("Credential=", 1)[1].split("/")[0]
    except IndexError:
        access_key = ""
    return get_account_id_from(access_key)


def _json_services_middleware(app: Any) -> Any:
    def middleware(environ: dict[str, Any], start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        prefix, _, operation = target.partition(".")
        handler = _JSON_SERVICES.get(prefix)
        if handler is None or not operation:
            return app(environ, start_response)
        content_type = environ.get("CONTENT_TYPE") or "application/x-amz-json-1.1"
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
            context = RequestContext(operation, _region_of(environ), _account_of(environ), environ)
            result = handler(context, body)
        except AwsError as error:
            return json_response(
                start_response, error.status, {"__type": error.code, "message": error.message},
                headers=[("X-Amzn-ErrorType", error.code)], content_type=content_type,
            )
        except json.JSONDecodeError:
            return json_response(
                start_response, 400, {"__type": "SerializationException", "message": "Malformed JSON body"},
                headers=[("X-Amzn-ErrorType", "SerializationException")], content_type=content_type,
            )
        return json_response(start_response, 200, result or {}, content_type=content_type)

    return middleware


def add_json_service(target_prefix: str, handler: JsonHandler) -> None:
    """Serves an AWS JSON-protocol service moto lacks (or gets wrong as a whole), ahead of moto.

    Requests whose ``X-Amz-Target`` is ``<target_prefix>.<Operation>`` (for example
    ``KinesisAnalytics_20150814.CreateApplication``) go to ``handler(context, body)``, which
    returns the response body (a dict; datetimes become epoch seconds, bytes base64) or
    raises ``AwsError``. ``context`` carries the operation, region and account (moto's own
    account rules). Keep state per ``(context.account_id, context.region)``.
    """
    _JSON_SERVICES[target_prefix] = handler
    add_middleware(_json_services_middleware)
