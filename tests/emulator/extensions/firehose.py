"""Amazon Data Firehose: the delivery stream that copies the CDC stream into the S3 lake.

moto 5.2.5 has a Firehose backend. What it lacks or gets wrong for the calls the provider
makes (CreateDeliveryStream from a Kinesis stream to an extended S3 destination,
DescribeDeliveryStream, UpdateDestination, DeleteDeliveryStream, ListDeliveryStreams,
Tag/Untag/ListTagsForDeliveryStream), and what this module does:

* Nothing went through the states AWS reports: a stream was ACTIVE the moment CreateDeliveryStream
  returned, and gone the moment DeleteDeliveryStream returned. Now a new stream is CREATING and
  a deleted one DELETING for a short delay (environment variable
  ``EMULATOR_FIREHOSE_DELAY_SECONDS``, default 0.3 s), and each intermediate status is always
  shown to at least one DescribeDeliveryStream before it ends (another call after the delay ends
  it too). With a delay of 0, a transition ends at the next request, shown to none, as DMS's
  resources settle (``EMULATOR_DMS_DELAY_SECONDS=0``): the provider benchmark sets both to 0 so
  that AWS's settling time is not counted as the provider's. A stream still CREATING cannot be deleted or updated, and a stream not
  ACTIVE cannot be updated (ResourceInUseException), as the reference says; deleting a stream
  already DELETING is accepted.
* Nothing was validated. Now, as AWS does: the model's constraints (ValidationException,
  "N validation error(s) detected: ..."): DeliveryStreamName 1..64 characters of
  ``[a-zA-Z0-9_.-]``, DeliveryStreamType, the role, bucket and stream ARN patterns, the
  required RoleARN/BucketARN/KinesisStreamARN, BufferingHints SizeInMBs 1..128 and
  IntervalInSeconds 0..900, CompressionFormat (UNCOMPRESSED, GZIP, ZIP, Snappy,
  HADOOP_SNAPPY), Prefix/ErrorOutputPrefix at most 1024 characters, CurrentDeliveryStreamVersionId
  digits, ListDeliveryStreams Limit 1..10000. Then the service's own rules
  (InvalidArgumentException): KinesisStreamAsSource needs KinesisStreamSourceConfiguration;
  the source stream must exist; every role (source and destination) must exist and trust
  ``firehose.amazonaws.com`` ("Firehose is unable to assume role ... Please check the role
  provided.", the message AWS gives while a new role propagates); the S3 prefix rules of the
  developer guide ("Custom prefixes for Amazon S3 objects"): expressions ``!{namespace:value}``
  in the namespaces timestamp, firehose (error-output-type, random-string),
  partitionKeyFromQuery and partitionKeyFromLambda only; a Prefix with expressions needs an
  ErrorOutputPrefix; an ErrorOutputPrefix with expressions needs
  ``!{firehose:error-output-type}``, which a Prefix may not use; no partitionKey namespaces in
  ErrorOutputPrefix, nor in Prefix without dynamic partitioning. UpdateDestination checks the
  merged configuration the same way.
* DescribeDeliveryStream lacked what AWS fills in: ``KinesisStreamSourceDescription.
  DeliveryStartTimestamp``, and in ``ExtendedS3DestinationDescription`` the defaults
  BufferingHints 5 MiB / 300 s, CompressionFormat UNCOMPRESSED, EncryptionConfiguration
  NoEncryption, CloudWatchLoggingOptions disabled, S3BackupMode Disabled. After an
  UpdateDestination, its ``S3DestinationDescription`` (the S3 view AWS also reports for an
  extended S3 destination) kept only the updated fields (no RoleARN, BucketARN...): it now
  always mirrors the extended destination.
* UpdateDestination replaced BufferingHints as a whole: the fields given are merged into the
  current ones, as for every other setting (AWS merges an update of the same destination
  type). VersionId already went up by one per update and a stale
  CurrentDeliveryStreamVersionId was already refused (ConcurrentModificationException).
* ListDeliveryStreams answered up to 50 names by default (AWS: 10) and ignored an
  ExclusiveStartDeliveryStreamName that is not (or no longer) a stream; CreateDeliveryStream
  refused the 51st stream of a region (AWS's quota is 5000).
* TagDeliveryStream let a stream collect more than 50 tags (LimitExceededException now).

Firehose never reads the source Kinesis stream here and never writes to the bucket: the
emulator only keeps the configuration (moto's PutRecord to S3 is untouched, and still accepted
on a KinesisStreamAsSource stream, which AWS refuses). The bucket is not checked, nor the
roles' permissions (moto does not evaluate IAM policies).
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from moto.firehose.exceptions import (
    InvalidArgumentException,
    LimitExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
    ValidationException,
)
from moto.firehose.models import DeliveryStream, FirehoseBackend

from ._support import override

DELAY_ENV = "EMULATOR_FIREHOSE_DELAY_SECONDS"
DEFAULT_DELAY = 0.3
SERVICE_PRINCIPAL = "firehose.amazonaws.com"
MAX_STREAMS_PER_REGION = 5000
MAX_TAGS = 50
DEFAULT_LIST_LIMIT = 10

CREATING, ACTIVE, DELETING = "CREATING", "ACTIVE", "DELETING"

NAME_PATTERN = r"[a-zA-Z0-9_.-]+"
ROLE_ARN_PATTERN = r"arn:.*:iam::\d{12}:role/[a-zA-Z_0-9+=,.@\-_/]+"
BUCKET_ARN_PATTERN = r"arn:.*:s3:::[\w\.\-]{1,255}"
STREAM_ARN_PATTERN = r"arn:.*:kinesis:[a-zA-Z0-9\-]+:\d{12}:stream/[a-zA-Z0-9_.-]+"
STREAM_TYPES = ["DirectPut", "KinesisStreamAsSource", "MSKAsSource", "DatabaseAsSource"]
COMPRESSION_FORMATS = ["UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY"]
NAMESPACES = ("timestamp", "firehose", "partitionKeyFromQuery", "partitionKeyFromLambda")
FIREHOSE_VALUES = ("error-output-type", "random-string")
ERROR_OUTPUT_TYPE = "!{firehose:error-output-type}"

# What DescribeDeliveryStream reports for an extended S3 destination created without them.
EXTENDED_S3_DEFAULTS: dict[str, Any] = {
    "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 300},
    "CompressionFormat": "UNCOMPRESSED",
    "EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"},
    "CloudWatchLoggingOptions": {"Enabled": False},
    "S3BackupMode": "Disabled",
}
# The members of an extended S3 destination that its S3 view repeats.
S3_VIEW_MEMBERS = (
    "RoleARN", "BucketARN", "Prefix", "ErrorOutputPrefix", "BufferingHints", "CompressionFormat",
    "EncryptionConfiguration", "CloudWatchLoggingOptions",
)

# moto's server answers requests on several threads; every Firehose call below holds this.
_LOCK = threading.RLock()


def transition_delay() -> float:
    """Seconds a stream stays CREATING or DELETING."""
    raw = os.environ.get(DELAY_ENV, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_DELAY
    except ValueError:
        return DEFAULT_DELAY
    return value if value >= 0 else DEFAULT_DELAY


# ------------------------------------------------------------------------------ lifecycle


@dataclass
class _Transition:
    settled: str | None  # the status reached at the end; None: the stream is gone
    deadline: float
    # Whether a DescribeDeliveryStream must see the intermediate status before it ends (not
    # with a delay of 0).
    shown: bool = True
    reported: bool = False


# Keyed by the stream's ARN: moto's DescribeDeliveryStream turned every attribute of a
# DeliveryStream into a response member, so nothing is added to moto's objects.
_TRANSITIONS: dict[str, _Transition] = {}


def _begin(stream: DeliveryStream, status: str, settled: str | None) -> None:
    stream.delivery_stream_status = status
    delay = transition_delay()
    _TRANSITIONS[stream.delivery_stream_arn] = _Transition(settled, time.monotonic() + delay, shown=delay > 0)


def _settle(backend: FirehoseBackend, stream: DeliveryStream, observing: bool) -> DeliveryStream | None:
    """Ends a due transition. A DescribeDeliveryStream (``observing``) is shown the
    intermediate status at least once before it ends. None: the stream is gone."""
    transition = _TRANSITIONS.get(stream.delivery_stream_arn)
    if transition is None:
        return stream
    if time.monotonic() >= transition.deadline and (transition.reported or not observing or not transition.shown):
        del _TRANSITIONS[stream.delivery_stream_arn]
        if transition.settled is None:
            backend.delivery_streams.pop(stream.delivery_stream_name, None)
            backend.tagger.delete_all_tags_for_resource(stream.delivery_stream_arn)
            return None
        stream.delivery_stream_status = transition.settled
    elif observing:
        transition.reported = True
    return stream


def _sweep(backend: FirehoseBackend, observed: str | None = None) -> None:
    """Settles every stream of the backend; ``observed`` names the one a Describe shows."""
    for name, stream in list(backend.delivery_streams.items()):
        _settle(backend, stream, observing=name == observed)


def _get(backend: FirehoseBackend, name: str) -> DeliveryStream:
    stream = backend.delivery_streams.get(name)
    if stream is None:
        raise ResourceNotFoundException(f"Firehose {name} under account {backend.account_id} not found.")
    return stream


# ------------------------------------------------------------------------------ validation


class _Constraints:
    """Collects the model's constraint violations, reported together as AWS does."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def add(self, value: Any, path: str, rule: str) -> None:
        shown = "null" if value is None else f"'{value}'"
        self.errors.append(f"Value {shown} at '{path}' failed to satisfy constraint: {rule}")

    def required(self, value: Any, path: str) -> bool:
        if value is None:
            self.add(None, path, "Member must not be null")
            return False
        return True

    def string(self, value: Any, path: str, pattern: str | None = None,
               min_len: int = 0, max_len: int | None = None) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            self.add(value, path, "Member must be a string")
            return
        if len(value) < min_len:
            self.add(value, path, f"Member must have length greater than or equal to {min_len}")
        if max_len is not None and len(value) > max_len:
            self.add(value, path, f"Member must have length less than or equal to {max_len}")
        if pattern is not None and value and re.fullmatch(pattern, value) is None:
            self.add(value, path, f"Member must satisfy regular expression pattern: {pattern}")

    def integer(self, value: Any, path: str, low: int, high: int) -> None:
        if value is None:
            return
        if not isinstance(value, int) or isinstance(value, bool):
            self.add(value, path, "Member must be an integer")
        elif value < low:
            self.add(value, path, f"Member must have value greater than or equal to {low}")
        elif value > high:
            self.add(value, path, f"Member must have value less than or equal to {high}")

    def enum(self, value: Any, path: str, allowed: list[str]) -> None:
        if value is not None and value not in allowed:
            self.add(value, path, f"Member must satisfy enum value set: [{', '.join(allowed)}]")

    def raise_any(self) -> None:
        if self.errors:
            count = len(self.errors)
            noun = "error" if count == 1 else "errors"
            raise ValidationException(f"{count} validation {noun} detected: {'; '.join(self.errors)}")


