"""Kinesis Analytics API v1 (SQL applications, ``KinesisAnalytics_20150814``), served whole.

moto 5.2.5 has only Kinesis Analytics v2 (``KinesisAnalytics_20180523``), on the same host
name; a v1 call reached its v2 backend, which knows CreateApplication, DescribeApplication
and ListApplications only, in v2 shapes. This module answers every v1 call itself (through
``_support.add_json_service``, ahead of moto), from its own in-memory store per account and
region; v2 calls still go to moto untouched.

Served: CreateApplication, DescribeApplication, ListApplications, UpdateApplication,
DeleteApplication, StartApplication, StopApplication, AddApplicationInput,
AddApplicationOutput / DeleteApplicationOutput, AddApplicationReferenceDataSource /
DeleteApplicationReferenceDataSource, AddApplicationCloudWatchLoggingOption /
DeleteApplicationCloudWatchLoggingOption, AddApplicationInputProcessingConfiguration /
DeleteApplicationInputProcessingConfiguration, TagResource, UntagResource,
ListTagsForResource. DiscoverInputSchema answers UnsupportedOperationException.

As in the API reference:

* Shapes and constraints (name patterns, lengths, enums, required members) are checked
  server side; a violation is an InvalidArgumentException (a JSON type mismatch a
  SerializationException). One streaming input, at most three outputs and one reference
  data source per application; InputParallelism 1..64 (default 1); JSON record columns
  need a Mapping.
* Ids are "<application version that added it>.<n>" ("1.1", "1.2" at creation; an output
  added by the change to version 5 is "5.1"). ApplicationVersionId starts at 1 and grows by
  one with every successful configuration change (Update and every Add/Delete call); Start,
  Stop and tags leave it alone. A CurrentApplicationVersionId other than the current one is
  a ConcurrentModificationException.
* Configuration changes need the application READY or RUNNING, StartApplication READY,
  StopApplication RUNNING, DeleteApplication READY or RUNNING (it halts a running one);
  otherwise ResourceInUseException.
* StartApplication passes through STARTING to RUNNING, StopApplication through STOPPING to
  READY, DeleteApplication through DELETING to gone. A transition settles once
  ``KINESISANALYTICS_V1_TRANSITION_SECONDS`` (default 0.3; 0 means no intermediate status)
  have passed and, for DescribeApplication and ListApplications, once one of them has
  reported the intermediate status: a waiter always sees it at least once.
* DeleteApplication needs the application's CreateTimestamp (whole seconds, as AWS reports
  it); any other value is a ResourceNotFoundException (the operation models no
  InvalidArgumentException).
* The resources an application names must exist in the emulator: IAM roles (whose trust
  policy must admit kinesisanalytics.amazonaws.com), Kinesis streams, Firehose delivery
  streams, Lambda functions, and the S3 bucket and object of a reference data source. A
  missing or untrusting role is InvalidArgumentException "Kinesis Analytics service doesn't
  have sufficient privileges ..." (AWS's wording, which clients retry while IAM
  propagates); a missing resource is InvalidArgumentException "... does not exist".
* A name used by a moto v2 application cannot be created through v1
  (ResourceInUseException); v1 calls on such an application answer
  UnsupportedOperationException, as AWS does.

Not emulated: applications never process records, CloudWatch log streams are not checked,
there is no UPDATING status (changes are immediate) and no limit on the number of
applications.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote

from moto.moto_api._internal.models import MotoAPIBackend

from ._support import AwsError, RequestContext, add_json_service, override

TARGET_PREFIX = "KinesisAnalytics_20150814"
TRANSITION_ENV = "KINESISANALYTICS_V1_TRANSITION_SECONDS"
DEFAULT_TRANSITION_SECONDS = 0.3

MAX_INPUTS = 1
MAX_OUTPUTS = 3
MAX_REFERENCE_DATA_SOURCES = 1
MAX_USER_TAGS = 50
SERVICE_PRINCIPAL = "kinesisanalytics.amazonaws.com"

NAME_PATTERN = re.compile(r"[a-zA-Z0-9_.-]+")
ID_PATTERN = NAME_PATTERN
ARN_PATTERN = re.compile(r"arn:.*", re.DOTALL)
ROLE_ARN_PATTERN = re.compile(r"arn:aws:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")
APPLICATION_ARN_PATTERN = re.compile(
    r"arn:aws:kinesisanalytics:([a-z]{2}-[a-z]+-\d+):(\d{12}):application/([a-zA-Z0-9_.-]{1,128})"
)
RECORD_ENCODING_PATTERN = re.compile(r"UTF-8")

READY, RUNNING, STARTING, STOPPING, DELETING = "READY", "RUNNING", "STARTING", "STOPPING", "DELETING"
CHANGEABLE = (READY, RUNNING)


# ---------------------------------------------------------------------------------- errors


def invalid(message: str) -> AwsError:
    return AwsError("InvalidArgumentException", message)


def constraint(value: Any, path: str, rule: str) -> AwsError:
    if value is None:
        shown = "null"
    else:
        shown = "'%s'" % (value if isinstance(value, (str, int, float)) else json.dumps(value))
    return invalid(f"1 validation error detected: Value {shown} at '{path}' failed to satisfy constraint: {rule}")


def not_found(name: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Application {name} is not found.")


def in_use(message: str) -> AwsError:
    return AwsError("ResourceInUseException", message)


def wrong_type(path: str, expected: str) -> AwsError:
    return AwsError("SerializationException", f"Unexpected value type at '{path}': expected {expected}")


# ------------------------------------------------------------------------ request validation


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _path(parent: str, member: str) -> str:
    member = _lower_first(member)
    return f"{parent}.{member}" if parent else member


def string(body: dict[str, Any], member: str, parent: str = "", *, required: bool = False,
           min_len: int | None = None, max_len: int | None = None,
           pattern: re.Pattern[str] | None = None) -> str | None:
    value = body.get(member)
    path = _path(parent, member)
    if value is None:
        if required:
            raise constraint(None, path, "Member must not be null")
        return None
    if not isinstance(value, str):
        raise wrong_type(path, "string")
    if min_len is not None and len(value) < min_len:
        raise constraint(value, path, f"Member must have length greater than or equal to {min_len}")
    if max_len is not None and len(value) > max_len:
        raise constraint(value, path, f"Member must have length less than or equal to {max_len}")
    if pattern is not None and not pattern.fullmatch(value):
        raise constraint(value, path, f"Member must satisfy regular expression pattern: {pattern.pattern}")
    return value


def integer(body: dict[str, Any], member: str, parent: str = "", *, required: bool = False,
            minimum: int | None = None, maximum: int | None = None) -> int | None:
    value = body.get(member)
    path = _path(parent, member)
    if value is None:
        if required:
            raise constraint(None, path, "Member must not be null")
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or value != int(value)):
        raise wrong_type(path, "integer")
    value = int(value)
    if minimum is not None and value < minimum:
        raise constraint(value, path, f"Member must have value greater than or equal to {minimum}")
    if maximum is not None and value > maximum:
        raise constraint(value, path, f"Member must have value less than or equal to {maximum}")
    return value


def enum(body: dict[str, Any], member: str, parent: str, values: tuple[str, ...], *,
         required: bool = False) -> str | None:
    value = string(body, member, parent, required=required)
    if value is not None and value not in values:
        raise constraint(value, _path(parent, member),
                         f"Member must satisfy enum value set: [{', '.join(values)}]")
    return value


def struct(body: dict[str, Any], member: str, parent: str = "", *, required: bool = False) -> dict[str, Any] | None:
    value = body.get(member)
    path = _path(parent, member)
    if value is None:
        if required:
            raise constraint(None, path, "Member must not be null")
        return None
    if not isinstance(value, dict):
        raise wrong_type(path, "structure")
    return value


def array(body: dict[str, Any], member: str, parent: str = "", *, required: bool = False,
          min_len: int | None = None, max_len: int | None = None) -> list[Any] | None:
    value = body.get(member)
    path = _path(parent, member)
    if value is None:
        if required:
            raise constraint(None, path, "Member must not be null")
        return None
    if not isinstance(value, list):
        raise wrong_type(path, "list")
    if min_len is not None and len(value) < min_len:
        raise constraint(value, path, f"Member must have length greater than or equal to {min_len}")
    if max_len is not None and len(value) > max_len:
        raise constraint(value, path, f"Member must have length less than or equal to {max_len}")
    for index, item in enumerate(value):
        if not isinstance(item, (dict, str)):
            raise wrong_type(f"{path}.{index + 1}", "structure or string")
    return value


def items(values: list[Any] | None, parent: str, member: str) -> list[tuple[str, dict[str, Any]]]:
    """Each element of a list of structures with its path (``inputs.1``)."""
    out = []
    for index, value in enumerate(values or []):
        path = f"{_path(parent, member)}.{index + 1}"
        if not isinstance(value, dict):
            raise wrong_type(path, "structure")
        out.append((path, value))
    return out


def resource_arn(body: dict[str, Any], member: str, parent: str, *, required: bool = True) -> str | None:
    return string(body, member, parent, required=required, min_len=1, max_len=2048, pattern=ARN_PATTERN)


def role_arn(body: dict[str, Any], member: str, parent: str, *, required: bool = True) -> str | None:
    return string(body, member, parent, required=required, min_len=1, max_len=2048, pattern=ROLE_ARN_PATTERN)


def resource_pair(value: dict[str, Any], path: str) -> dict[str, str]:
    """{ResourceARN, RoleARN}: a stream, delivery stream or function, and the role to reach it."""
    return {"ResourceARN": resource_arn(value, "ResourceARN", path), "RoleARN": role_arn(value, "RoleARN", path)}


def resource_pair_update(value: dict[str, Any], path: str) -> dict[str, str]:
    update = {}
    arn = resource_arn(value, "ResourceARNUpdate", path, required=False)
    role = role_arn(value, "RoleARNUpdate", path, required=False)
    if arn is not None:
        update["ResourceARN"] = arn
    if role is not None:
        update["RoleARN"] = role
    return update


def source_schema(value: dict[str, Any], path: str) -> dict[str, Any]:
    """A SourceSchema (input schema, reference schema), normalised."""
    record_format = struct(value, "RecordFormat", path, required=True)
    format_path = _path(path, "RecordFormat")
    format_type = enum(record_format, "RecordFormatType", format_path, ("JSON", "CSV"), required=True)
    normalised_format: dict[str, Any] = {"RecordFormatType": format_type}
    mapping = struct(record_format, "MappingParameters", format_path)
    if mapping is not None:
        mapping_path = _path(format_path, "MappingParameters")
        json_mapping = struct(mapping, "JSONMappingParameters", mapping_path)
        csv_mapping = struct(mapping, "CSVMappingParameters", mapping_path)
        if json_mapping is not None and csv_mapping is not None:
            raise invalid("MappingParameters must contain either JSONMappingParameters or CSVMappingParameters, not both.")
        normalised_mapping: dict[str, Any] = {}
        if json_mapping is not None:
            if format_type != "JSON":
                raise invalid(f"JSONMappingParameters cannot be used with RecordFormatType {format_type}.")
            row_path = string(json_mapping, "RecordRowPath", _path(mapping_path, "JSONMappingParameters"),
                              required=True, min_len=1)
            normalised_mapping["JSONMappingParameters"] = {"RecordRowPath": row_path}
        if csv_mapping is not None:
            if format_type != "CSV":
                raise invalid(f"CSVMappingParameters cannot be used with RecordFormatType {format_type}.")
            csv_path = _path(mapping_path, "CSVMappingParameters")
            normalised_mapping["CSVMappingParameters"] = {
                "RecordRowDelimiter": string(csv_mapping, "RecordRowDelimiter", csv_path, required=True, min_len=1),
                "RecordColumnDelimiter": string(csv_mapping, "RecordColumnDelimiter", csv_path, required=True, min_len=1),
            }
        normalised_format["MappingParameters"] = normalised_mapping
    encoding = string(value, "RecordEncoding", path, pattern=RECORD_ENCODING_PATTERN)
    columns = array(value, "RecordColumns", path, required=True, min_len=1, max_len=1000)
    normalised_columns = []
    seen: set[str] = set()
    for column_path, column in items(columns, path, "RecordColumns"):
        name = string(column, "Name", column_path, required=True, min_len=1)
        sql_type = string(column, "SqlType", column_path, required=True, min_len=1)
        column_mapping = string(column, "Mapping", column_path)
        if format_type == "JSON" and not column_mapping:
            raise invalid(f"Column {name}: Mapping is required when the RecordFormatType is JSON.")
        if name in seen:
            raise invalid(f"Duplicate column name {name} in the record columns.")
        seen.add(name)
        normalised_column = {"Name": name}
        if column_mapping is not None:
            normalised_column["Mapping"] = column_mapping
        normalised_column["SqlType"] = sql_type
        normalised_columns.append(normalised_column)
    schema: dict[str, Any] = {"RecordFormat": normalised_format}
    if encoding is not None:
        schema["RecordEncoding"] = encoding
    schema["RecordColumns"] = normalised_columns
    return schema


def input_processing(value: dict[str, Any], path: str) -> dict[str, Any]:
    processor = struct(value, "InputLambdaProcessor", path, required=True)
    return {"InputLambdaProcessorDescription": resource_pair(processor, _path(path, "InputLambdaProcessor"))}


INPUT_SOURCES = (("KinesisStreamsInput", "KinesisStreamsInputDescription"),
                 ("KinesisFirehoseInput", "KinesisFirehoseInputDescription"))
OUTPUT_DESTINATIONS = (("KinesisStreamsOutput", "KinesisStreamsOutputDescription"),
                       ("KinesisFirehoseOutput", "KinesisFirehoseOutputDescription"),
                       ("LambdaOutput", "LambdaOutputDescription"))


def in_app_stream_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}_{n:03d}" for n in range(1, count + 1)]


def input_description(value: dict[str, Any], path: str, input_id: str) -> dict[str, Any]:
    """Validates an Input and returns its InputDescription."""
    prefix = string(value, "NamePrefix", path, required=True, min_len=1, max_len=32)
    sources = [(member, described) for member, described in INPUT_SOURCES if value.get(member) is not None]
    if len(sources) != 1:
        raise invalid("Exactly one of KinesisStreamsInput or KinesisFirehoseInput must be specified for an input.")
    member, described = sources[0]
    source = resource_pair(struct(value, member, path, required=True), _path(path, member))
    processing = struct(value, "InputProcessingConfiguration", path)
    parallelism = struct(value, "InputParallelism", path)
    count = 1
    if parallelism is not None:
        given = integer(parallelism, "Count", _path(path, "InputParallelism"), minimum=1, maximum=64)
        count = 1 if given is None else given
    schema = source_schema(struct(value, "InputSchema", path, required=True), _path(path, "InputSchema"))
    description: dict[str, Any] = {
        "InputId": input_id,
        "NamePrefix": prefix,
        "InAppStreamNames": in_app_stream_names(prefix, count),
    }
    if processing is not None:
        description["InputProcessingConfigurationDescription"] = input_processing(
            processing, _path(path, "InputProcessingConfiguration"))
    description[described] = source
    description["InputSchema"] = schema
    description["InputParallelism"] = {"Count": count}
    description["InputStartingPositionConfiguration"] = {}
    return description


def output_description(value: dict[str, Any], path: str, output_id: str) -> dict[str, Any]:
    name = string(value, "Name", path, required=True, min_len=1, max_len=32)
    destinations = [(m, d) for m, d in OUTPUT_DESTINATIONS if value.get(m) is not None]
    if len(destinations) != 1:
        raise invalid("Exactly one of KinesisStreamsOutput, KinesisFirehoseOutput or LambdaOutput must be "
                      "specified for an output.")
    member, described = destinations[0]
    destination = resource_pair(struct(value, member, path, required=True), _path(path, member))
    schema = struct(value, "DestinationSchema", path, required=True)
    format_type = enum(schema, "RecordFormatType", _path(path, "DestinationSchema"), ("JSON", "CSV"), required=True)
    return {"OutputId": output_id, "Name": name, described: destination,
            "DestinationSchema": {"RecordFormatType": format_type}}


def reference_description(value: dict[str, Any], path: str, reference_id: str) -> dict[str, Any]:
    table = string(value, "TableName", path, required=True, min_len=1, max_len=32)
    s3 = struct(value, "S3ReferenceDataSource", path, required=True)
    s3_path = _path(path, "S3ReferenceDataSource")
    location = {
        "BucketARN": string(s3, "BucketARN", s3_path, required=True, min_len=1, max_len=2048, pattern=ARN_PATTERN),
        "FileKey": string(s3, "FileKey", s3_path, required=True, min_len=1, max_len=1024),
        "ReferenceRoleARN": role_arn(s3, "ReferenceRoleARN", s3_path),
    }
    schema = source_schema(struct(value, "ReferenceSchema", path, required=True), _path(path, "ReferenceSchema"))
    return {"ReferenceId": reference_id, "TableName": table, "S3ReferenceDataSourceDescription": location,
            "ReferenceSchema": schema}


def logging_description(value: dict[str, Any], path: str, option_id: str) -> dict[str, Any]:
    return {
        "CloudWatchLoggingOptionId": option_id,
        "LogStreamARN": string(value, "LogStreamARN", path, required=True, min_len=1, max_len=2048,
                               pattern=ARN_PATTERN),
        "RoleARN": role_arn(value, "RoleARN", path),
    }


def tag_list(values: list[Any] | None, parent: str, member: str = "Tags") -> dict[str, str | None]:
    tags: dict[str, str | None] = {}
    for path, tag in items(values, parent, member):
        key = string(tag, "Key", path, required=True, min_len=1, max_len=128)
        value = string(tag, "Value", path, max_len=256)
        if key.lower().startswith("aws:"):
            raise invalid(f"Tag keys starting with 'aws:' are reserved for system use: {key}")
        tags[key] = value
    return tags


def application_name(body: dict[str, Any], member: str = "ApplicationName") -> str:
    return string(body, member, required=True, min_len=1, max_len=128, pattern=NAME_PATTERN)


def version_id(body: dict[str, Any]) -> int:
    return integer(body, "CurrentApplicationVersionId", required=True, minimum=1, maximum=999999999)


def an_id(body: dict[str, Any], member: str, parent: str = "") -> str:
    return string(body, member, parent, required=True, min_len=1, max_len=50, pattern=ID_PATTERN)


# -------------------------------------------------------------- referenced resources (moto)


def _parse_arn(arn: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return "", "", "", ""
    return parts[2], parts[3], parts[4], parts[5]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _service_may_assume(trust_document: str) -> bool:
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


def _role_usable(account_id: str, arn: str) -> bool:
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[_parse_arn(arn)[2] or account_id]["aws"].get_role_by_arn(arn)
    except Exception:
        return False
    return _service_may_assume(role.assume_role_policy_document)


def _kinesis_stream_exists(arn: str) -> bool:
    from moto.kinesis.models import kinesis_backends

    _, region, account, _ = _parse_arn(arn)
    try:
        kinesis_backends[account][region].describe_stream(stream_arn=arn, stream_name=None)
    except Exception:
        return False
    return True


def _delivery_stream_exists(arn: str) -> bool:
    from moto.firehose.models import firehose_backends

    _, region, account, resource = _parse_arn(arn)
    try:
        return resource.split("/", 1)[1] in firehose_backends[account][region].delivery_streams
    except Exception:
        return False


def _function_exists(arn: str) -> bool:
    from moto.awslambda.utils import get_backend  # Docker-free or not, as configured

    _, region, account, _ = _parse_arn(arn)
    try:
        get_backend(account, region).get_function(arn)
    except Exception:
        return False
    return True


def _s3_object_exists(account_id: str, bucket_arn: str, key: str) -> tuple[bool, bool]:
    """(bucket exists, object exists)."""
    from moto.s3.models import s3_backends

    bucket_name = _parse_arn(bucket_arn)[3]
    try:
        bucket = s3_backends[account_id]["global"].get_bucket(bucket_name)
    except Exception:
        return False, False
    return True, key in bucket.keys


KIND_OF_SOURCE = {
    "KinesisStreamsInputDescription": ("Kinesis stream", _kinesis_stream_exists),
    "KinesisStreamsOutputDescription": ("Kinesis stream", _kinesis_stream_exists),
    "KinesisFirehoseInputDescription": ("Delivery Stream", _delivery_stream_exists),
    "KinesisFirehoseOutputDescription": ("Delivery Stream", _delivery_stream_exists),
    "LambdaOutputDescription": ("Lambda function", _function_exists),
    "InputLambdaProcessorDescription": ("Lambda function", _function_exists),
}


def check_role(account_id: str, role: str, what: str) -> None:
    if not _role_usable(account_id, role):
        raise invalid(f"Kinesis Analytics service doesn't have sufficient privileges to assume the role {role} "
                      f"to access the {what}. Please check the role provided.")


def check_pair(account_id: str, described: str, pair: dict[str, str]) -> None:
    kind, exists = KIND_OF_SOURCE[described]
    check_role(account_id, pair["RoleARN"], f"{kind} {pair['ResourceARN']}")
    if not exists(pair["ResourceARN"]):
        raise invalid(f"{kind} {pair['ResourceARN']} does not exist.")


def check_input(account_id: str, description: dict[str, Any]) -> None:
    for _, described in INPUT_SOURCES:
        if described in description:
            check_pair(account_id, described, description[described])
    processing = description.get("InputProcessingConfigurationDescription")
    if processing:
        check_pair(account_id, "InputLambdaProcessorDescription", processing["InputLambdaProcessorDescription"])


def check_output(account_id: str, description: dict[str, Any]) -> None:
    for _, described in OUTPUT_DESTINATIONS:
        if described in description:
            check_pair(account_id, described, description[described])


def check_reference(account_id: str, description: dict[str, Any]) -> None:
    location = description["S3ReferenceDataSourceDescription"]
    check_role(account_id, location["ReferenceRoleARN"], f"S3 object {location['FileKey']}")
    bucket, key = _s3_object_exists(account_id, location["BucketARN"], location["FileKey"])
    if not bucket:
        raise invalid(f"S3 bucket {location['BucketARN']} does not exist. Please check the role provided or "
                      "validity of S3 location you provided.")
    if not key:
        raise invalid(f"S3 object {location['FileKey']} does not exist in bucket {location['BucketARN']}. Please "
                      "check the role provided or validity of S3 location you provided.")


def check_logging(account_id: str, description: dict[str, Any]) -> None:
    check_role(account_id, description["RoleARN"], f"CloudWatch log stream {description['LogStreamARN']}")


# ----------------------------------------------------------------------------------- model


def transition_seconds() -> float:
    try:
        value = float(os.environ.get(TRANSITION_ENV, DEFAULT_TRANSITION_SECONDS))
    except ValueError:
        return DEFAULT_TRANSITION_SECONDS
    return value if math.isfinite(value) and value > 0 else 0.0


@dataclass
class Transition:
    settled: str | None  # the status reached at the end; None: the application is gone
    deadline: float
    reported: bool = False


@dataclass
class Application:
    name: str
    arn: str
    description: str | None
    code: str | None
    create_timestamp: float
    last_update_timestamp: float
    status: str = READY
    version: int = 1
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    references: list[dict[str, Any]] = field(default_factory=list)
    logging: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, str | None] = field(default_factory=dict)
    transition: Transition | None = None

    def summary(self) -> dict[str, Any]:
        return {"ApplicationName": self.name, "ApplicationARN": self.arn, "ApplicationStatus": self.status}

    def detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"ApplicationName": self.name}
        if self.description is not None:
            detail["ApplicationDescription"] = self.description
        detail.update({
            "ApplicationARN": self.arn,
            "ApplicationStatus": self.status,
            "CreateTimestamp": self.create_timestamp,
            "LastUpdateTimestamp": self.last_update_timestamp,
            "InputDescriptions": copy.deepcopy(self.inputs),
            "OutputDescriptions": copy.deepcopy(self.outputs),
            "ReferenceDataSourceDescriptions": copy.deepcopy(self.references),
            "CloudWatchLoggingOptionDescriptions": copy.deepcopy(self.logging),
        })
        if self.code is not None:
            detail["ApplicationCode"] = self.code
        detail["ApplicationVersionId"] = self.version
        return detail

    def begin(self, status: str, settled: str) -> None:
        """Enters an intermediate status (or, without a transition delay, the settled one)."""
        delay = transition_seconds()
        if delay <= 0:
            self.status = settled
            return
        self.status = status
        self.transition = Transition(settled, time.monotonic() + delay)

    def changed(self) -> int:
        """Records a configuration change: the new version."""
        self.version += 1
        self.last_update_timestamp = _now()
        return self.version


def _now() -> float:
    return round(time.time(), 3)


class Backend:
    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self.applications: dict[str, Application] = {}

    def arn(self, name: str) -> str:
        return f"arn:aws:kinesisanalytics:{self.region}:{self.account_id}:application/{name}"

    def settle(self, app: Application, observing: bool) -> Application | None:
        """Ends a due transition. DescribeApplication/ListApplications (``observing``) report
        an intermediate status at least once before it ends. None: the application is gone."""
        transition = app.transition
        if transition is not None:
            if time.monotonic() >= transition.deadline and (transition.reported or not observing):
                app.transition = None
                if transition.settled is None:
                    self.applications.pop(app.name, None)
                    return None
                app.status = transition.settled
            elif observing:
                transition.reported = True
        return app

    def find(self, name: str, observing: bool = False) -> Application | None:
        app = self.applications.get(name)
        return None if app is None else self.settle(app, observing)

    def get(self, name: str, observing: bool = False) -> Application:
        app = self.find(name, observing)
        if app is None:
            if _v2_application_exists(self.account_id, self.region, name):
                raise AwsError("UnsupportedOperationException",
                               f"{name} was created/updated by kinesisanalyticsv2 SDK. Please use "
                               f"kinesisanalyticsv2 SDK to make changes to {name}.")
            raise not_found(name)
        return app

    def for_change(self, name: str, version: int) -> Application:
        """The application, if a configuration change may be made to it at ``version``."""
        app = self.get(name)
        if version != app.version:
            raise AwsError("ConcurrentModificationException",
                           f"Provided application version id ({version}) does not match the current application "
                           f"version id ({app.version}) of application {name}.")
        if app.status not in CHANGEABLE:
            raise in_use(f"Application {name} is in status {app.status}: it can only be changed when "
                         f"{' or '.join(CHANGEABLE)}.")
        return app


def _v2_application_exists(account_id: str, region: str, name: str) -> bool:
    try:
        from moto.kinesisanalyticsv2.models import kinesisanalyticsv2_backends

        return name in kinesisanalyticsv2_backends[account_id][region].applications
    except Exception:
        return False


_LOCK = threading.RLock()
_BACKENDS: dict[tuple[str, str], Backend] = {}


def backend_for(account_id: str, region: str) -> Backend:
    key = (account_id, region)
    if key not in _BACKENDS:
        _BACKENDS[key] = Backend(account_id, region)
    return _BACKENDS[key]


def reset() -> None:
    with _LOCK:
        _BACKENDS.clear()


# ------------------------------------------------------------------------------ operations

Operation = Callable[[Backend, dict[str, Any]], dict[str, Any]]
OPERATIONS: dict[str, Operation] = {}


def operation(fn: Operation) -> Operation:
    OPERATIONS["".join(part.capitalize() for part in fn.__name__.split("_"))] = fn
    return fn


@operation
def create_application(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    name = application_name(body)
    description = string(body, "ApplicationDescription", max_len=1024)
    code = string(body, "ApplicationCode", max_len=102400)
    inputs = items(array(body, "Inputs"), "", "Inputs")
    outputs = items(array(body, "Outputs"), "", "Outputs")
    logging = items(array(body, "CloudWatchLoggingOptions"), "", "CloudWatchLoggingOptions")
    tags = tag_list(array(body, "Tags", min_len=1, max_len=200), "")
    if len(inputs) > MAX_INPUTS:
        raise invalid(f"An application can have only {MAX_INPUTS} input; {len(inputs)} were given.")
    if len(outputs) > MAX_OUTPUTS:
        raise invalid(f"An application can have at most {MAX_OUTPUTS} outputs; {len(outputs)} were given.")
    if len(tags) > MAX_USER_TAGS:
        raise AwsError("TooManyTagsException",
                       f"An application can have at most {MAX_USER_TAGS} user-defined tags; {len(tags)} were given.")
    input_descriptions = [input_description(v, p, f"1.{n}") for n, (p, v) in enumerate(inputs, 1)]
    output_descriptions = [output_description(v, p, f"1.{n}") for n, (p, v) in enumerate(outputs, 1)]
    logging_descriptions = [logging_description(v, p, f"1.{n}") for n, (p, v) in enumerate(logging, 1)]
    if b.find(name) is not None or _v2_application_exists(b.account_id, b.region, name):
        raise in_use(f"Application {name} already exists.")
    for d in input_descriptions:
        check_input(b.account_id, d)
    for d in output_descriptions:
        check_output(b.account_id, d)
    for d in logging_descriptions:
        check_logging(b.account_id, d)
    created = float(int(time.time()))
    app = Application(name=name, arn=b.arn(name), description=description, code=code,
                      create_timestamp=created, last_update_timestamp=created,
                      inputs=input_descriptions, outputs=output_descriptions, logging=logging_descriptions,
                      tags=tags)
    b.applications[name] = app
    return {"ApplicationSummary": app.summary()}


@operation
def describe_application(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    return {"ApplicationDetail": b.get(application_name(body), observing=True).detail()}


@operation
def list_applications(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    limit = integer(body, "Limit", minimum=1, maximum=50)
    start = string(body, "ExclusiveStartApplicationName", min_len=1, max_len=128, pattern=NAME_PATTERN)
    limit = 50 if limit is None else limit
    names = sorted(n for n in b.applications if start is None or n > start)
    summaries = []
    for name in names:
        app = b.find(name, observing=True)
        if app is None:
            continue
        if len(summaries) == limit:
            return {"ApplicationSummaries": summaries, "HasMoreApplications": True}
        summaries.append(app.summary())
    return {"ApplicationSummaries": summaries, "HasMoreApplications": False}


@operation
def delete_application(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    name = application_name(body)
    stamp = body.get("CreateTimestamp")
    if stamp is None:
        raise constraint(None, "createTimestamp", "Member must not be null")
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
        raise wrong_type("createTimestamp", "timestamp")
    app = b.get(name)
    if abs(float(stamp) - app.create_timestamp) >= 0.001:
        raise AwsError("ResourceNotFoundException",
                       f"Application {name} with create timestamp {stamp} is not found.")
    if app.status not in (READY, RUNNING):
        raise in_use(f"Application {name} is in status {app.status}: it can only be deleted when READY or RUNNING.")
    delay = transition_seconds()
    if delay <= 0:
        del b.applications[name]
    else:
        app.status = DELETING
        app.transition = Transition(None, time.monotonic() + delay)
    return {}


@operation
def start_application(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    name = application_name(body)
    configurations = items(array(body, "InputConfigurations", required=True), "", "InputConfigurations")
    positions = {}
    for path, configuration in configurations:
        input_id = an_id(configuration, "Id", path)
        position_configuration = struct(configuration, "InputStartingPositionConfiguration", path, required=True)
        position = enum(position_configuration, "InputStartingPosition",
                        _path(path, "InputStartingPositionConfiguration"), ("NOW", "TRIM_HORIZON", "LAST_STOPPED_POINT"))
        positions[input_id] = position
    app = b.get(name)
    if app.status != READY:
        raise in_use(f"Application {name} is in status {app.status}: only a READY application can be started.")
    if not app.inputs:
        raise AwsError("InvalidApplicationConfigurationException",
                       f"Application {name} has no streaming source configured: add an input before starting it.")
    known = {d["InputId"] for d in app.inputs}
    for input_id in positions:
        if input_id not in known:
            raise invalid(f"Input id {input_id} is not an input of application {name}.")
    missing = known - set(positions)
    if missing:
        raise invalid(f"InputConfigurations must name every input of application {name}: missing {', '.join(sorted(missing))}.")
    for d in app.inputs:
        d["InputStartingPositionConfiguration"] = {"InputStartingPosition": positions[d["InputId"]] or "NOW"}
    app.begin(STARTING, RUNNING)
    return {}


@operation
def stop_application(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    name = application_name(body)
    app = b.get(name)
    if app.status != RUNNING:
        raise in_use(f"Application {name} is in status {app.status}: only a RUNNING application can be stopped.")
    app.begin(STOPPING, READY)
    return {}


# ------------------------------------------------------------------ configuration changes


def _find_by_id(collection: list[dict[str, Any]], key: str, wanted: str, what: str, name: str) -> dict[str, Any]:
    for item in collection:
        if item[key] == wanted:
            return item
    raise AwsError("ResourceNotFoundException", f"{what} {wanted} is not found in application {name}.")


@operation
def add_application_input(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    name = application_name(body)
    version = version_id(body)
    description = input_description(struct(body, "Input", required=True), "input", f"{version + 1}.1")
    app = b.for_change(name, version)
    if len(app.inputs) >= MAX_INPUTS:
        raise invalid(f"Application {name} already has an input ({app.inputs[0]['InputId']}): an application can "
                      f"have only {MAX_INPUTS}.")
    check_input(b.account_id, description)
    app.inputs.append(description)
    app.changed()
    return {}


@operation
def add_application_output(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    name = application_name(body)
    version = version_id(body)
    value = struct(body, "Output", required=True)
    description = output_description(value, "output", f"{version + 1}.1")
    app = b.for_change(name, version)
    if len(app.outputs) >= MAX_OUTPUTS:
        raise invalid(f"Application {name} already has {len(app.outputs)} outputs: an application can have at "
                      f"most {MAX_OUTPUTS}.")
    check_output(b.account_id, description)
    app.outputs.append(description)
    app.changed()
    return {}


@operation
def delete_application_output(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    name = application_name(body)
    version = version_id(body)
    output_id = an_id(body, "OutputId")
    app = b.for_change(name, version)
    app.outputs.remove(_find_by_id(app.outputs, "OutputId", output_id, "Output", name))
    app.changed()
    return {}


@operation
def add_application_reference_data_source(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    name = application_name(body)
    version = version_id(body)
    value = struct(body, "ReferenceDataSource", required=True)
    description = reference_description(value, "referenceDataSource", f"{version + 1}.1")
    app = b.for_change(name, version)
    if len(app.references) >= MAX_REFERENCE_DATA_SOURCES:
        raise invalid(f"Application {name} already has a reference data source: an application can have only "
                      f"{MAX_REFERENCE_DATA_SOURCES}.")
    check_reference(b.account_id, description)
    app.references.append(description)
    app.changed()
    return {}


@operation
def delete_application_reference_data_source(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    name = application_name(body)
    version = version_id(body)
    reference_id = an_id(body, "ReferenceId")
    app = b.for_change(name, version)
    app.references.remove(_find_by_id(app.references, "ReferenceId", reference_id, "Reference data source", name))
    app.changed()
    return {}


@operation
def add_application_cloud_watch_logging_option(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    name = application_name(body)
    version = version_id(body)
    value = struct(body, "CloudWatchLoggingOption", required=True)
    description = logging_description(value, "cloudWatchLoggingOption", f"{version + 1}.1")
    app = b.for_change(name, version)
    if any(d["LogStreamARN"] == description["LogStreamARN"] for d in app.logging):
        raise invalid(f"Log stream {description['LogStreamARN']} is already configured for application {name}.")
    check_logging(b.account_id, description)
    app.logging.append(description)
    app.changed()
    return {}


@operation
def delete_application_cloud_watch_logging_option(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    name = application_name(body)
    version = version_id(body)
    option_id = an_id(body, "CloudWatchLoggingOptionId")
    app = b.for_change(name, version)
    app.logging.remove(_find_by_id(app.logging, "CloudWatchLoggingOptionId", option_id,
                                   "CloudWatch logging option", name))
    app.changed()
    return {}


@operation
def add_application_input_processing_configuration(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    name = application_name(body)
    version = version_id(body)
    input_id = an_id(body, "InputId")
    processing = input_processing(struct(body, "InputProcessingConfiguration", required=True),
                                  "inputProcessingConfiguration")
    app = b.for_change(name, version)
    target = _find_by_id(app.inputs, "InputId", input_id, "Input", name)
    if "InputProcessingConfigurationDescription" in target:
        raise invalid(f"Input {input_id} of application {name} already has an input processing configuration.")
    check_pair(b.account_id, "InputLambdaProcessorDescription", processing["InputLambdaProcessorDescription"])
    _set_processing(target, processing)
    app.changed()
    return {}


@operation
def delete_application_input_processing_configuration(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    name = application_name(body)
    version = version_id(body)
    input_id = an_id(body, "InputId")
    app = b.for_change(name, version)
    target = _find_by_id(app.inputs, "InputId", input_id, "Input", name)
    if "InputProcessingConfigurationDescription" not in target:
        raise invalid(f"Input {input_id} of application {name} has no input processing configuration.")
    del target["InputProcessingConfigurationDescription"]
    app.changed()
    return {}


def _set_processing(description: dict[str, Any], processing: dict[str, Any]) -> None:
    """Puts the processing description at its place in the InputDescription's member order."""
    rebuilt: dict[str, Any] = {}
    for key, value in description.items():
        if key in ("KinesisStreamsInputDescription", "KinesisFirehoseInputDescription"):
            rebuilt["InputProcessingConfigurationDescription"] = processing
        if key != "InputProcessingConfigurationDescription":
            rebuilt[key] = value
    description.clear()
    description.update(rebuilt)


