"""Lambda event source mappings (ESM), for stream sources (Kinesis, DynamoDB Streams) above all.

What moto 5.2.5 lacks or gets wrong, and what this module does about it:

* No range validation: ParallelizationFactor 11, MaximumRetryAttempts 10001,
  MaximumRecordAgeInSeconds 59, MaximumBatchingWindowInSeconds 301... were stored as given,
  and BatchSize above 10000 crashed with HTTP 500. Every range of the API reference is now
  checked on create and update (InvalidParameterValueException, HTTP 400), as are
  FunctionResponseTypes values and StartingPosition (required for stream sources, one of
  TRIM_HORIZON/LATEST/AT_TIMESTAMP; moto silently defaulted it to TRIM_HORIZON).
* A second mapping between the same stream and function was accepted: AWS answers
  ResourceConflictException (HTTP 409) naming the existing mapping's UUID.
* ListEventSourceMappings compared FunctionName with the raw string given at creation, so a
  mapping created by name was not found by ARN (and vice versa). Names, ARNs, partial ARNs
  and qualifiers are now resolved.
* Responses of stream mappings lacked the defaults AWS reports (MaximumBatchingWindowInSeconds
  0, ParallelizationFactor 1, MaximumRecordAgeInSeconds -1, MaximumRetryAttempts -1,
  BisectBatchOnFunctionError false, TumblingWindowInSeconds 0, FunctionResponseTypes [],
  DestinationConfig {"OnFailure": {}}), LastProcessingResult, and had a StateTransitionReason
  of "User initiated" instead of USER_INITIATED; they carried a ``Tags`` member that is not
  part of the EventSourceMappingConfiguration shape.
* Update/Delete of an unknown UUID answered HTTP 404 with an empty body (no error code):
  now ResourceNotFoundException. CreateEventSourceMapping answered 201 instead of 202.
* DeleteEventSourceMapping left the mapping registered on the Kinesis stream.

State transitions are reported as settled (Enabled/Disabled right away; Deleting on delete).
"""

from __future__ import annotations

import json
from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException, LambdaClientError
from moto.awslambda.models import EventSourceMapping, LambdaBackend
from moto.awslambda.responses import LambdaResponse
from moto.core.responses import TYPE_RESPONSE

from ._support import override

STREAM_SOURCES = ("kinesis", "dynamodb")
SUPPORTED_SOURCES = ("kinesis", "dynamodb", "sqs", "sqs-fifo")
STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")
FUNCTION_RESPONSE_TYPES = ("ReportBatchItemFailures",)

# Parameter -> (request member name used in AWS messages, minimum, maximum).
RANGES: dict[str, tuple[str, int, int]] = {
    "BatchSize": ("batchSize", 1, 10000),
    "MaximumBatchingWindowInSeconds": ("maximumBatchingWindowInSeconds", 0, 300),
    "ParallelizationFactor": ("parallelizationFactor", 1, 10),
    "MaximumRetryAttempts": ("maximumRetryAttempts", -1, 10000),
    "MaximumRecordAgeInSeconds": ("maximumRecordAgeInSeconds", -1, 604800),
    "TumblingWindowInSeconds": ("tumblingWindowInSeconds", 0, 900),
}
# Per event source type: the largest BatchSize (API reference, BatchSize).
MAX_BATCH_SIZE = {"kinesis": 10000, "dynamodb": 10000, "sqs": 10000, "sqs-fifo": 10}

# What AWS reports for a stream mapping's settings that were never set.
STREAM_DEFAULTS: dict[str, Any] = {
    "MaximumBatchingWindowInSeconds": 0,
    "ParallelizationFactor": 1,
    "MaximumRecordAgeInSeconds": -1,
    "MaximumRetryAttempts": -1,
    "BisectBatchOnFunctionError": False,
    "TumblingWindowInSeconds": 0,
    "FunctionResponseTypes": [],
    "DestinationConfig": {"OnFailure": {}},
}


class ResourceNotFound(LambdaClientError):
    code = 404

    def __init__(self, message: str = "The resource you requested does not exist.") -> None:
        super().__init__("ResourceNotFoundException", message)


class ResourceConflict(LambdaClientError):
    code = 409

    def __init__(self, message: str) -> None:
        super().__init__("ResourceConflictException", message)


def _source_type(event_source_arn: str) -> str:
    parts = event_source_arn.split(":")
    service = parts[2].lower() if len(parts) > 2 else ""
    if service == "sqs" and event_source_arn.endswith(".fifo"):
        return "sqs-fifo"
    return service