def _check_name(name: Any, path: str = "deliveryStreamName") -> None:
    checks = _Constraints()
    if checks.required(name, path):
        checks.string(name, path, NAME_PATTERN, 1, 64)
    checks.raise_any()


def _check_destination_fields(checks: _Constraints, config: dict[str, Any], path: str, creating: bool) -> None:
    """The model's constraints on an ExtendedS3DestinationConfiguration (``creating``) or
    ExtendedS3DestinationUpdate."""
    for member, pattern, max_len in (("RoleARN", ROLE_ARN_PATTERN, 512), ("BucketARN", BUCKET_ARN_PATTERN, 2048)):
        value = config.get(member)
        member_path = f"{path}.{member[0].lower()}{member[1:]}"
        if creating and not checks.required(value, member_path):
            continue
        checks.string(value, member_path, pattern, 1, max_len)
    checks.string(config.get("Prefix"), f"{path}.prefix", None, 0, 1024)
    checks.string(config.get("ErrorOutputPrefix"), f"{path}.errorOutputPrefix", None, 0, 1024)
    hints = config.get("BufferingHints")
    if isinstance(hints, dict):
        checks.integer(hints.get("SizeInMBs"), f"{path}.bufferingHints.sizeInMBs", 1, 128)
        checks.integer(hints.get("IntervalInSeconds"), f"{path}.bufferingHints.intervalInSeconds", 0, 900)
    checks.enum(config.get("CompressionFormat"), f"{path}.compressionFormat", COMPRESSION_FORMATS)