def _replace_member(description: dict[str, Any], members: tuple[tuple[str, str], ...], new_key: str,
                    update: dict[str, str], path: str) -> None:
    """Applies a {ResourceARN, RoleARN} update to a source or destination, switching kinds if
    it names another kind than the current one (then both ARNs are needed)."""
    current = next(d for _, d in members if d in description)
    if current == new_key:
        description[current].update(update)
        return
    if set(update) != {"ResourceARN", "RoleARN"}:
        raise invalid(f"{path}: both ResourceARNUpdate and RoleARNUpdate are needed to change the kind of "
                      "source or destination.")
    rebuilt = {}
    for key, value in description.items():
        rebuilt[new_key if key == current else key] = update if key == current else value
    description.clear()
    description.update(rebuilt)


def _apply_input_update(app: Application, value: dict[str, Any], path: str, account_id: str) -> None:
    input_id = an_id(value, "InputId", path)
    target = _find_by_id(app.inputs, "InputId", input_id, "Input", app.name)
    prefix = string(value, "NamePrefixUpdate", path, min_len=1, max_len=32)
    if prefix is not None:
        target["NamePrefix"] = prefix
    processing = struct(value, "InputProcessingConfigurationUpdate", path)
    if processing is not None:
        processing_path = _path(path, "InputProcessingConfigurationUpdate")
        lambda_update = resource_pair_update(
            struct(processing, "InputLambdaProcessorUpdate", processing_path, required=True),
            _path(processing_path, "InputLambdaProcessorUpdate"))
        existing = target.get("InputProcessingConfigurationDescription")
        if existing is None:
            raise invalid(f"Input {input_id} has no input processing configuration to update: use "
                          "AddApplicationInputProcessingConfiguration.")
        existing["InputLambdaProcessorDescription"].update(lambda_update)
        check_pair(account_id, "InputLambdaProcessorDescription", existing["InputLambdaProcessorDescription"])
    updates = [(member, described) for member, described in INPUT_SOURCES if value.get(f"{member}Update") is not None]
    if len(updates) > 1:
        raise invalid(f"{path}: at most one of KinesisStreamsInputUpdate or KinesisFirehoseInputUpdate.")
    for member, described in updates:
        source_path = _path(path, f"{member}Update")
        update = resource_pair_update(struct(value, f"{member}Update", path), source_path)
        _replace_member(target, INPUT_SOURCES, described, update, source_path)
        check_pair(account_id, described, target[described])
    schema_update = struct(value, "InputSchemaUpdate", path)
    if schema_update is not None:
        schema_path = _path(path, "InputSchemaUpdate")
        merged = copy.deepcopy(target["InputSchema"])
        if schema_update.get("RecordFormatUpdate") is not None:
            merged["RecordFormat"] = struct(schema_update, "RecordFormatUpdate", schema_path)
        if schema_update.get("RecordEncodingUpdate") is not None:
            merged["RecordEncoding"] = schema_update["RecordEncodingUpdate"]
        if schema_update.get("RecordColumnUpdates") is not None:
            merged["RecordColumns"] = array(schema_update, "RecordColumnUpdates", schema_path, min_len=1, max_len=1000)
        target["InputSchema"] = source_schema(merged, schema_path)
    parallelism = struct(value, "InputParallelismUpdate", path)
    if parallelism is not None:
        count = integer(parallelism, "CountUpdate", _path(path, "InputParallelismUpdate"), minimum=1, maximum=64)
        if count is not None:
            target["InputParallelism"] = {"Count": count}
    target["InAppStreamNames"] = in_app_stream_names(target["NamePrefix"], target["InputParallelism"]["Count"])


