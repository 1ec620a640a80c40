"""Realism: the emulator answers as AWS does in the seconds after a change.

moto settles every change at once. AWS does not, and a provider that passes only on moto
fails its first apply on a real account. With ``EMULATOR_REALISM=1`` (the default of
``make test``, ``make demo`` and the Terraform tests) this module makes the emulator tell
the truth, each behaviour with AWS's own error code, HTTP status and message. The classes
(``EMULATOR_REALISM_CLASSES``, comma-separated; all by default):

``iam``
    IAM propagation: for ``EMULATOR_REALISM_IAM_SECONDS`` after CreateRole, PutRolePolicy,
    AttachRolePolicy or UpdateAssumeRolePolicy, the services refuse the role as AWS does while
    it propagates: Lambda CreateFunction / UpdateFunctionConfiguration ("The role defined for
    the function cannot be assumed by Lambda."), CreateEventSourceMapping (the function's
    role: "...does not have permissions to call GetRecords on Kinesis"), Firehose
    CreateDeliveryStream / UpdateDestination ("Firehose is unable to assume role ..."),
    DMS CreateEndpoint / ModifyEndpoint (AccessDeniedFault), Kinesis Analytics
    CreateApplication and Add* ("Kinesis Analytics service doesn't have sufficient
    privileges to assume the role").
``lag``
    Read-after-create lag (``EMULATOR_REALISM_LAG_SECONDS``): DescribeTable right after
    CreateTable is ResourceNotFoundException (the API reference says it may be), GetFunction
    and GetFunctionConfiguration right after CreateFunction are 404, and a bucket's
    sub-resources (tagging, public access block, encryption, ...) right after CreateBucket
    are NoSuchBucket; a Kinesis stream that has just read ACTIVE still refuses changes.
``states``
    Asynchronous states (``EMULATOR_REALISM_STATE_SECONDS``): Kinesis streams CREATING and
    UPDATING (changes meanwhile: ResourceInUseException), DynamoDB tables CREATING and
    UPDATING (UpdateTable/DeleteTable meanwhile: ResourceInUseException; a new table's
    UpdateContinuousBackups until as long again after it is ACTIVE:
    ContinuousBackupsUnavailableException "Backups are being enabled for the table"), Lambda functions
    ``Pending`` after create and ``LastUpdateStatus=InProgress`` after an update (another
    update or a PublishVersion meanwhile: 409 ResourceConflictException), event source mappings Creating,
    Updating and Deleting (update or delete meanwhile: ResourceInUseException).
``dms``
    DMS connection tests (in ``dms``): StartReplicationTask needs a successful TestConnection
    of the task's instance with both endpoints, again after ModifyEndpoint; an endpoint whose
    server name cannot resolve (``*.invalid``) fails its test with DMS's message.
``account``
    Account set-up: without the role ``dms-vpc-role`` (or while it propagates), DMS
    CreateReplicationSubnetGroup and CreateReplicationInstance answer AccessDeniedFault
    "The IAM Role arn:aws:iam::<account>:role/dms-vpc-role is not configured properly.".
``s3``
    CreateBucket of a name deleted less than ``EMULATOR_REALISM_S3_SECONDS`` ago: 409
    OperationAborted.
``throttle``
    A seeded share (``EMULATOR_REALISM_THROTTLE_RATE``, ``EMULATOR_REALISM_SEED``) of
    control-plane calls answers the service's throttling error (Kinesis and Firehose
    LimitExceededException, DynamoDB and DMS ThrottlingException, Lambda 429
    TooManyRequestsException, IAM and STS Throttling, S3 503 SlowDown). Data-plane calls
    (records, items, objects, invocations) are left alone.

``GET /_emulator/realism`` answers the settings and what was injected, per class;
``POST /_emulator/realism`` with a JSON object of settings changes them (``enabled``,
``classes``, ``iam_seconds``, ``lag_seconds``, ``state_seconds``, ``s3_seconds``,
``throttle_rate``, ``seed``) and clears the counts; ``"settle": true`` in it ends every
transition in progress at once (streams, tables, functions, mappings, buckets, roles). Its
``outage`` setting (a list of
``Service.Operation`` names) is not a behaviour of AWS right after a change but a service event:
those calls answer the service's internal error every time, until the list is emptied, so that
tests can fail an apply at a chosen step once the SDK's retries give up. Two more run-time
settings stand for the caller's credentials rather than for AWS: ``deny`` (a list of
``Service.Operation`` names) answers those calls the service's access-denied error with AWS's
message naming the action and the resource, as for a caller whose policies do not allow them;
``expired_token`` (true or false) answers every call the service's expired-token error, as for
session credentials past their expiry.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
import uuid
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any, Callable
from urllib.parse import parse_qs, unquote

from . import _support

PATH = "/_emulator/realism"
CLASSES = ("iam", "lag", "states", "dms", "account", "s3", "throttle")


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value >= 0 else default


@dataclass
class Settings:
    enabled: bool = False
    classes: frozenset[str] = frozenset(CLASSES)
    iam_seconds: float = 4.0
    lag_seconds: float = 1.0
    state_seconds: float = 1.5
    s3_seconds: float = 3.0
    throttle_rate: float = 0.02
    seed: int = 1
    # "Service.Operation" names (``Lambda.CreateEventSourceMapping``) answered with the
    # service's internal error every time, as during an AWS service event: what a caller does
    # once its retries give up. Set at run time only (tests of half-failed applies).
    outage: tuple[str, ...] = ()
    # "Service.Operation" names the caller is not allowed to call (AccessDenied), and whether
    # the caller's session credentials have expired (every call: ExpiredToken). Run time only.
    deny: tuple[str, ...] = ()
    expired_token: bool = False

    @classmethod
    def from_env(cls) -> "Settings":
        raw = os.environ.get("EMULATOR_REALISM_CLASSES", "").strip()
        classes = frozenset(c.strip() for c in raw.split(",") if c.strip()) if raw else frozenset(CLASSES)
        unknown = classes - set(CLASSES)
        if unknown:
            raise RuntimeError(f"EMULATOR_REALISM_CLASSES: unknown class(es) {sorted(unknown)}; known: {CLASSES}")
        return cls(
            enabled=os.environ.get("EMULATOR_REALISM", "0").strip().lower() in ("1", "true", "yes", "on"),
            classes=classes,
            iam_seconds=_env_float("EMULATOR_REALISM_IAM_SECONDS", cls.iam_seconds),
            lag_seconds=_env_float("EMULATOR_REALISM_LAG_SECONDS", cls.lag_seconds),
            state_seconds=_env_float("EMULATOR_REALISM_STATE_SECONDS", cls.state_seconds),
            s3_seconds=_env_float("EMULATOR_REALISM_S3_SECONDS", cls.s3_seconds),
            throttle_rate=_env_float("EMULATOR_REALISM_THROTTLE_RATE", cls.throttle_rate),
            seed=int(_env_float("EMULATOR_REALISM_SEED", cls.seed)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "classes": sorted(self.classes),
            "iam_seconds": self.iam_seconds,
            "lag_seconds": self.lag_seconds,
            "state_seconds": self.state_seconds,
            "s3_seconds": self.s3_seconds,
            "throttle_rate": self.throttle_rate,
            "seed": self.seed,
            "outage": list(self.outage),
            "deny": list(self.deny),
            "expired_token": self.expired_token,
        }


@dataclass
class _State:
    settings: Settings = field(default_factory=Settings)
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    # (account, role name) -> monotonic time until which the role is still propagating.
    roles: dict[tuple[str, str], float] = field(default_factory=dict)
    # (account, region, name) -> per-resource records (see the hooks below).
    streams: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    tables: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    functions: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    mappings: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    buckets: dict[str, dict[str, Any]] = field(default_factory=dict)
    injected: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))


_LOCK = threading.RLock()
STATE = _State()


def configure(settings: Settings) -> None:
    with _LOCK:
        STATE.settings = settings
        STATE.rng = random.Random(settings.seed)
        STATE.injected = defaultdict(lambda: defaultdict(int))


def on(cls: str) -> bool:
    """Whether realism class ``cls`` is in force (other extensions ask this too)."""
    settings = STATE.settings
    return settings.enabled and cls in settings.classes


def count(cls: str, what: str) -> None:
    with _LOCK:
        STATE.injected[cls][what] += 1


def role_propagating(account: str, role_arn_or_name: str) -> bool:
    """True while the role (an ARN or a name) is still propagating after a change."""
    name = role_arn_or_name.rsplit("/", 1)[-1]
    with _LOCK:
        until = STATE.roles.get((account, name))
    return until is not None and time.monotonic() < until


# ------------------------------------------------------------------------------ requests


@dataclass
class Request:
    environ: dict[str, Any]
    method: str
    path: str
    query: dict[str, list[str]]
    service: str
    operation: str
    body: bytes
    account: str
    region: str

    def json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return {}
        return value if isinstance(value, dict) else {}

    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}


def _service_of(environ: dict[str, Any]) -> str:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        return auth.split("Credential=", 1)[1].split("/")[3]
    except IndexError:
        return ""


def _read_request(environ: dict[str, Any]) -> Request:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    # Put the body back for moto.
    environ["wsgi.input"] = BytesIO(body)
    service = _service_of(environ)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    operation = target.partition(".")[2]
    request = Request(
        environ=environ,
        method=environ.get("REQUEST_METHOD", "GET"),
        path=environ.get("PATH_INFO", ""),
        query=parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
        service=service,
        operation=operation,
        body=body,
        account=_support._account_of(environ),
        region=_support._region_of(environ),
    )
    if service in ("iam", "sts") and not operation:
        request.operation = request.form().get("Action", "") or request.query.get("Action", [""])[0]
    return request


# ------------------------------------------------------------------------------ answers


class Answer(Exception):
    """An error answer, raised by a hook to refuse a request."""

    def __init__(self, cls: str, status: int, code: str, message: str, style: str = "json",
                 extra: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.cls, self.status, self.code, self.message, self.style = cls, status, code, message, style
        self.extra = extra or {}


_REASONS = {400: "Bad Request", 404: "Not Found", 409: "Conflict", 429: "Too Many Requests",
            503: "Slow Down"}


def _respond(start_response: Callable[..., Any], answer: Answer, request: Request) -> list[bytes]:
    request_id = str(uuid.uuid4())
    if answer.style == "query":  # IAM, STS
        body = (
            f'<ErrorResponse xmlns="https://{request.service}.amazonaws.com/doc/2010-05-08/">'
            f"<Error><Type>Sender</Type><Code>{answer.code}</Code><Message>{_xml(answer.message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        content_type = "text/xml"
    elif answer.style == "s3":
        extra = "".join(f"<{k}>{_xml(v)}</{k}>" for k, v in answer.extra.items())
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{answer.code}</Code><Message>{_xml(answer.message)}</Message>{extra}"
            f"<RequestId>{request_id[:16].upper()}</RequestId></Error>"
        ).encode()
        content_type = "application/xml"
    elif answer.style == "rest-json":  # Lambda
        body = json.dumps({"Type": "User", "message": answer.message, "Message": answer.message}).encode()
        content_type = "application/json"
    else:
        body = json.dumps({"__type": answer.code, "message": answer.message}).encode()
        content_type = request.environ.get("CONTENT_TYPE") or "application/x-amz-json-1.1"
    start_response(
        f"{answer.status} {_REASONS.get(answer.status, 'Error')}",
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", answer.code),
        ],
    )
    return [body]


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _refuse(answer: Answer, what: str) -> Answer:
    count(answer.cls, what)
    return answer


# ------------------------------------------------------------------------------ throttling

# The calls that move data, not configuration: never throttled here (their limits are
# throughput limits, a different error, and the provider does not make them).
DATA_PLANE = {
    "kinesis": {"PutRecord", "PutRecords", "GetRecords", "GetShardIterator", "ListShards", "SubscribeToShard"},
    "dynamodb": {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
                 "BatchWriteItem", "TransactWriteItems", "TransactGetItems", "ExecuteStatement"},
    "firehose": {"PutRecord", "PutRecordBatch"},
}

THROTTLES: dict[str, tuple[int, str, str, str]] = {
    "kinesis": (400, "LimitExceededException", "Rate exceeded for account {account}.", "json"),
    "firehose": (400, "LimitExceededException", "Rate exceeded.", "json"),
    "dynamodb": (400, "ThrottlingException", "Rate of requests exceeds the allowed throughput.", "json"),
    "dms": (400, "ThrottlingException", "Rate exceeded", "json"),
    "kinesisanalytics": (400, "LimitExceededException", "Rate exceeded", "json"),
    "lambda": (429, "TooManyRequestsException", "Rate exceeded", "rest-json"),
    "iam": (400, "Throttling", "Rate exceeded", "query"),
    "sts": (400, "Throttling", "Rate exceeded", "query"),
    "s3": (503, "SlowDown", "Please reduce your request rate.", "s3"),
}


def _is_data_plane(request: Request) -> bool:
    if request.service == "s3":
        # An object (a key after the bucket) or a list of objects.
        parts = request.path.lstrip("/").split("/", 1)
        return len(parts) > 1 and parts[1] != "" or (request.method == "GET" and not request.query)
    if request.service == "lambda":
        return "/invocations" in request.path
    return request.operation in DATA_PLANE.get(request.service, set())


def _throttle(request: Request) -> None:
    if not on("throttle") or request.service not in THROTTLES or _is_data_plane(request):
        return
    with _LOCK:
        hit = STATE.rng.random() < STATE.settings.throttle_rate
    if hit:
        status, code, message, style = THROTTLES[request.service]
        raise _refuse(Answer("throttle", status, code, message.format(account=request.account), style),
                      f"{request.service} {code}")


# ------------------------------------------------------------------------------ IAM

ROLE_CHANGES = {"CreateRole", "PutRolePolicy", "AttachRolePolicy", "UpdateAssumeRolePolicy"}
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")


def _after_iam(request: Request, status: int) -> None:
    if status >= 300 or request.operation not in ROLE_CHANGES:
        return
    name = request.form().get("RoleName")
    if name:
        with _LOCK:
            STATE.roles[(request.account, name)] = time.monotonic() + STATE.settings.iam_seconds


def _fresh_roles(request: Request, text: str) -> list[str]:
    return [arn for arn in ROLE_ARN.findall(text) if role_propagating(request.account, arn)]


# ------------------------------------------------------------------------------ Kinesis

KINESIS_CHANGES = {"UpdateShardCount", "StartStreamEncryption", "StopStreamEncryption", "UpdateStreamMode",
                   "IncreaseStreamRetentionPeriod", "DecreaseStreamRetentionPeriod", "AddTagsToStream",
                   "RemoveTagsFromStream", "EnableEnhancedMonitoring", "DisableEnhancedMonitoring",
                   "MergeShards", "SplitShard"}
# The changes after which a stream is UPDATING (the API reference of each says so).
KINESIS_UPDATING = {"UpdateShardCount", "StartStreamEncryption", "StopStreamEncryption", "UpdateStreamMode",
                    "EnableEnhancedMonitoring", "DisableEnhancedMonitoring", "MergeShards", "SplitShard"}


def _stream_key(request: Request, body: dict[str, Any]) -> tuple[str, str, str] | None:
    name = body.get("StreamName") or str(body.get("StreamARN") or "").rsplit("/", 1)[-1]
    return (request.account, request.region, name) if name else None


def _before_kinesis(request: Request) -> None:
    if request.operation not in KINESIS_CHANGES or not (on("states") or on("lag")):
        return
    body = request.json()
    key = _stream_key(request, body)
    with _LOCK:
        record = STATE.streams.get(key) if key else None
    if record is None:
        return
    now = time.monotonic()
    busy = (on("states") and now < record["until_read"]) or (on("lag") and now < record["until_write"])
    if busy:
        cls = "states" if now < record["until_read"] else "lag"
        raise _refuse(Answer(
            cls, 400, "ResourceInUseException",
            f"Stream {key[2]} under account {request.account} not ACTIVE, instead in state {record['status']}",
        ), f"Kinesis.{request.operation} ResourceInUseException")


def _after_kinesis(request: Request, status: int, body: bytes) -> bytes:
    op = request.operation
    if status >= 300:
        return body
    if op == "CreateStream" or op in KINESIS_UPDATING:
        key = _stream_key(request, request.json())
        if key and on("states"):
            now = time.monotonic()
            settle = now + STATE.settings.state_seconds
            lag = STATE.settings.lag_seconds if on("lag") else 0.0
            with _LOCK:
                STATE.streams[key] = {"status": "CREATING" if op == "CreateStream" else "UPDATING",
                                      "until_read": settle, "until_write": settle + lag}
        return body
    if op in ("DescribeStream", "DescribeStreamSummary") and on("states"):
        key = _stream_key(request, request.json())
        with _LOCK:
            record = STATE.streams.get(key) if key else None
        if record and time.monotonic() < record["until_read"]:
            data = json.loads(body)
            for member in ("StreamDescription", "StreamDescriptionSummary"):
                if member in data:
                    data[member]["StreamStatus"] = record["status"]
            count("states", f"Kinesis.{op} {record['status']}")
            return json.dumps(data).encode()
    if op == "DeleteStream":
        key = _stream_key(request, request.json())
        with _LOCK:
            STATE.streams.pop(key, None)
    return body


# ------------------------------------------------------------------------------ DynamoDB


def _table_key(request: Request, body: dict[str, Any]) -> tuple[str, str, str] | None:
    name = body.get("TableName") or str(body.get("ResourceArn") or "").rsplit("/", 1)[-1]
    return (request.account, request.region, name) if name else None


def _before_dynamodb(request: Request) -> None:
    op = request.operation
    if op not in ("DescribeTable", "UpdateTable", "DeleteTable", "UpdateContinuousBackups"):
        return
    key = _table_key(request, request.json())
    with _LOCK:
        record = STATE.tables.get(key) if key else None
    if record is None:
        return
    now = time.monotonic()
    if op == "UpdateContinuousBackups":
        if on("states") and now < record.get("backups_at", 0.0):
            raise _refuse(Answer("states", 400, "ContinuousBackupsUnavailableException",
                                 "Backups are being enabled for the table"),
                          "DynamoDB.UpdateContinuousBackups ContinuousBackupsUnavailableException")
        return
    if op == "DescribeTable" and on("lag") and now < record["visible_at"]:
        raise _refuse(Answer("lag", 400, "ResourceNotFoundException",
                             f"Requested resource not found: Table: {key[2]} not found"),
                      "DynamoDB.DescribeTable ResourceNotFoundException")
    if op != "DescribeTable" and on("states") and now < record["until"]:
        doing = "being created" if record["status"] == "CREATING" else "being updated"
        raise _refuse(Answer("states", 400, "ResourceInUseException",
                             f"Attempt to change a resource which is still in use: Table is {doing}: {key[2]}"),
                      f"DynamoDB.{op} ResourceInUseException")


def _after_dynamodb(request: Request, status: int, body: bytes) -> bytes:
    op = request.operation
    if status >= 300 or op not in ("CreateTable", "UpdateTable", "DescribeTable", "DeleteTable"):
        return body
    key = _table_key(request, request.json())
    if key is None:
        return body
    now = time.monotonic()
    settings = STATE.settings
    if op == "DeleteTable":
        with _LOCK:
            STATE.tables.pop(key, None)
        return body
    if op in ("CreateTable", "UpdateTable") and on("states") or op == "CreateTable" and on("lag"):
        lag = settings.lag_seconds if op == "CreateTable" and on("lag") else 0.0
        state = settings.state_seconds if on("states") else 0.0
        with _LOCK:
            # A new table's continuous backups are enabled after it is ACTIVE: until then
            # UpdateContinuousBackups is refused.
            backups_at = (now + lag + 2 * state if op == "CreateTable"
                          else STATE.tables.get(key, {}).get("backups_at", 0.0))
            STATE.tables[key] = {"status": "CREATING" if op == "CreateTable" else "UPDATING",
                                 "visible_at": now + lag, "until": now + lag + state,
                                 "backups_at": backups_at}
    with _LOCK:
        record = STATE.tables.get(key)
    if record and on("states") and now < record["until"]:
        data = json.loads(body)
        for member in ("Table", "TableDescription"):
            if member in data:
                data[member]["TableStatus"] = record["status"]
        if op == "DescribeTable":
            count("states", f"DynamoDB.DescribeTable {record['status']}")
        return json.dumps(data).encode()
    return body


# ------------------------------------------------------------------------------ Lambda

FUNCTION_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)(?P<rest>/[a-z]+)?/?$")
MAPPING_PATH = re.compile(r"^/2015-03-31/event-source-mappings/(?P<uuid>[^/]*)/?$")
ROLE_FIELD = re.compile(rb'"Role"\s*:\s*"([^"]+)"')


def _function_name(raw: str) -> str:
    name = unquote(raw)
    if name.startswith("arn:"):
        name = name.split(":")[6]
    return name.split(":")[0]


def _function_arn(request: Request, name: str) -> str:
    return f"arn:aws:lambda:{request.region}:{request.account}:function:{name}"


def _role_of_function(request: Request, name: str) -> str | None:
    from moto.awslambda.utils import get_backend

    try:
        return get_backend(request.account, request.region).get_function(name).role
    except Exception:  # noqa: BLE001 - not found is moto's to answer
        return None


def _before_lambda(request: Request) -> None:
    path, method = request.path, request.method
    now = time.monotonic()
    if method == "POST" and path.rstrip("/") == "/2015-03-31/functions":
        match = ROLE_FIELD.search(request.body)
        role = match.group(1).decode() if match else ""
        if on("iam") and role and role_propagating(request.account, role):
            raise _refuse(Answer("iam", 400, "InvalidParameterValueException",
                                 "The role defined for the function cannot be assumed by Lambda.", "rest-json"),
                          "Lambda.CreateFunction InvalidParameterValueException")
        return
    if method == "POST" and path.rstrip("/") == "/2015-03-31/event-source-mappings":
        function = _function_name(str(request.json().get("FunctionName") or ""))
        role = _role_of_function(request, function) if function else None
        if on("iam") and role and role_propagating(request.account, role):
            raise _refuse(Answer("iam", 400, "InvalidParameterValueException",
                                 "The provided execution role does not have permissions to call GetRecords on Kinesis",
                                 "rest-json"),
                          "Lambda.CreateEventSourceMapping InvalidParameterValueException")
        return
    match = FUNCTION_PATH.match(path)
    if match:
        name = _function_name(match["name"])
        rest = match["rest"] or ""
        with _LOCK:
            record = STATE.functions.get((request.account, request.region, name))
        if method == "GET" and rest in ("", "/configuration") and record and on("lag") and now < record["visible_at"]:
            raise _refuse(Answer("lag", 404, "ResourceNotFoundException",
                                 f"Function not found: {_function_arn(request, name)}", "rest-json"),
                          "Lambda.GetFunction ResourceNotFoundException")
        # PublishVersion snapshots the function: refused, as an update is, until it settles.
        if (method == "PUT" and rest in ("/code", "/configuration")) or (method == "POST" and rest == "/versions"):
            if rest == "/configuration" and on("iam"):
                match_role = ROLE_FIELD.search(request.body)
                role = match_role.group(1).decode() if match_role else ""
                if role and role != _role_of_function(request, name) and role_propagating(request.account, role):
                    raise _refuse(Answer("iam", 400, "InvalidParameterValueException",
                                         "The role defined for the function cannot be assumed by Lambda.",
                                         "rest-json"),
                                  "Lambda.UpdateFunctionConfiguration InvalidParameterValueException")
            if record and on("states"):
                if now < record["pending_until"]:
                    raise _refuse(Answer(
                        "states", 409, "ResourceConflictException",
                        "The operation cannot be performed at this time. "
                        "The function is currently in the following state: Pending", "rest-json"),
                        "Lambda.UpdateFunction ResourceConflictException (Pending)")
                if now < record["updating_until"]:
                    raise _refuse(Answer(
                        "states", 409, "ResourceConflictException",
                        "The operation cannot be performed at this time. "
                        f"An update is in progress for resource: {_function_arn(request, name)}", "rest-json"),
                        "Lambda.UpdateFunction ResourceConflictException (InProgress)")
        return
    match = MAPPING_PATH.match(path)
    if match and match["uuid"] and method in ("PUT", "DELETE", "GET"):
        key = (request.account, request.region, match["uuid"])
        with _LOCK:
            record = STATE.mappings.get(key)
        if record is None or not on("states") or now >= record["until"]:
            return
        if method == "GET" and record["state"] == "Deleting":
            raise _Served(200, json.dumps({**record["body"], "State": "Deleting"}).encode(), "Deleting")
        if method != "GET" and record["state"] != "Deleting":
            verb = "update" if method == "PUT" else "delete"
            raise _refuse(Answer("states", 400, "ResourceInUseException",
                                 f"Cannot {verb} the event source mapping because it is in use.", "rest-json"),
                          f"Lambda.{verb.title()}EventSourceMapping ResourceInUseException")


class _Served(Exception):
    """A hook answering a request itself (a successful answer moto can no longer give)."""

    def __init__(self, status: int, body: bytes, what: str) -> None:
        super().__init__(what)
        self.status, self.body, self.what = status, body, what


def _after_lambda(request: Request, status: int, body: bytes) -> bytes:
    path, method = request.path, request.method
    now = time.monotonic()
    settings = STATE.settings
    if status >= 300:
        return body
    if method == "POST" and path.rstrip("/") == "/2015-03-31/functions":
        data = json.loads(body)
        name = data.get("FunctionName", "")
        lag = settings.lag_seconds if on("lag") else 0.0
        state = settings.state_seconds if on("states") else 0.0
        with _LOCK:
            STATE.functions[(request.account, request.region, name)] = {
                "visible_at": now + lag, "pending_until": now + lag + state, "updating_until": 0.0}
        if on("states"):
            data.update(State="Pending", StateReason="The function is being created.", StateReasonCode="Creating")
            return json.dumps(data).encode()
        return body
    if method == "POST" and path.rstrip("/") == "/2015-03-31/event-source-mappings":
        if on("states"):
            data = json.loads(body)
            with _LOCK:
                STATE.mappings[(request.account, request.region, data.get("UUID", ""))] = {
                    "state": "Creating", "until": now + settings.state_seconds, "body": data}
            data["State"] = "Creating"
            return json.dumps(data).encode()
        return body
    match = FUNCTION_PATH.match(path)
    if match:
        key = (request.account, request.region, _function_name(match["name"]))
        rest = match["rest"] or ""
        if method == "DELETE" and not rest:
            with _LOCK:
                STATE.functions.pop(key, None)
            return body
        if not on("states"):
            return body
        with _LOCK:
            record = STATE.functions.get(key)
            if method == "PUT" and rest in ("/code", "/configuration"):
                record = record or {"visible_at": 0.0, "pending_until": 0.0}
                record["updating_until"] = now + settings.state_seconds
                STATE.functions[key] = record
        if record is None or method not in ("GET", "PUT") or rest not in ("", "/configuration", "/code"):
            return body
        data = json.loads(body)
        config = data.get("Configuration", data)
        changed = None
        if now < record["pending_until"]:
            config.update(State="Pending", StateReason="The function is being created.", StateReasonCode="Creating")
            changed = "Pending"
        elif now < record["updating_until"]:
            config.update(LastUpdateStatus="InProgress", LastUpdateStatusReason="The function is being updated.",
                          LastUpdateStatusReasonCode="InProgress")
            changed = "InProgress"
        if changed is None:
            return body
        if method == "GET":
            count("states", f"Lambda.GetFunction {changed}")
        return json.dumps(data).encode()
    match = MAPPING_PATH.match(path)
    if match and match["uuid"] and on("states"):
        key = (request.account, request.region, match["uuid"])
        with _LOCK:
            record = STATE.mappings.get(key)
        if method in ("PUT", "DELETE"):
            data = json.loads(body) if body else {}
            state = "Updating" if method == "PUT" else "Deleting"
            with _LOCK:
                STATE.mappings[key] = {"state": state, "until": now + settings.state_seconds, "body": data}
            data["State"] = state
            return json.dumps(data).encode()
        if method == "GET" and record and now < record["until"]:
            data = json.loads(body)
            data["State"] = record["state"]
            count("states", f"Lambda.GetEventSourceMapping {record['state']}")
            return json.dumps(data).encode()
    return body


# ------------------------------------------------------------------------------ S3

BUCKET_SUBRESOURCES = {"tagging", "publicAccessBlock", "encryption", "versioning", "lifecycle", "policy",
                       "ownershipControls", "notification", "acl", "cors", "logging", "website", "replication"}


def _bucket_of(request: Request) -> tuple[str, bool]:
    """The bucket of a path-style request, and whether the request names only the bucket."""
    parts = request.path.lstrip("/").split("/", 1)
    return parts[0], len(parts) == 1 or parts[1] == ""


def _before_s3(request: Request) -> None:
    bucket, bucket_only = _bucket_of(request)
    if not bucket or not bucket_only:
        return
    now = time.monotonic()
    with _LOCK:
        record = STATE.buckets.get(bucket)
    if record is None:
        return
    if request.method == "PUT" and not request.query and record.get("deleted_until", 0.0) > now and on("s3"):
        raise _refuse(Answer("s3", 409, "OperationAborted",
                             "A conflicting conditional operation is currently in progress against this resource. "
                             "Please try again.", "s3", {"BucketName": bucket}),
                      "S3.CreateBucket OperationAborted")
    if BUCKET_SUBRESOURCES & set(request.query) and record.get("visible_at", 0.0) > now and on("lag"):
        raise _refuse(Answer("lag", 404, "NoSuchBucket", "The specified bucket does not exist", "s3",
                             {"BucketName": bucket}),
                      "S3 bucket sub-resource NoSuchBucket")


def _after_s3(request: Request, status: int, body: bytes) -> bytes:
    bucket, bucket_only = _bucket_of(request)
    if status >= 300 or not bucket or not bucket_only or request.query:
        return body
    now = time.monotonic()
    settings = STATE.settings
    if request.method == "PUT":
        with _LOCK:
            STATE.buckets[bucket] = {"visible_at": now + settings.lag_seconds}
    elif request.method == "DELETE":
        with _LOCK:
            STATE.buckets[bucket] = {"deleted_until": now + settings.s3_seconds}
    return body


# ------------------------------------------------------------------------------ role users

KDA_ROLE_CALLS = {"CreateApplication", "AddApplicationInput", "AddApplicationOutput",
                  "AddApplicationReferenceDataSource", "UpdateApplication"}


def _before_role_users(request: Request) -> None:
    if not on("iam"):
        return
    service, op = request.service, request.operation
    if service == "firehose" and op in ("CreateDeliveryStream", "UpdateDestination"):
        for arn in _fresh_roles(request, request.body.decode("utf-8", "replace")):
            raise _refuse(Answer("iam", 400, "InvalidArgumentException",
                                 f"Firehose is unable to assume role {arn}. Please check the role provided."),
                          f"Firehose.{op} InvalidArgumentException")
    if service == "dms" and op in ("CreateEndpoint", "ModifyEndpoint"):
        for arn in _fresh_roles(request, request.body.decode("utf-8", "replace")):
            raise _refuse(Answer("iam", 400, "AccessDeniedFault", f"The IAM Role {arn} is not configured properly."),
                          f"DMS.{op} AccessDeniedFault")
    if service == "kinesisanalytics" and op in KDA_ROLE_CALLS:
        for arn in _fresh_roles(request, request.body.decode("utf-8", "replace")):
            raise _refuse(Answer("iam", 400, "InvalidArgumentException",
                                 "Kinesis Analytics service doesn't have sufficient privileges to assume the role "
                                 f"{arn}. Please check the role provided."),
                          f"KinesisAnalytics.{op} InvalidArgumentException")


DMS_VPC_ROLE = "dms-vpc-role"


def _before_dms_account(request: Request) -> None:
    if not on("account") or request.service != "dms":
        return
    if request.operation not in ("CreateReplicationSubnetGroup", "CreateReplicationInstance"):
        return
    from moto.iam.models import iam_backends

    try:
        roles = iam_backends[request.account]["aws"].roles.values()
        exists = any(role.name == DMS_VPC_ROLE for role in roles)
    except KeyError:
        exists = False
    if not exists or role_propagating(request.account, DMS_VPC_ROLE):
        raise _refuse(Answer(
            "account", 400, "AccessDeniedFault",
            f"The IAM Role arn:aws:iam::{request.account}:role/{DMS_VPC_ROLE} is not configured properly.",
        ), f"DMS.{request.operation} AccessDeniedFault ({'propagating' if exists else 'missing'})")


# ------------------------------------------------------------------------------ outage

SERVICE_NAMES = {"kinesis": "Kinesis", "dynamodb": "DynamoDB", "firehose": "Firehose", "dms": "DMS",
                 "kinesisanalytics": "KinesisAnalytics", "iam": "IAM", "sts": "STS", "lambda": "Lambda",
                 "s3": "S3"}

INTERNAL_ERRORS: dict[str, tuple[int, str, str]] = {
    "kinesis": (500, "InternalFailure", "json"),
    "dynamodb": (500, "InternalServerError", "json"),
    "firehose": (500, "ServiceUnavailableException", "json"),
    "dms": (500, "InternalFailure", "json"),
    "kinesisanalytics": (500, "InternalFailure", "json"),
    "lambda": (500, "ServiceException", "rest-json"),
    "iam": (500, "ServiceFailure", "query"),
    "sts": (500, "InternalFailure", "query"),
    "s3": (500, "InternalError", "s3"),
}


def operation_of(request: Request) -> str:
    """``Service.Operation`` of a request, for the REST services (Lambda, S3) as far as the
    provider's calls go."""
    service = SERVICE_NAMES.get(request.service, request.service)
    if request.operation:
        return f"{service}.{request.operation}"
    method, path = request.method, request.path.rstrip("/")
    if request.service == "lambda":
        if path == "/2015-03-31/functions":
            return "Lambda.CreateFunction" if method == "POST" else "Lambda.ListFunctions"
        if path == "/2015-03-31/event-source-mappings":
            return "Lambda.CreateEventSourceMapping" if method == "POST" else "Lambda.ListEventSourceMappings"
        if MAPPING_PATH.match(path + "/"):
            return {"GET": "Lambda.GetEventSourceMapping", "PUT": "Lambda.UpdateEventSourceMapping",
                    "DELETE": "Lambda.DeleteEventSourceMapping"}.get(method, "Lambda.EventSourceMapping")
        match = FUNCTION_PATH.match(path)
        if match:
            rest = match["rest"] or ""
            return {
                ("GET", ""): "Lambda.GetFunction", ("DELETE", ""): "Lambda.DeleteFunction",
                ("GET", "/configuration"): "Lambda.GetFunctionConfiguration",
                ("PUT", "/configuration"): "Lambda.UpdateFunctionConfiguration",
                ("PUT", "/code"): "Lambda.UpdateFunctionCode",
            }.get((method, rest), f"Lambda.{method}{rest}")
        return f"Lambda.{method} {path}"
    if request.service == "s3":
        bucket, bucket_only = _bucket_of(request)
        sub = next((q for q in request.query if q in BUCKET_SUBRESOURCES), "")
        if not bucket_only:
            return {"PUT": "S3.PutObject", "GET": "S3.GetObject", "DELETE": "S3.DeleteObject",
                    "HEAD": "S3.HeadObject"}.get(method, f"S3.{method}Object")
        names = {"tagging": "BucketTagging", "publicAccessBlock": "PublicAccessBlock",
                 "encryption": "BucketEncryption"}
        if sub:
            verb = {"PUT": "Put", "GET": "Get", "DELETE": "Delete"}.get(method, method)
            return f"S3.{verb}{names.get(sub, sub)}"
        return {"PUT": "S3.CreateBucket", "DELETE": "S3.DeleteBucket", "HEAD": "S3.HeadBucket",
                "GET": "S3.ListObjects"}.get(method, f"S3.{method}Bucket")
    return f"{service}.{method} {path}"