_EXPRESSION = re.compile(r"!\{([^{}:]*):([^{}]*)\}")


def _expressions(prefix: str, member: str) -> list[tuple[str, str]]:
    """The ``!{namespace:value}`` expressions of a prefix; InvalidArgumentException for a
    ``!{`` that opens none, or an unknown namespace or firehose value."""
    found = []
    position = 0
    while (start := prefix.find("!{", position)) >= 0:
        match = _EXPRESSION.match(prefix, start)
        if match is None:
            raise InvalidArgumentException(f"Invalid expression usage in {member}")
        namespace, value = match.group(1), match.group(2)
        if namespace not in NAMESPACES:
            raise InvalidArgumentException(f"Namespace to the left of colon ({namespace}) is an invalid keyword!")
        if not value or (namespace == "firehose" and value not in FIREHOSE_VALUES):
            raise InvalidArgumentException(
                f"Invalid conversion character used in the value of the expression in {member}"
            )
        found.append((namespace, value))
        position = match.end()
    return found


def _check_prefixes(config: dict[str, Any]) -> None:
    """The semantic rules of S3 prefixes (developer guide, "Custom prefixes for Amazon S3
    objects"), on the whole destination configuration."""
    prefix = config.get("Prefix") or ""
    error_prefix = config.get("ErrorOutputPrefix") or ""
    in_prefix = _expressions(prefix, "Prefix")
    in_error_prefix = _expressions(error_prefix, "ErrorOutputPrefix")
    if ("firehose", "error-output-type") in in_prefix:
        raise InvalidArgumentException(f"Prefix must not contain any occurrence of {ERROR_OUTPUT_TYPE}")
    if in_prefix and not error_prefix:
        raise InvalidArgumentException("ErrorOutputPrefix cannot be null or empty when Prefix contains expressions")
    if in_error_prefix and ERROR_OUTPUT_TYPE not in error_prefix:
        raise InvalidArgumentException(
            f"ErrorOutputPrefix must contain at least one occurrence of {ERROR_OUTPUT_TYPE}"
        )
    if any(ns.startswith("partitionKeyFrom") for ns, _ in in_error_prefix):
        raise InvalidArgumentException("Dynamic Partitioning Namespaces can't be part of an error prefix expression")
    dynamic = (config.get("DynamicPartitioningConfiguration") or {}).get("Enabled") is True
    if not dynamic and any(ns.startswith("partitionKeyFrom") for ns, _ in in_prefix):
        raise InvalidArgumentException(
            "Dynamic Partitioning Namespaces can only be used when dynamic partitioning is enabled"
        )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _firehose_may_assume(trust_document: str) -> bool:
    try:
        document = json.loads(unquote(trust_document) if trust_document.lstrip().startswith("%") else trust_document)
    except (ValueError, AttributeError):
        return True  # not ours to judge: IAM validated it
    for statement in _as_list(document.get("Statement", [])):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions = _as_list(statement.get("Action", []))
        if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        principal = statement.get("Principal")
        if principal == "*":
            return True
        if isinstance(principal, dict):
            if SERVICE_PRINCIPAL in _as_list(principal.get("Service", [])) or principal.get("AWS") == "*":
                return True
    return False