def _apply_output_update(app: Application, value: dict[str, Any], path: str, account_id: str) -> None:
    output_id = an_id(value, "OutputId", path)
    target = _find_by_id(app.outputs, "OutputId", output_id, "Output", app.name)
    new_name = string(value, "NameUpdate", path, min_len=1, max_len=32)
    if new_name is not None:
        target["Name"] = new_name
    updates = [(m, d) for m, d in OUTPUT_DESTINATIONS if value.get(f"{m}Update") is not None]
    if len(updates) > 1:
        raise invalid(f"{path}: at most one of KinesisStreamsOutputUpdate, KinesisFirehoseOutputUpdate or "
                      "LambdaOutputUpdate.")
    for member, described in updates:
        destination_path = _path(path, f"{member}Update")
        update = resource_pair_update(struct(value, f"{member}Update", path), destination_path)
        _replace_member(target, OUTPUT_DESTINATIONS, described, update, destination_path)
        check_pair(account_id, described, target[described])
    schema = struct(value, "DestinationSchemaUpdate", path)
    if schema is not None:
        format_type = enum(schema, "RecordFormatType", _path(path, "DestinationSchemaUpdate"), ("JSON", "CSV"),
                           required=True)
        target["DestinationSchema"] = {"RecordFormatType": format_type}