def _outage(request: Request) -> None:
    outage = STATE.settings.outage
    if not outage:
        return
    name = operation_of(request)
    if name in outage:
        status, code, style = INTERNAL_ERRORS.get(request.service, (500, "InternalFailure", "json"))
        raise _refuse(Answer("outage", status, code, "We encountered an internal error. Please try again.", style),
                      name)


# ------------------------------------------------------------------------------ credentials

# Per service: the IAM action prefix, and its access-denied answer (status, code, style).
ACCESS_DENIED: dict[str, tuple[str, int, str, str]] = {
    "kinesis": ("kinesis", 400, "AccessDeniedException", "json"),
    "dynamodb": ("dynamodb", 400, "AccessDeniedException", "json"),
    "firehose": ("firehose", 400, "AccessDeniedException", "json"),
    "dms": ("dms", 400, "AccessDeniedException", "json"),
    "kinesisanalytics": ("kinesisanalytics", 400, "AccessDeniedException", "json"),
    "lambda": ("lambda", 403, "AccessDeniedException", "rest-json"),
    "iam": ("iam", 403, "AccessDenied", "query"),
    "sts": ("sts", 403, "AccessDenied", "query"),
    "s3": ("s3", 403, "AccessDenied", "s3"),
}

# Per service: the expired-token answer (status, code, message, style).
EXPIRED_TOKEN: dict[str, tuple[int, str, str, str]] = {
    **{service: (400, "ExpiredTokenException", "The security token included in the request is expired", "json")
       for service in ("kinesis", "dynamodb", "firehose", "dms", "kinesisanalytics")},
    "lambda": (403, "ExpiredTokenException", "The security token included in the request is expired",
               "rest-json"),
    "iam": (403, "ExpiredToken", "The security token included in the request is expired", "query"),
    "sts": (403, "ExpiredToken", "The security token included in the request is expired", "query"),
    "s3": (400, "ExpiredToken", "The provided token has expired.", "s3"),
}