def _arn_parts(arn: str) -> list[str]:
    parts = arn.split(":", 5)
    return parts + [""] * (6 - len(parts))


def _check_role(role_arn: str | None) -> None:
    """The role must exist and let Firehose assume it (AWS tries to, and answers this while a
    new role's trust policy propagates)."""
    if not role_arn:
        return
    from moto.iam.models import iam_backends

    _, partition, _, _, account, _ = _arn_parts(role_arn)
    try:
        role = iam_backends[account][partition or "aws"].get_role_by_arn(role_arn)
        usable = _firehose_may_assume(role.assume_role_policy_document)
    except Exception:
        usable = False
    if not usable:
        raise InvalidArgumentException(f"Firehose is unable to assume role {role_arn}. Please check the role provided.")


def _check_source_stream(stream_arn: str) -> None:
    from moto.kinesis.models import kinesis_backends

    _, _, _, region, account, resource = _arn_parts(stream_arn)
    name = resource.split("/", 1)[-1]
    try:
        kinesis_backends[account][region].describe_stream(stream_arn=stream_arn, stream_name=None)
    except Exception:
        raise InvalidArgumentException(f"Stream {name} under account {account} not found.")


# ------------------------------------------------------------------------------ responses


def _extended_s3_description(config: dict[str, Any]) -> dict[str, Any]:
    description = copy.deepcopy(EXTENDED_S3_DEFAULTS)
    for key, value in copy.deepcopy(config).items():
        if key == "BufferingHints" and isinstance(value, dict):
            description["BufferingHints"].update(value)
        elif value is not None:
            description[key] = value
    return description


