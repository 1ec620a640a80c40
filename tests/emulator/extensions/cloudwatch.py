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

* Alarms were never evaluated: moto left every alarm ``OK`` (AWS starts one in
  ``INSUFFICIENT_DATA``) until SetAlarmState. Now a metric alarm starts in
  ``INSUFFICIENT_DATA`` ("Unchecked: Initial alarm creation") and is evaluated as CloudWatch
  evaluates it, whenever it is read (DescribeAlarms) and whenever data of its metric arrives
  (PutMetricData): its statistic over each of its last ``EvaluationPeriods`` periods (aligned
  to the period), a period breaching when the value compares with ``Threshold`` as
  ``ComparisonOperator`` says, missing periods as ``TreatMissingData`` says (``breaching``,
  ``notBreaching``, else not counted); ``DatapointsToAlarm`` breaching periods make it
  ``ALARM``, otherwise ``OK`` once there is anything to judge, with a state reason in
  CloudWatch's words ("Threshold Crossed: 1 out of the last 1 datapoints [3.0 (07/12/26
  04:10:00)] was greater than or equal to the threshold (1.0) ..."). A transition notifies the
  alarm's SNS topics among the actions of the new state (AlarmActions, OKActions), with the
  alarm's JSON as CloudWatch sends it. One difference: the current period counts as it stands,
  where CloudWatch waits for it to close, so that a test sees the transition without waiting
  a minute. Metric-math and composite alarms are not evaluated. An evaluation reads only
  its alarm's series in its periods (the data is indexed by series and time as it arrives):
  reading every datum ever put, on every PutMetricData, slowed a running pipeline (one put
  per invocation) more the longer it ran — a quarter of the emulator's time after 8,000
  records, the latency's median 1.5 s, now 0.86 s at 100 records/s (`make bench-e2e`).

Dashboard bodies are not checked beyond moto's own JSON check.
"""

from __future__ import annotations

import base64
import bisect
import datetime
import io
import json
import threading
from typing import Any

import cbor2
from botocore.loaders import Loader
from botocore.model import ServiceModel, Shape

from moto.cloudwatch.models import Alarm, CloudWatchBackend

from ._support import add_middleware, override

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


# ----------------------------------------------------------------------------- alarm evaluation

_COMPARE = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}


class _SeriesIndex:
    """A backend's metric data by series (namespace, name, dimensions), each sorted by time:
    indexed as the data grows, so that evaluating an alarm reads its own series' last periods
    instead of every datum ever put (alarms are evaluated on every PutMetricData, and a
    running pipeline puts one after each invocation)."""

    def __init__(self) -> None:
        self.source: list[Any] | None = None
        self.indexed = 0
        # series -> (epoch seconds, datum), in time order
        self.series: dict[tuple[str, str, frozenset[tuple[str, str]]], list[tuple[int, Any]]] = {}

    def points(self, backend: CloudWatchBackend, namespace: str, name: str,
               dimensions: frozenset[tuple[str, str]], start: int, end: int) -> list[Any]:
        """The series' data with start <= timestamp < end."""
        with _INDEX_LOCK:
            if self.source is not backend.metric_data or self.indexed > len(backend.metric_data):
                self.source, self.indexed, self.series = backend.metric_data, 0, {}
            for md in backend.metric_data[self.indexed:]:
                key = (md.namespace, md.name, frozenset((d.name, d.value) for d in md.dimensions))
                bisect.insort(self.series.setdefault(key, []), (int(_utc(md.timestamp).timestamp()), md),
                              key=lambda point: point[0])
            self.indexed = len(backend.metric_data)
            series = self.series.get((namespace, name, dimensions), [])
            low = bisect.bisect_left(series, start, key=lambda point: point[0])
            high = bisect.bisect_left(series, end, key=lambda point: point[0])
            found = [md for _, md in series[low:high]]
        if namespace == "AWS/S3":
            # What moto computes when asked (the only namespace it computes: S3's bucket sizes).
            found += [md for md in backend.aws_metric_data
                      if md.namespace == namespace and md.name == name
                      and frozenset((d.name, d.value) for d in md.dimensions) == dimensions
                      and start <= int(_utc(md.timestamp).timestamp()) < end]
        return found