def _apply_reference_update(app: Application, value: dict[str, Any], path: str, account_id: str) -> None:
    reference_id = an_id(value, "ReferenceId", path)
    target = _find_by_id(app.references, "ReferenceId", reference_id, "Reference data source", app.name)
    table = string(value, "TableNameUpdate", path, min_len=1, max_len=32)
    if table is not None:
        target["TableName"] = table
    s3 = struct(value, "S3ReferenceDataSourceUpdate", path)
    if s3 is not None:
        s3_path = _path(path, "S3ReferenceDataSourceUpdate")
        location = target["S3ReferenceDataSourceDescription"]
        bucket = string(s3, "BucketARNUpdate", s3_path, min_len=1, max_len=2048, pattern=ARN_PATTERN)
        key = string(s3, "FileKeyUpdate", s3_path, min_len=1, max_len=1024)
        role = role_arn(s3, "ReferenceRoleARNUpdate", s3_path, required=False)
        for member, new in (("BucketARN", bucket), ("FileKey", key), ("ReferenceRoleARN", role)):
            if new is not None:
                location[member] = new
        check_reference(account_id, target)
    schema = struct(value, "ReferenceSchemaUpdate", path)
    if schema is not None:
        target["ReferenceSchema"] = source_schema(schema, _path(path, "ReferenceSchemaUpdate"))