def _describe(backend: FirehoseBackend, stream: DeliveryStream) -> dict[str, Any]:
    description: dict[str, Any] = {
        "DeliveryStreamName": stream.delivery_stream_name,
        "DeliveryStreamARN": stream.delivery_stream_arn,
        "DeliveryStreamStatus": stream.delivery_stream_status,
        "DeliveryStreamType": stream.delivery_stream_type,
        "VersionId": stream.version_id,
        "CreateTimestamp": stream.create_timestamp,
        "LastUpdateTimestamp": stream.last_update_timestamp,
    }
    if stream.delivery_stream_encryption_configuration:
        description["DeliveryStreamEncryptionConfiguration"] = stream.delivery_stream_encryption_configuration
    if stream.source:
        source = {k: v for k, v in stream.source.items() if k in ("KinesisStreamARN", "RoleARN")}
        source["DeliveryStartTimestamp"] = stream.create_timestamp
        description["Source"] = {"KinesisStreamSourceDescription": source}
    destinations = []
    for destination in stream.destinations:
        entry: dict[str, Any] = {"DestinationId": destination["destination_id"]}
        if "ExtendedS3" in destination:
            extended = _extended_s3_description(destination["ExtendedS3"])
            entry["ExtendedS3DestinationDescription"] = extended
            entry["S3DestinationDescription"] = {k: copy.deepcopy(extended[k]) for k in S3_VIEW_MEMBERS if k in extended}
        else:
            for key, value in destination.items():
                if key != "destination_id":
                    entry[f"{key}DestinationDescription"] = value
        destinations.append(entry)
    description["Destinations"] = destinations
    description["HasMoreDestinations"] = False
    return {"DeliveryStreamDescription": description}


# ------------------------------------------------------------------------------ patches