_INDEX_LOCK = threading.Lock()
_INDEXES: dict[int, _SeriesIndex] = {}


def _period_values(backend: CloudWatchBackend, alarm: Alarm, now: datetime.datetime) -> list[float | None]:
    """The alarm's statistic in each of its last periods (aligned to the period), oldest
    first; None where the period has no data."""
    period = int(alarm.period or 60)
    count = int(alarm.evaluation_periods or 1)
    epoch = int(now.timestamp())
    first_start = epoch - epoch % period - (count - 1) * period
    wanted = frozenset((d.name, d.value) for d in alarm.dimensions)
    with _INDEX_LOCK:
        index = _INDEXES.setdefault(id(backend), _SeriesIndex())
    # (sum, count, min, max) per period.
    buckets: list[list[float] | None] = [None] * count
    for md in index.points(backend, alarm.namespace, alarm.metric_name, wanted,
                           first_start, first_start + count * period):
        index_ = (int(_utc(md.timestamp).timestamp()) - first_start) // period
        if hasattr(md, "value"):
            point = [float(md.value), 1.0, float(md.value), float(md.value)]
        else:  # StatisticValues
            point = [float(md.sum), float(md.sample_count), float(md.min), float(md.max)]
        b = buckets[index_]
        buckets[index_] = point if b is None else [b[0] + point[0], b[1] + point[1], min(b[2], point[2]), max(b[3], point[3])]
    stat = alarm.statistic or "Average"
    values: list[float | None] = []
    for b in buckets:
        if b is None:
            values.append(None)
        else:
            values.append({"Sum": b[0], "SampleCount": b[1], "Minimum": b[2], "Maximum": b[3]}.get(stat, b[0] / b[1] if b[1] else None))
    return values


def evaluate(backend: CloudWatchBackend, alarm: Alarm, now: datetime.datetime | None = None) -> None:
    """Evaluates a metric alarm now, moving its state (and notifying) on a change."""
    if alarm.rule is not None or alarm.metric_data_queries or not alarm.metric_name:
        return
    compare, words = _COMPARE.get(alarm.comparison_operator, (None, ""))
    if compare is None or alarm.threshold is None:
        return
    now = now or datetime.datetime.now(datetime.timezone.utc)
    values = _period_values(backend, alarm, now)
    threshold = float(alarm.threshold)
    missing = alarm.treat_missing_data or "missing"
    judged: list[tuple[float | None, bool]] = []
    for value in values:
        if value is None:
            if missing == "breaching":
                judged.append((None, True))
            elif missing == "notBreaching":
                judged.append((None, False))
            continue
        judged.append((value, compare(value, threshold)))
    needed = int(alarm.datapoints_to_alarm or alarm.evaluation_periods or 1)
    breaching = sum(1 for _, b in judged if b)
    if breaching >= needed:
        state = "ALARM"
    elif judged:
        state = "OK"
    else:
        state = "INSUFFICIENT_DATA"
    if state == alarm.state_value:
        return
    shown = [v for v, _ in judged if v is not None]
    stamp = now.strftime("%d/%m/%y %H:%M:%S")
    points = ", ".join(f"{v} ({stamp})" for v in shown[-5:])
    if state == "INSUFFICIENT_DATA":
        reason = "Insufficient Data: no datapoints were received for the alarm's periods."
    else:
        verb = "was" if state == "ALARM" else "was not"
        reason = (
            f"Threshold Crossed: {breaching} out of the last {len(judged)} datapoints [{points}] {verb} "
            f"{words} the threshold ({threshold}) (minimum {needed} datapoint"
            f"{'' if needed == 1 else 's'} for {alarm.state_value} -> {state} transition)."
        )
    data = json.dumps({"version": "1.0", "queryDate": now.isoformat(), "recentDatapoints": shown, "threshold": threshold})
    old = alarm.state_value
    alarm.update_state(reason, data, state)
    _notify(backend, alarm, old, now)