def _apply_logging_update(app: Application, value: dict[str, Any], path: str, account_id: str) -> None:
    option_id = an_id(value, "CloudWatchLoggingOptionId", path)
    target = _find_by_id(app.logging, "CloudWatchLoggingOptionId", option_id, "CloudWatch logging option", app.name)
    stream = string(value, "LogStreamARNUpdate", path, min_len=1, max_len=2048, pattern=ARN_PATTERN)
    role = role_arn(value, "RoleARNUpdate", path, required=False)
    if stream is not None:
        target["LogStreamARN"] = stream
    if role is not None:
        target["RoleARN"] = role
    check_logging(account_id, target)


@operation
def update_application(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    name = application_name(body)
    version = version_id(body)
    update = struct(body, "ApplicationUpdate", required=True)
    code = string(update, "ApplicationCodeUpdate", "applicationUpdate", max_len=102400)
    groups = [
        (items(array(update, member, "applicationUpdate"), "applicationUpdate", member), apply)
        for member, apply in (
            ("InputUpdates", _apply_input_update),
            ("OutputUpdates", _apply_output_update),
            ("ReferenceDataSourceUpdates", _apply_reference_update),
            ("CloudWatchLoggingOptionUpdates", _apply_logging_update),
        )
    ]
    if code is None and not any(group for group, _ in groups):
        raise invalid("ApplicationUpdate must contain at least one update.")
    app = b.for_change(name, version)
    # All or nothing: the updates are applied to a copy, which replaces the application's
    # configuration only when every one of them was valid.
    draft = copy.deepcopy(app)
    for group, apply in groups:
        for path, value in group:
            apply(draft, value, path, b.account_id)
    if code is not None:
        draft.code = code
    app.inputs, app.outputs, app.references, app.logging = draft.inputs, draft.outputs, draft.references, draft.logging
    app.code = draft.code
    app.changed()
    return {}


# ------------------------------------------------------------------------------------ tags


def _tagged_application(b: Backend, body: dict[str, Any]) -> Application:
    arn = string(body, "ResourceARN", required=True, min_len=1, max_len=2048)
    match = APPLICATION_ARN_PATTERN.fullmatch(arn)
    if match is None:
        raise constraint(arn, "resourceARN", f"Member must satisfy regular expression pattern: "
                                             f"{APPLICATION_ARN_PATTERN.pattern}")
    region, account, name = match.groups()
    if (region, account) != (b.region, b.account_id):
        raise AwsError("ResourceNotFoundException", f"Resource {arn} is not found.")
    app = b.get(name)
    if app.status == DELETING:
        raise in_use(f"Application {name} is being deleted.")
    return app


@operation
def tag_resource(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    tags = tag_list(array(body, "Tags", required=True, min_len=1, max_len=200), "")
    app = _tagged_application(b, body)
    merged = {**app.tags, **tags}
    if len(merged) > MAX_USER_TAGS:
        raise AwsError("TooManyTagsException",
                       f"Application {app.name} would have {len(merged)} tags: at most {MAX_USER_TAGS} are allowed.")
    app.tags = merged
    return {}


@operation
def untag_resource(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    keys = array(body, "TagKeys", required=True, min_len=1, max_len=200)
    for index, key in enumerate(keys):
        if not isinstance(key, str):
            raise wrong_type(f"tagKeys.{index + 1}", "string")
        if not 1 <= len(key) <= 128:
            raise constraint(key, f"tagKeys.{index + 1}", "Member must have length between 1 and 128")
    app = _tagged_application(b, body)
    for key in keys:
        app.tags.pop(key, None)
    return {}


@operation
def list_tags_for_resource(b: Backend, body: dict[str, Any]) -> dict[str, Any]:
    app = _tagged_application(b, body)
    return {"Tags": [{"Key": k} if v is None else {"Key": k, "Value": v} for k, v in app.tags.items()]}


# ------------------------------------------------------------------------------- dispatch

UNSUPPORTED = {"DiscoverInputSchema"}


def handle(context: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    handler = OPERATIONS.get(context.operation)
    if handler is None:
        if context.operation in UNSUPPORTED:
            raise AwsError("UnsupportedOperationException",
                           f"{context.operation} is not supported by the local emulator.")
        raise AwsError("UnknownOperationException", f"Unknown operation {context.operation}.")
    if not isinstance(body, dict):
        raise AwsError("SerializationException", "The request body must be a JSON object.")
    with _LOCK:
        return handler(backend_for(context.account_id, context.region), body)


def register() -> None:
    add_json_service(TARGET_PREFIX, handle)

    @override(MotoAPIBackend, "reset")
    def reset_with_v1(original: Any, self: MotoAPIBackend) -> None:
        original(self)
        reset()