def register() -> None:
    DeliveryStream.MAX_STREAMS_PER_REGION = MAX_STREAMS_PER_REGION

    @override(FirehoseBackend, "create_delivery_stream")
    def create_delivery_stream(
        original: Any, self: FirehoseBackend, region: str, delivery_stream_name: str,
        delivery_stream_type: str, kinesis_stream_source_configuration: dict[str, Any], *args: Any,
    ) -> str:
        # args: encryption, then the destination configurations (S3, extended S3, ...), then tags.
        extended = args[2]
        checks = _Constraints()
        if checks.required(delivery_stream_name, "deliveryStreamName"):
            checks.string(delivery_stream_name, "deliveryStreamName", NAME_PATTERN, 1, 64)
        checks.enum(delivery_stream_type, "deliveryStreamType", STREAM_TYPES)
        source = kinesis_stream_source_configuration
        if isinstance(source, dict):
            path = "kinesisStreamSourceConfiguration"
            if checks.required(source.get("KinesisStreamARN"), f"{path}.kinesisStreamARN"):
                checks.string(source["KinesisStreamARN"], f"{path}.kinesisStreamARN", STREAM_ARN_PATTERN, 1, 512)
            if checks.required(source.get("RoleARN"), f"{path}.roleARN"):
                checks.string(source["RoleARN"], f"{path}.roleARN", ROLE_ARN_PATTERN, 1, 512)
        if isinstance(extended, dict):
            _check_destination_fields(checks, extended, "extendedS3DestinationConfiguration", creating=True)
        checks.raise_any()
        with _LOCK:
            _sweep(self)
            if delivery_stream_type == "KinesisStreamAsSource" and not source:
                raise InvalidArgumentException(
                    "KinesisStreamSourceConfiguration is required for KinesisStreamAsSource stream type"
                )
            if delivery_stream_name in self.delivery_streams:
                raise ResourceInUseException(
                    f"Firehose {delivery_stream_name} under accountId {self.account_id} already exists"
                )
            if isinstance(extended, dict):
                _check_prefixes(extended)
            if source and delivery_stream_type == "KinesisStreamAsSource":
                _check_role(source.get("RoleARN"))
                _check_source_stream(source["KinesisStreamARN"])
            if isinstance(extended, dict):
                _check_role(extended.get("RoleARN"))
            arn = original(self, region, delivery_stream_name, delivery_stream_type,
                           kinesis_stream_source_configuration, *args)
            _begin(self.delivery_streams[delivery_stream_name], CREATING, ACTIVE)
            return arn

    @override(FirehoseBackend, "describe_delivery_stream")
    def describe_delivery_stream(original: Any, self: FirehoseBackend, delivery_stream_name: str) -> dict[str, Any]:
        _check_name(delivery_stream_name)
        with _LOCK:
            _sweep(self, observed=delivery_stream_name)
            return _describe(self, _get(self, delivery_stream_name))

    @override(FirehoseBackend, "delete_delivery_stream")
    def delete_delivery_stream(original: Any, self: FirehoseBackend, delivery_stream_name: str) -> None:
        _check_name(delivery_stream_name)
        with _LOCK:
            _sweep(self)
            stream = _get(self, delivery_stream_name)
            status = stream.delivery_stream_status
            if status == DELETING:
                return
            if status == CREATING:
                raise ResourceInUseException(
                    f"Firehose {delivery_stream_name} under account {self.account_id} is in CREATING state "
                    "and cannot be deleted."
                )
            _begin(stream, DELETING, None)

    @override(FirehoseBackend, "update_destination")
    def update_destination(
        original: Any, self: FirehoseBackend, delivery_stream_name: str,
        current_delivery_stream_version_id: str, destination_id: str,
        s3_destination_update: dict[str, Any], extended_s3_destination_update: dict[str, Any], *args: Any,
    ) -> None:
        checks = _Constraints()
        if checks.required(delivery_stream_name, "deliveryStreamName"):
            checks.string(delivery_stream_name, "deliveryStreamName", NAME_PATTERN, 1, 64)
        if checks.required(current_delivery_stream_version_id, "currentDeliveryStreamVersionId"):
            checks.string(current_delivery_stream_version_id, "currentDeliveryStreamVersionId", r"[0-9]+", 1, 50)
        if checks.required(destination_id, "destinationId"):
            checks.string(destination_id, "destinationId", r"[a-zA-Z0-9-]+", 1, 100)
        update = extended_s3_destination_update
        if isinstance(update, dict):
            _check_destination_fields(checks, update, "extendedS3DestinationUpdate", creating=False)
        checks.raise_any()
        with _LOCK:
            _sweep(self)
            stream = _get(self, delivery_stream_name)
            if stream.delivery_stream_status != ACTIVE:
                raise ResourceInUseException(
                    f"Firehose {delivery_stream_name} under account {self.account_id} is not ACTIVE "
                    f"(it is {stream.delivery_stream_status}); try again once it is."
                )
            if isinstance(update, dict):
                update = copy.deepcopy(update)
                current = next(
                    (d.get("ExtendedS3") for d in stream.destinations if d["destination_id"] == destination_id), None
                ) or {}
                if isinstance(update.get("BufferingHints"), dict):
                    # AWS merges an update into the destination, nested hints included.
                    hints = dict(EXTENDED_S3_DEFAULTS["BufferingHints"])
                    hints.update(current.get("BufferingHints") or {})
                    hints.update(update["BufferingHints"])
                    update["BufferingHints"] = hints
                if stream.version_id == current_delivery_stream_version_id:
                    _check_prefixes({**current, **update})
                    if update.get("RoleARN") and update["RoleARN"] != current.get("RoleARN"):
                        _check_role(update["RoleARN"])
            original(self, delivery_stream_name, current_delivery_stream_version_id, destination_id,
                     s3_destination_update, update, *args)

    @override(FirehoseBackend, "list_delivery_streams")
    def list_delivery_streams(
        original: Any, self: FirehoseBackend, limit: int | None, delivery_stream_type: str,
        exclusive_start_delivery_stream_name: str,
    ) -> dict[str, Any]:
        checks = _Constraints()
        checks.integer(limit, "limit", 1, 10000)
        checks.enum(delivery_stream_type, "deliveryStreamType", STREAM_TYPES)
        checks.string(exclusive_start_delivery_stream_name, "exclusiveStartDeliveryStreamName", NAME_PATTERN, 1, 64)
        checks.raise_any()
        with _LOCK:
            _sweep(self)
            names = sorted(
                name for name, stream in self.delivery_streams.items()
                if not delivery_stream_type or stream.delivery_stream_type == delivery_stream_type
            )
            if exclusive_start_delivery_stream_name:
                names = [n for n in names if n > exclusive_start_delivery_stream_name]
            limit = limit or DEFAULT_LIST_LIMIT
            return {"DeliveryStreamNames": names[:limit], "HasMoreDeliveryStreams": len(names) > limit}

    @override(FirehoseBackend, "list_tags_for_delivery_stream")
    def list_tags_for_delivery_stream(original: Any, self: FirehoseBackend, delivery_stream_name: str,
                                      *args: Any) -> dict[str, Any]:
        _check_name(delivery_stream_name)
        with _LOCK:
            _sweep(self)
            return original(self, delivery_stream_name, *args)

    @override(FirehoseBackend, "tag_delivery_stream")
    def tag_delivery_stream(original: Any, self: FirehoseBackend, delivery_stream_name: str,
                            tags: list[dict[str, str]]) -> None:
        _check_name(delivery_stream_name)
        with _LOCK:
            _sweep(self)
            stream = _get(self, delivery_stream_name)
            current = self.tagger.get_tag_dict_for_resource(stream.delivery_stream_arn)
            keys = set(current) | {t.get("Key") for t in tags or []}
            if len(keys) > MAX_TAGS:
                raise LimitExceededException(
                    f"Firehose {delivery_stream_name} would have {len(keys)} tags: at most {MAX_TAGS} are allowed."
                )
            original(self, delivery_stream_name, tags)

    @override(FirehoseBackend, "untag_delivery_stream")
    def untag_delivery_stream(original: Any, self: FirehoseBackend, delivery_stream_name: str,
                              tag_keys: list[str]) -> None:
        _check_name(delivery_stream_name)
        with _LOCK:
            _sweep(self)
            original(self, delivery_stream_name, tag_keys)