def _invalid(member: str, value: Any, constraint: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {constraint}"
    )


def validate(spec: dict[str, Any], source_type: str, creating: bool) -> None:
    """Raises InvalidParameterValueException for a setting the API reference does not allow."""
    for key, (member, low, high) in RANGES.items():
        if key not in spec or spec[key] is None:
            continue
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise _invalid(member, value, "Member must be an integer")
        if value < low:
            raise _invalid(member, value, f"Member must have value greater than or equal to {low}")
        if value > high:
            raise _invalid(member, value, f"Member must have value less than or equal to {high}")
    age = spec.get("MaximumRecordAgeInSeconds")
    if age is not None and age != -1 and age < 60:
        raise InvalidParameterValueException(
            f"MaximumRecordAgeInSeconds must be -1 (infinite) or between 60 and 604800; got {age}."
        )
    batch = spec.get("BatchSize")
    if batch is not None and batch > MAX_BATCH_SIZE.get(source_type, 10000):
        raise InvalidParameterValueException(
            f"BatchSize {batch} exceeds the max of {MAX_BATCH_SIZE[source_type]} for this event source."
        )
    types = spec.get("FunctionResponseTypes")
    if types is not None:
        if not isinstance(types, list) or len(types) > 1 or any(t not in FUNCTION_RESPONSE_TYPES for t in types):
            raise _invalid(
                "functionResponseTypes",
                types,
                "Member must satisfy constraint: [Member must satisfy enum value set: "
                "[ReportBatchItemFailures]], Member must have length less than or equal to 1",
            )
    for flag in ("Enabled", "BisectBatchOnFunctionError"):
        if flag in spec and spec[flag] is not None and not isinstance(spec[flag], bool):
            raise _invalid(flag[0].lower() + flag[1:], spec[flag], "Member must be a boolean")
    if not creating:
        return
    position = spec.get("StartingPosition")
    if source_type in STREAM_SOURCES:
        if position is None:
            raise InvalidParameterValueException(
                "StartingPosition is required for event sources of type "
                f"{'Kinesis' if source_type == 'kinesis' else 'DynamoDB Streams'}."
            )
        if position not in STARTING_POSITIONS:
            raise _invalid(
                "startingPosition",
                position,
                "Member must satisfy enum value set: [TRIM_HORIZON, LATEST, AT_TIMESTAMP]",
            )
        if position == "AT_TIMESTAMP":
            if source_type != "kinesis":
                raise InvalidParameterValueException(
                    "Unsupported starting position for this event source: AT_TIMESTAMP."
                )
            if spec.get("StartingPositionTimestamp") is None:
                raise InvalidParameterValueException(
                    "StartingPositionTimestamp is required when StartingPosition is AT_TIMESTAMP."
                )
    elif position is not None and source_type in ("sqs", "sqs-fifo"):
        raise InvalidParameterValueException("StartingPosition is not valid for SQS event sources.")


def _split_function(name_or_arn: str) -> tuple[str, str | None]:
    """(function name, qualifier or None) of a name, partial ARN or ARN, qualified or not."""
    value = name_or_arn
    if value.startswith("arn:"):
        # arn:partition:lambda:region:account:function:name[:qualifier]
        parts = value.split(":")
        name = parts[6] if len(parts) > 6 else value
        qualifier = parts[7] if len(parts) > 7 else None
    elif ":function:" in value:
        # account:function:name[:qualifier]
        rest = value.split(":function:", 1)[1]
        name, _, qualifier = rest.partition(":")
        qualifier = qualifier or None  # type: ignore[assignment]
    else:
        name, _, qualifier = value.partition(":")
        qualifier = qualifier or None  # type: ignore[assignment]
    if qualifier == "$LATEST":
        qualifier = None
    return name, qualifier


def _mapping(backend: LambdaBackend, uuid: str) -> EventSourceMapping:
    esm = backend.get_event_source_mapping(uuid)
    if esm is None:
        raise ResourceNotFound()
    return esm


def _unregister_from_stream(esm: EventSourceMapping) -> None:
    if _source_type(esm.event_source_arn) != "kinesis":
        return
    from moto.kinesis.models import kinesis_backends

    try:
        streams = kinesis_backends[esm.account_id][esm.region].streams
    except KeyError:
        return
    for stream in streams.values():
        registered = stream.lambda_event_source_mappings
        for key, value in list(registered.items()):
            if value is esm:
                del registered[key]