def _resource_of(request: Request) -> str | None:
    """The ARN of the resource a call acts on, where the request names it."""
    body = request.json() if request.service in ("kinesis", "dynamodb") else {}
    where = f"{request.region}:{request.account}"
    if request.service == "kinesis":
        if body.get("StreamARN"):
            return str(body["StreamARN"])
        if body.get("StreamName"):
            return f"arn:aws:kinesis:{where}:stream/{body['StreamName']}"
    if request.service == "dynamodb" and body.get("TableName"):
        return f"arn:aws:dynamodb:{where}:table/{body['TableName']}"
    if request.service == "lambda":
        match = FUNCTION_PATH.match(request.path.rstrip("/"))
        if match:
            return _function_arn(request, _function_name(match["name"]))
    if request.service == "s3":
        bucket, _ = _bucket_of(request)
        if bucket:
            return f"arn:aws:s3:::{bucket}"
    return None


def _credentials(request: Request) -> None:
    settings = STATE.settings
    if settings.expired_token and request.service in EXPIRED_TOKEN:
        status, code, message, style = EXPIRED_TOKEN[request.service]
        raise _refuse(Answer("credentials", status, code, message, style), f"{request.service} {code}")
    name = operation_of(request)
    if name in settings.deny and request.service in ACCESS_DENIED:
        prefix, status, code, style = ACCESS_DENIED[request.service]
        action = f"{prefix}:{name.split('.', 1)[1]}"
        resource = _resource_of(request)
        on_resource = f" on resource: {resource}" if resource else ""
        raise _refuse(Answer(
            "credentials", status, code,
            f"User: arn:aws:iam::{request.account}:user/moto is not authorized to perform: {action}"
            f"{on_resource} because no identity-based policy allows the {action} action", style), name)