def _notify(backend: CloudWatchBackend, alarm: Alarm, old: str, now: datetime.datetime) -> None:
    if not alarm.actions_enabled:
        return
    actions = {"ALARM": alarm.alarm_actions, "OK": alarm.ok_actions}.get(alarm.state_value, alarm.insufficient_data_actions)
    topics = [a for a in actions or [] if ":sns:" in a]
    if not topics:
        return
    from moto.sns.models import sns_backends

    message = json.dumps(
        {
            "AlarmName": alarm.name,
            "AlarmDescription": alarm.description,
            "AWSAccountId": backend.account_id,
            "NewStateValue": alarm.state_value,
            "NewStateReason": alarm.state_reason,
            "StateChangeTime": now.isoformat(),
            "Region": backend.region_name,
            "AlarmArn": alarm.alarm_arn,
            "OldStateValue": old,
            "Trigger": {
                "MetricName": alarm.metric_name,
                "Namespace": alarm.namespace,
                "Statistic": (alarm.statistic or "").upper(),
                "Dimensions": [{"name": d.name, "value": d.value} for d in alarm.dimensions],
                "Period": alarm.period,
                "EvaluationPeriods": alarm.evaluation_periods,
                "ComparisonOperator": alarm.comparison_operator,
                "Threshold": alarm.threshold,
            },
        }
    )
    subject = f'{alarm.state_value}: "{alarm.name}" in {backend.region_name}'[:99]
    for topic in topics:
        region = topic.split(":")[3]
        try:
            sns_backends[backend.account_id][region].publish(message, arn=topic, subject=subject)
        except Exception:  # a topic deleted meanwhile: CloudWatch records the failure and goes on
            pass


def _evaluate_all(backend: CloudWatchBackend, alarms: Any) -> Any:
    alarms = list(alarms)
    for alarm in alarms:
        evaluate(backend, alarm)
    return alarms


def register() -> None:
    add_middleware(_cbor_middleware)

    @override(CloudWatchBackend, "put_metric_alarm")
    def put_metric_alarm(original: Any, self: CloudWatchBackend, name: str, *args: Any, **kwargs: Any) -> Alarm:
        before = self.alarms.get(name)
        alarm = original(self, name, *args, **kwargs)
        if before is None:
            # A new alarm has not been evaluated yet.
            alarm.state_value = "INSUFFICIENT_DATA"
        else:
            # An update overwrites the configuration and leaves the state as it was.
            alarm.state_value = before.state_value
            alarm.state_reason = before.state_reason
            alarm.state_reason_data = before.state_reason_data
            alarm.state_updated_timestamp = before.state_updated_timestamp
            alarm.history = before.history
        return alarm

    for name in (
        "describe_alarms",
        "get_alarms_by_action_prefix",
        "get_alarms_by_alarm_name_prefix",
        "get_alarms_by_alarm_names",
    ):

        def read(original: Any, self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Any:
            return _evaluate_all(self, original(self, *args, **kwargs))

        override(CloudWatchBackend, name)(read)

    @override(CloudWatchBackend, "get_alarms_by_state_value")
    def by_state(original: Any, self: CloudWatchBackend, state: str) -> Any:
        _evaluate_all(self, self.alarms.values())
        return original(self, state)

    @override(CloudWatchBackend, "put_metric_data")
    def put_metric_data(original: Any, self: CloudWatchBackend, namespace: str, metric_data: Any) -> None:
        original(self, namespace, metric_data)
        names = {m.get("MetricName") for m in metric_data}
        _evaluate_all(self, (a for a in self.alarms.values() if a.namespace == namespace and a.metric_name in names))
