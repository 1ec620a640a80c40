"""Amazon CloudWatch: the pipeline's alarms and dashboard, and the metrics they read.

CloudWatch speaks three protocols: Smithy RPC v2 CBOR (the first its model lists, and what the
AWS SDKs for Rust, Java v2 and others send today), the AWS JSON 1.0 protocol and the query
protocol. moto 5.2.5 answers JSON and query, not CBOR, so a request of an SDK that speaks CBOR
fell through to moto's query parser and was answered nonsense. What this module does:

* A CBOR request (``POST /service/GraniteServiceVersion20100801/operation/<Operation>`` with
  ``smithy-protocol: rpc-v2-cbor``) is decoded, handed to moto as the same request in JSON
  1.0, and moto's answer is encoded back in CBOR with the ``smithy-protocol`` header, as the
  protocol's specification says: timestamps as tag 1 (epoch seconds), doubles as floats, blobs
  as byte strings, guided by the operation's output shape in botocore's model; an error keeps
  its status and becomes a map with ``__type`` and ``message``.

Alarms are not evaluated (moto keeps them in INSUFFICIENT_DATA until SetAlarmState), nor are
dashboard bodies checked beyond moto's own JSON check.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
from typing import Any

import cbor2
from botocore.loaders import Loader
from botocore.model import ServiceModel, Shape

from ._support import add_middleware

PATH_PREFIX = "/service/GraniteServiceVersion20100801/operation/"
TARGET_PREFIX = "GraniteServiceVersion20100801"

_MODEL: ServiceModel | None = None


def _model() -> ServiceModel:
    global _MODEL
    if _MODEL is None:
        _MODEL = ServiceModel(Loader().load_service_model("cloudwatch", "service-2"), "cloudwatch")
    return _MODEL


def _utc(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
    text = str(value).replace("Z", "+00:00")
    return _utc(datetime.datetime.fromisoformat(text))


def to_cbor_shape(value: Any, shape: Shape | None) -> Any:
    """A value of moto's JSON answer as the CBOR protocol sends it for ``shape``."""
    if shape is None or value is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        return {
            key: to_cbor_shape(item, shape.members.get(key))
            for key, item in value.items()
            if item is not None
        }
    if kind == "list":
        return [to_cbor_shape(item, shape.member) for item in value]
    if kind == "map":
        return {key: to_cbor_shape(item, shape.value) for key, item in value.items()}
    if kind == "timestamp":
        return _utc(value)
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long"):
        return int(value)
    if kind == "blob":
        return base64.b64decode(value) if isinstance(value, str) else value
    return value


def to_json(value: Any) -> Any:
    """A decoded CBOR request as its JSON 1.0 form (timestamps as epoch seconds, blobs base64)."""
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, datetime.datetime):
        return _utc(value).timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


def _cbor_middleware(app: Any) -> Any:
    def middleware(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PATH_PREFIX) or "rpc-v2-cbor" not in environ.get("HTTP_SMITHY_PROTOCOL", ""):
            return app(environ, start_response)
        operation = path[len(PATH_PREFIX):]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        body = to_json(cbor2.loads(raw)) if raw else {}
        payload = json.dumps(body).encode("utf-8")
        inner = dict(environ)
        inner.update(
            {
                "PATH_INFO": "/",
                "CONTENT_TYPE": "application/x-amz-json-1.0",
                "CONTENT_LENGTH": str(len(payload)),
                "HTTP_X_AMZ_TARGET": f"{TARGET_PREFIX}.{operation}",
                "wsgi.input": io.BytesIO(payload),
            }
        )
        inner.pop("HTTP_SMITHY_PROTOCOL", None)
        answered: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Any:
            answered["status"], answered["headers"] = status, headers
            return lambda _data: None

        chunks = app(inner, capture)
        try:
            text = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        status = answered.get("status", "500 Internal Server Error")
        decoded = json.loads(text) if text.strip() else {}
        if status.startswith("2"):
            try:
                shape = _model().operation_model(operation).output_shape
            except Exception:  # an operation botocore does not know: moto answered it anyway
                shape = None
            out = to_cbor_shape(decoded, shape) if shape is not None else {}
        else:
            code = decoded.get("__type") or decoded.get("Error", {}).get("Code") or "InternalFailure"
            message = decoded.get("message") or decoded.get("Message") or decoded.get("Error", {}).get("Message", "")
            out = {"__type": code.rsplit("#", 1)[-1], "message": message}
        encoded = cbor2.dumps(out, datetime_as_timestamp=True)
        keep = [(k, v) for k, v in answered.get("headers", []) if k.lower() in ("x-amzn-requestid", "x-amzn-query-error")]
        start_response(
            status,
            [
                ("Content-Type", "application/cbor"),
                ("smithy-protocol", "rpc-v2-cbor"),
                ("Content-Length", str(len(encoded))),
                *keep,
            ],
        )
        return [encoded]

    return middleware


def register() -> None:
    add_middleware(_cbor_middleware)