# ------------------------------------------------------------------------------ middleware

BEFORE: dict[str, list[Callable[[Request], None]]] = {
    "kinesis": [_before_kinesis],
    "dynamodb": [_before_dynamodb],
    "lambda": [_before_lambda],
    "s3": [_before_s3],
    "firehose": [_before_role_users],
    "dms": [_before_dms_account, _before_role_users],
    "kinesisanalytics": [_before_role_users],
}

AFTER: dict[str, Callable[[Request, int, bytes], bytes]] = {
    "kinesis": _after_kinesis,
    "dynamodb": _after_dynamodb,
    "lambda": _after_lambda,
    "s3": _after_s3,
}


def _control(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    if environ.get("REQUEST_METHOD") == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        given = json.loads(environ["wsgi.input"].read(length) or b"{}")
        if given.pop("settle", False):
            # An action, not a setting: every transition in progress ends now.
            with _LOCK:
                for records in (STATE.streams, STATE.tables, STATE.functions, STATE.mappings,
                                STATE.buckets, STATE.roles):
                    records.clear()
        current = STATE.settings.to_dict()
        unknown = set(given) - set(current)
        if unknown:
            return _support.json_response(start_response, 400, {"message": f"unknown settings {sorted(unknown)}"})
        merged = {**current, **given}
        merged["classes"] = frozenset(merged["classes"])
        merged["outage"] = tuple(merged["outage"])
        merged["deny"] = tuple(merged["deny"])
        merged["expired_token"] = bool(merged["expired_token"])
        if merged["classes"] - set(CLASSES):
            return _support.json_response(start_response, 400, {"message": f"unknown classes; known: {CLASSES}"})
        configure(Settings(**merged))
    with _LOCK:
        injected = {cls: dict(counts) for cls, counts in STATE.injected.items()}
    return _support.json_response(start_response, 200, {**STATE.settings.to_dict(), "injected": injected})


def _middleware(app: Any) -> Any:
    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == PATH:
            return _control(environ, start_response)
        if not STATE.settings.enabled:
            return app(environ, start_response)
        request = _read_request(environ)
        try:
            _credentials(request)
            _outage(request)
            _throttle(request)
            for hook in BEFORE.get(request.service, ()):
                hook(request)
        except Answer as answer:
            return _respond(start_response, answer, request)
        except _Served as served:
            count("states", served.what)
            return _support.json_response(start_response, served.status, json.loads(served.body))
        if request.service == "iam":
            captured = _capture(app, environ)
            _after_iam(request, captured.status)
            return captured.replay(start_response)
        after = AFTER.get(request.service)
        if after is None:
            return app(environ, start_response)
        captured = _capture(app, environ)
        captured.body = after(request, captured.status, captured.body)
        return captured.replay(start_response)

    return middleware


@dataclass
class _Captured:
    status_line: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status(self) -> int:
        return int(self.status_line.split(" ", 1)[0])

    def replay(self, start_response: Callable[..., Any]) -> list[bytes]:
        headers = [(k, v) for k, v in self.headers if k.lower() not in ("content-length", "x-amz-crc32")]
        headers.append(("Content-Length", str(len(self.body))))
        if any(k.lower() == "x-amz-crc32" for k, _ in self.headers):
            # DynamoDB's checksum of the body, which SDKs verify (and retry on a mismatch).
            headers.append(("x-amz-crc32", str(zlib.crc32(self.body) & 0xFFFFFFFF)))
        start_response(self.status_line, headers)
        return [self.body]


def _capture(app: Any, environ: dict[str, Any]) -> _Captured:
    seen: dict[str, Any] = {}

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        seen["status"], seen["headers"] = status, list(headers)
        return lambda _data: None

    result = app(environ, start)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return _Captured(seen["status"], seen["headers"], body)


def register() -> None:
    configure(Settings.from_env())
    _support.add_middleware(_middleware, outermost=True)