def register() -> None:
    @override(EventSourceMapping, "get_configuration")
    def get_configuration(original: Any, self: EventSourceMapping) -> dict[str, Any]:
        config = original(self)
        config.pop("Tags", None)
        config["StateTransitionReason"] = "USER_INITIATED"
        config.setdefault("LastProcessingResult", "No records processed")
        if _source_type(self.event_source_arn) in STREAM_SOURCES:
            for key, default in STREAM_DEFAULTS.items():
                if config.get(key) is None:
                    config[key] = json.loads(json.dumps(default))
        return config

    @override(LambdaResponse, "create_event_source_mapping")
    def create_event_source_mapping(original: Any, self: LambdaResponse) -> TYPE_RESPONSE:
        spec = self.json_body
        source_arn = spec.get("EventSourceArn")
        function_name = spec.get("FunctionName")
        if not source_arn:
            raise InvalidParameterValueException("EventSourceArn is required.")
        if not function_name:
            raise InvalidParameterValueException("FunctionName is required.")
        source_type = _source_type(source_arn)
        if source_type not in SUPPORTED_SOURCES:
            # moto models only these; anything else used to crash with HTTP 500.
            raise InvalidParameterValueException(f"Unsupported event source type: {source_arn}")
        validate(spec, source_type, creating=True)
        backend = self.backend
        func = backend.get_function(function_name)  # ResourceNotFoundException if missing
        if source_type in STREAM_SOURCES:
            name, qualifier = _split_function(function_name)
            for esm in backend._event_source_mappings.values():
                if esm.event_source_arn != source_arn:
                    continue
                other_name, other_qualifier = _split_function(esm.function_arn)
                if (other_name, other_qualifier) == (func.function_name, qualifier):
                    raise ResourceConflict(
                        f"The event source arn ({source_arn}) and function ({name}) provided "
                        "mapping already exists. Please update or delete the existing mapping "
                        f"with UUID {esm.uuid}"
                    )
        esm = backend.create_event_source_mapping(spec)
        return 202, {"status": 202}, json.dumps(esm.get_configuration())

    @override(LambdaResponse, "get_event_source_mapping")
    def get_event_source_mapping(original: Any, self: LambdaResponse) -> TYPE_RESPONSE:
        uuid = self.path.rstrip("/").split("/")[-1]
        esm = _mapping(self.backend, uuid)
        return 200, {}, json.dumps(esm.get_configuration())

    @override(LambdaResponse, "update_event_source_mapping")
    def update_event_source_mapping(original: Any, self: LambdaResponse) -> TYPE_RESPONSE:
        uuid = self.path.rstrip("/").split("/")[-1]
        spec = self.json_body
        esm = _mapping(self.backend, uuid)
        if "StartingPosition" in spec or "StartingPositionTimestamp" in spec:
            raise InvalidParameterValueException(
                "StartingPosition cannot be updated; delete and recreate the mapping."
            )
        validate(spec, _source_type(esm.event_source_arn), creating=False)
        # Values that are null in the request leave the setting unchanged.
        spec = {k: v for k, v in spec.items() if v is not None}
        updated = self.backend.update_event_source_mapping(uuid, spec)
        if updated is None:
            raise ResourceNotFound()
        return 202, {"status": 202}, json.dumps(updated.get_configuration())

    @override(LambdaResponse, "delete_event_source_mapping")
    def delete_event_source_mapping(original: Any, self: LambdaResponse) -> TYPE_RESPONSE:
        uuid = self.path.rstrip("/").split("/")[-1]
        esm = self.backend.delete_event_source_mapping(uuid)
        if esm is None:
            raise ResourceNotFound()
        _unregister_from_stream(esm)
        config = esm.get_configuration()
        config["State"] = "Deleting"
        return 202, {"status": 202}, json.dumps(config)

    @override(LambdaBackend, "list_event_source_mappings")
    def list_event_source_mappings(
        original: Any, self: LambdaBackend, event_source_arn: str | None, function_name: str | None
    ) -> list[EventSourceMapping]:
        esms = list(self._event_source_mappings.values())
        if event_source_arn:
            esms = [e for e in esms if e.event_source_arn == event_source_arn]
        if function_name:
            wanted = _split_function(function_name)
            esms = [e for e in esms if _split_function(e.function_arn) == wanted]
        return esms
