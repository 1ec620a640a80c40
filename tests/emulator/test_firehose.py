"""Firehose calls made by the provider (the data lake's delivery stream), and extensions/firehose.py."""

from __future__ import annotations

import datetime
import json
import time
import uuid
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from extensions import firehose as firehose_extension

FIREHOSE_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
PREFIX = "cdc/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
ERROR_PREFIX = "errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/"


def error_of(excinfo: pytest.ExceptionInfo) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


@pytest.fixture
def firehose_role(client, name) -> str:
    return client("iam").create_role(RoleName=f"{name}-firehose", AssumeRolePolicyDocument=FIREHOSE_TRUST)["Role"]["Arn"]


@pytest.fixture
def bucket_arn(client, name) -> str:
    client("s3").create_bucket(Bucket=f"{name}-lake")
    return f"arn:aws:s3:::{name}-lake"


@pytest.fixture
def make(client, name, stream_arn, firehose_role, bucket_arn) -> Callable[..., dict]:
    """make(**overrides) -> the CreateDeliveryStream request of the provider (sent by
    create()); overrides replace ExtendedS3DestinationConfiguration members (None drops one)."""

    def request(stream_name: str | None = None, **overrides: object) -> dict:
        destination = {
            "RoleARN": firehose_role,
            "BucketARN": bucket_arn,
            "Prefix": PREFIX,
            "ErrorOutputPrefix": ERROR_PREFIX,
            "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 300},
            "CompressionFormat": "GZIP",
        }
        destination.update(overrides)
        return {
            "DeliveryStreamName": stream_name or f"{name}-lake",
            "DeliveryStreamType": "KinesisStreamAsSource",
            "KinesisStreamSourceConfiguration": {"KinesisStreamARN": stream_arn, "RoleARN": firehose_role},
            "ExtendedS3DestinationConfiguration": {k: v for k, v in destination.items() if v is not None},
            "Tags": [{"Key": "unifiedetl:pipeline", "Value": name}],
        }

    return request


def describe(firehose, stream_name: str) -> dict:
    return firehose.describe_delivery_stream(DeliveryStreamName=stream_name)["DeliveryStreamDescription"]


def status_of(firehose, stream_name: str) -> str:
    return describe(firehose, stream_name)["DeliveryStreamStatus"]


def wait_for(firehose, stream_name: str, wanted: str, allowed: set[str], timeout: float = 10.0) -> list[str]:
    """Polls DescribeDeliveryStream until the status is ``wanted`` ("gone": not found); every
    status seen on the way must be in ``allowed``. Returns the statuses seen, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = status_of(firehose, stream_name)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ResourceNotFoundException"
            status = "gone"
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == wanted:
            return seen
        assert status in allowed, f"unexpected status {status!r} (seen {seen})"
        time.sleep(0.03)
    raise AssertionError(f"still not {wanted!r} after {timeout}s (seen {seen})")


def create_active(firehose, request: dict) -> dict:
    firehose.create_delivery_stream(**request)
    wait_for(firehose, request["DeliveryStreamName"], "ACTIVE", {"CREATING"})
    return describe(firehose, request["DeliveryStreamName"])


# ------------------------------------------------------------------------------ settings


def test_transition_delay_setting(monkeypatch):
    monkeypatch.delenv(firehose_extension.DELAY_ENV, raising=False)
    assert firehose_extension.transition_delay() == 0.3
    monkeypatch.setenv(firehose_extension.DELAY_ENV, "0")
    assert firehose_extension.transition_delay() == 0
    monkeypatch.setenv(firehose_extension.DELAY_ENV, "1.5")
    assert firehose_extension.transition_delay() == 1.5
    monkeypatch.setenv(firehose_extension.DELAY_ENV, "soon")
    assert firehose_extension.transition_delay() == 0.3


def test_no_delay_settles_at_the_next_request(monkeypatch):
    """With a delay of 0 nothing is shown in between, as DMS's resources settle: the provider
    benchmark counts no poll for AWS's settling time."""
    monkeypatch.setenv(firehose_extension.DELAY_ENV, "0")
    stream = SimpleNamespace(delivery_stream_arn="arn:aws:firehose:us-east-1:123456789012:deliverystream/x", delivery_stream_name="x", delivery_stream_status=None)
    firehose_extension._begin(stream, "CREATING", "ACTIVE")
    assert stream.delivery_stream_status == "CREATING"
    assert firehose_extension._settle(None, stream, observing=True).delivery_stream_status == "ACTIVE"
    monkeypatch.setenv(firehose_extension.DELAY_ENV, "0.001")
    firehose_extension._begin(stream, "CREATING", "ACTIVE")
    time.sleep(0.01)
    # Any delay above 0: the first Describe still sees CREATING.
    assert firehose_extension._settle(None, stream, observing=True).delivery_stream_status == "CREATING"
    assert firehose_extension._settle(None, stream, observing=True).delivery_stream_status == "ACTIVE"


# ------------------------------------------------------------------------------ create and describe


def test_create_goes_creating_then_active_and_describes_as_aws(client, name, make, stream_arn, firehose_role, bucket_arn):
    firehose = client("firehose")
    arn = firehose.create_delivery_stream(**make())["DeliveryStreamARN"]
    assert arn == f"arn:aws:firehose:us-east-1:123456789012:deliverystream/{name}-lake"
    # The first Describe always sees CREATING, however short the delay.
    assert status_of(firehose, f"{name}-lake") == "CREATING"
    assert wait_for(firehose, f"{name}-lake", "ACTIVE", {"CREATING"})[-1] == "ACTIVE"

    d = describe(firehose, f"{name}-lake")
    assert d["DeliveryStreamName"] == f"{name}-lake"
    assert d["DeliveryStreamARN"] == arn
    assert d["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert d["VersionId"] == "1"
    assert d["HasMoreDestinations"] is False
    assert isinstance(d["CreateTimestamp"], datetime.datetime)
    source = d["Source"]["KinesisStreamSourceDescription"]
    assert (source["KinesisStreamARN"], source["RoleARN"]) == (stream_arn, firehose_role)
    assert isinstance(source["DeliveryStartTimestamp"], datetime.datetime)
    (destination,) = d["Destinations"]
    assert destination["DestinationId"] == "destinationId-000000000001"
    extended = destination["ExtendedS3DestinationDescription"]
    assert extended == {
        "RoleARN": firehose_role,
        "BucketARN": bucket_arn,
        "Prefix": PREFIX,
        "ErrorOutputPrefix": ERROR_PREFIX,
        "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 300},
        "CompressionFormat": "GZIP",
        "EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"},
        "CloudWatchLoggingOptions": {"Enabled": False},
        "S3BackupMode": "Disabled",
    }
    # AWS also reports the S3 view of an extended S3 destination.
    assert destination["S3DestinationDescription"] == {
        k: v for k, v in extended.items() if k != "S3BackupMode"
    }


def test_describe_fills_in_the_destination_defaults(client, name, make):
    firehose = client("firehose")
    request = make(Prefix="raw/", ErrorOutputPrefix=None, BufferingHints=None, CompressionFormat=None)
    extended = create_active(firehose, request)["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert extended["BufferingHints"] == {"SizeInMBs": 5, "IntervalInSeconds": 300}
    assert extended["CompressionFormat"] == "UNCOMPRESSED"
    assert extended["Prefix"] == "raw/"
    assert "ErrorOutputPrefix" not in extended


def test_create_duplicate_is_resource_in_use(client, make):
    firehose = client("firehose")
    firehose.create_delivery_stream(**make())
    with pytest.raises(ClientError) as excinfo:
        firehose.create_delivery_stream(**make())
    assert error_of(excinfo)[0] == "ResourceInUseException"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"DeliveryStreamName": "bad name!"}, "deliveryStreamName"),
        ({"DeliveryStreamName": "x" * 65}, "deliveryStreamName"),
        ({"DeliveryStreamType": "Sideways"}, "deliveryStreamType"),
        ({"BufferingHints": {"SizeInMBs": 0, "IntervalInSeconds": 60}}, "sizeInMBs"),
        ({"BufferingHints": {"SizeInMBs": 129, "IntervalInSeconds": 60}}, "sizeInMBs"),
        ({"BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 901}}, "intervalInSeconds"),
        ({"BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": -1}}, "intervalInSeconds"),
        ({"CompressionFormat": "BZIP2"}, "compressionFormat"),
        ({"RoleARN": None}, "roleARN"),
        ({"BucketARN": "my-bucket"}, "bucketARN"),
        ({"Prefix": "p" * 1025}, "prefix"),
        ({"KinesisStreamARN": "arn:aws:kinesis:us-east-1:123456789012:table/x"}, "kinesisStreamARN"),
    ],
)
def test_create_checks_the_model_constraints(client, make, change, path):
    request = make()
    for key, value in change.items():
        if key in request:
            request[key] = value
        elif key == "KinesisStreamARN":
            request["KinesisStreamSourceConfiguration"][key] = value
        elif value is None:
            del request["ExtendedS3DestinationConfiguration"][key]
        else:
            request["ExtendedS3DestinationConfiguration"][key] = value
    with pytest.raises(ClientError) as excinfo:
        client("firehose", validate=False).create_delivery_stream(**request)
    code, message = error_of(excinfo)
    assert code == "ValidationException"
    assert message.startswith("1 validation error detected: Value ")
    assert path in message


def test_several_constraint_violations_are_reported_together(client, make):
    request = make(BufferingHints={"SizeInMBs": 500, "IntervalInSeconds": 5000}, CompressionFormat="BZIP2")
    with pytest.raises(ClientError) as excinfo:
        client("firehose", validate=False).create_delivery_stream(**request)
    code, message = error_of(excinfo)
    assert code == "ValidationException"
    assert message.startswith("3 validation errors detected: ")


@pytest.mark.parametrize(
    ("prefix", "error_prefix", "message"),
    [
        (PREFIX, None, "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions"),
        (PREFIX, "", "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions"),
        ("raw/", "errors/!{timestamp:yyyy}/", "ErrorOutputPrefix must contain at least one occurrence of !{firehose:error-output-type}"),
        ("raw/!{firehose:error-output-type}/", "errors/", "Prefix must not contain any occurrence of !{firehose:error-output-type}"),
        ("raw/!{date:yyyy}/", "errors/", "Namespace to the left of colon (date) is an invalid keyword!"),
        ("raw/!{timestamp:yyyy/", "errors/", "Invalid expression usage in Prefix"),
        ("raw/!{firehose:uuid}/", "errors/", "Invalid conversion character used in the value of the expression in Prefix"),
        ("raw/", "e/!{firehose:error-output-type}/!{partitionKeyFromQuery:id}/", "Dynamic Partitioning Namespaces can't be part of an error prefix expression"),
        ("raw/!{partitionKeyFromQuery:id}/", "errors/", "Dynamic Partitioning Namespaces can only be used when dynamic partitioning is enabled"),
    ],
)
def test_create_checks_the_prefix_rules(client, make, prefix, error_prefix, message):
    with pytest.raises(ClientError) as excinfo:
        client("firehose").create_delivery_stream(**make(Prefix=prefix, ErrorOutputPrefix=error_prefix))
    assert error_of(excinfo) == ("InvalidArgumentException", message)


def test_prefixes_without_expressions_need_no_error_prefix(client, make):
    firehose = client("firehose")
    d = create_active(firehose, make(Prefix="raw/", ErrorOutputPrefix=None))
    assert d["Destinations"][0]["ExtendedS3DestinationDescription"]["Prefix"] == "raw/"


def test_kinesis_source_needs_its_configuration(client, make):
    request = make()
    del request["KinesisStreamSourceConfiguration"]
    with pytest.raises(ClientError) as excinfo:
        client("firehose").create_delivery_stream(**request)
    assert error_of(excinfo) == (
        "InvalidArgumentException", "KinesisStreamSourceConfiguration is required for KinesisStreamAsSource stream type"
    )


def test_source_stream_must_exist(client, make, stream_arn):
    request = make()
    request["KinesisStreamSourceConfiguration"]["KinesisStreamARN"] = stream_arn + "-missing"
    with pytest.raises(ClientError) as excinfo:
        client("firehose").create_delivery_stream(**request)
    code, message = error_of(excinfo)
    assert code == "InvalidArgumentException"
    assert "-missing" in message and "not found" in message


def test_roles_must_exist_and_trust_firehose(client, make, role_arn, firehose_role):
    firehose = client("firehose")
    missing = firehose_role + "-missing"
    # A role that only Lambda may assume (conftest's role_arn), as the source role...
    request = make()
    request["KinesisStreamSourceConfiguration"]["RoleARN"] = role_arn
    with pytest.raises(ClientError) as excinfo:
        firehose.create_delivery_stream(**request)
    assert error_of(excinfo) == (
        "InvalidArgumentException", f"Firehose is unable to assume role {role_arn}. Please check the role provided."
    )
    # ...and a role that does not exist (or has not propagated yet) as the destination role.
    with pytest.raises(ClientError) as excinfo:
        firehose.create_delivery_stream(**make(RoleARN=missing))
    assert error_of(excinfo) == (
        "InvalidArgumentException", f"Firehose is unable to assume role {missing}. Please check the role provided."
    )


# ------------------------------------------------------------------------------ update


def test_update_destination_merges_and_bumps_the_version(client, name, make, firehose_role, bucket_arn):
    firehose = client("firehose")
    d = create_active(firehose, make())
    destination_id = d["Destinations"][0]["DestinationId"]
    firehose.update_destination(
        DeliveryStreamName=f"{name}-lake",
        CurrentDeliveryStreamVersionId=d["VersionId"],
        DestinationId=destination_id,
        ExtendedS3DestinationUpdate={
            "Prefix": "v2/!{timestamp:yyyy}/",
            "BufferingHints": {"SizeInMBs": 64},
            "CompressionFormat": "Snappy",
        },
    )
    d = describe(firehose, f"{name}-lake")
    assert d["DeliveryStreamStatus"] == "ACTIVE"
    assert d["VersionId"] == "2"
    assert d["LastUpdateTimestamp"] >= d["CreateTimestamp"]
    destination = d["Destinations"][0]
    extended = destination["ExtendedS3DestinationDescription"]
    assert extended["Prefix"] == "v2/!{timestamp:yyyy}/"
    assert extended["ErrorOutputPrefix"] == ERROR_PREFIX  # kept
    assert extended["BufferingHints"] == {"SizeInMBs": 64, "IntervalInSeconds": 300}  # merged
    assert extended["CompressionFormat"] == "Snappy"
    assert (extended["RoleARN"], extended["BucketARN"]) == (firehose_role, bucket_arn)
    # The S3 view follows the whole destination (moto kept only the updated fields).
    s3 = destination["S3DestinationDescription"]
    assert (s3["RoleARN"], s3["BucketARN"], s3["Prefix"], s3["CompressionFormat"]) == (
        firehose_role, bucket_arn, "v2/!{timestamp:yyyy}/", "Snappy"
    )

    firehose.update_destination(
        DeliveryStreamName=f"{name}-lake", CurrentDeliveryStreamVersionId="2", DestinationId=destination_id,
        ExtendedS3DestinationUpdate={"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}},
    )
    d = describe(firehose, f"{name}-lake")
    assert d["VersionId"] == "3"
    assert d["Destinations"][0]["ExtendedS3DestinationDescription"]["BufferingHints"] == {
        "SizeInMBs": 1, "IntervalInSeconds": 0
    }


def test_update_with_a_stale_version_is_a_concurrent_modification(client, name, make):
    firehose = client("firehose")
    d = create_active(firehose, make())
    destination_id = d["Destinations"][0]["DestinationId"]
    update = {"DeliveryStreamName": f"{name}-lake", "DestinationId": destination_id}
    firehose.update_destination(**update, CurrentDeliveryStreamVersionId="1", ExtendedS3DestinationUpdate={"Prefix": "a/"})
    with pytest.raises(ClientError) as excinfo:
        firehose.update_destination(**update, CurrentDeliveryStreamVersionId="1", ExtendedS3DestinationUpdate={"Prefix": "b/"})
    assert error_of(excinfo)[0] == "ConcurrentModificationException"
    assert describe(firehose, f"{name}-lake")["Destinations"][0]["ExtendedS3DestinationDescription"]["Prefix"] == "a/"
    with pytest.raises(ClientError) as excinfo:
        client("firehose", validate=False).update_destination(
            **update, CurrentDeliveryStreamVersionId="two", ExtendedS3DestinationUpdate={"Prefix": "b/"}
        )
    assert error_of(excinfo)[0] == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        firehose.update_destination(
            DeliveryStreamName=f"{name}-lake", DestinationId="destinationId-000000000009",
            CurrentDeliveryStreamVersionId="2", ExtendedS3DestinationUpdate={"Prefix": "b/"},
        )
    assert error_of(excinfo)[0] == "InvalidArgumentException"


def test_update_checks_the_merged_destination(client, name, make, firehose_role):
    firehose = client("firehose")
    d = create_active(firehose, make(Prefix="raw/", ErrorOutputPrefix=None))
    update = {
        "DeliveryStreamName": f"{name}-lake",
        "CurrentDeliveryStreamVersionId": d["VersionId"],
        "DestinationId": d["Destinations"][0]["DestinationId"],
    }
    with pytest.raises(ClientError) as excinfo:
        firehose.update_destination(**update, ExtendedS3DestinationUpdate={"Prefix": PREFIX})
    assert error_of(excinfo) == (
        "InvalidArgumentException", "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions"
    )
    with pytest.raises(ClientError) as excinfo:
        client("firehose", validate=False).update_destination(
            **update, ExtendedS3DestinationUpdate={"BufferingHints": {"SizeInMBs": 200}}
        )
    assert error_of(excinfo)[0] == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        firehose.update_destination(**update, ExtendedS3DestinationUpdate={"RoleARN": firehose_role + "-missing"})
    assert error_of(excinfo)[0] == "InvalidArgumentException"
    assert describe(firehose, f"{name}-lake")["VersionId"] == d["VersionId"]  # nothing applied
    firehose.update_destination(**update, ExtendedS3DestinationUpdate={"Prefix": PREFIX, "ErrorOutputPrefix": ERROR_PREFIX})
    assert describe(firehose, f"{name}-lake")["VersionId"] == "2"


def test_update_while_creating_is_resource_in_use(client, name, make):
    firehose = client("firehose")
    firehose.create_delivery_stream(**make())
    d = describe(firehose, f"{name}-lake")
    assert d["DeliveryStreamStatus"] == "CREATING"
    with pytest.raises(ClientError) as excinfo:
        firehose.update_destination(
            DeliveryStreamName=f"{name}-lake", CurrentDeliveryStreamVersionId=d["VersionId"],
            DestinationId=d["Destinations"][0]["DestinationId"], ExtendedS3DestinationUpdate={"Prefix": "a/"},
        )
    assert error_of(excinfo)[0] == "ResourceInUseException"


# ------------------------------------------------------------------------------ delete


def test_delete_goes_deleting_then_gone(client, name, make):
    firehose = client("firehose")
    arn = create_active(firehose, make())["DeliveryStreamARN"]
    firehose.delete_delivery_stream(DeliveryStreamName=f"{name}-lake")
    assert status_of(firehose, f"{name}-lake") == "DELETING"  # always shown once
    firehose.delete_delivery_stream(DeliveryStreamName=f"{name}-lake")  # already deleting: accepted
    with pytest.raises(ClientError) as excinfo:
        firehose.create_delivery_stream(**make())  # the name is still taken
    assert error_of(excinfo)[0] == "ResourceInUseException"
    assert wait_for(firehose, f"{name}-lake", "gone", {"DELETING"})[-1] == "gone"
    with pytest.raises(ClientError) as excinfo:
        firehose.delete_delivery_stream(DeliveryStreamName=f"{name}-lake")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    # The name is free again; the new stream starts without the old one's tags.
    request = make()
    del request["Tags"]
    assert create_active(firehose, request)["DeliveryStreamARN"] == arn
    assert firehose.list_tags_for_delivery_stream(DeliveryStreamName=f"{name}-lake")["Tags"] == []


def test_delete_while_creating_is_resource_in_use(client, name, make):
    firehose = client("firehose")
    firehose.create_delivery_stream(**make())
    assert status_of(firehose, f"{name}-lake") == "CREATING"
    with pytest.raises(ClientError) as excinfo:
        firehose.delete_delivery_stream(DeliveryStreamName=f"{name}-lake")
    assert error_of(excinfo)[0] == "ResourceInUseException"
    wait_for(firehose, f"{name}-lake", "ACTIVE", {"CREATING"})
    firehose.delete_delivery_stream(DeliveryStreamName=f"{name}-lake")
    wait_for(firehose, f"{name}-lake", "gone", {"DELETING"})


def test_unknown_names_are_resource_not_found(client, name):
    firehose = client("firehose")
    missing = f"{name}-nothing"
    calls = [
        lambda: firehose.describe_delivery_stream(DeliveryStreamName=missing),
        lambda: firehose.delete_delivery_stream(DeliveryStreamName=missing),
        lambda: firehose.update_destination(
            DeliveryStreamName=missing, CurrentDeliveryStreamVersionId="1",
            DestinationId="destinationId-000000000001", ExtendedS3DestinationUpdate={"Prefix": "a/"},
        ),
        lambda: firehose.list_tags_for_delivery_stream(DeliveryStreamName=missing),
        lambda: firehose.tag_delivery_stream(DeliveryStreamName=missing, Tags=[{"Key": "a", "Value": "1"}]),
        lambda: firehose.untag_delivery_stream(DeliveryStreamName=missing, TagKeys=["a"]),
    ]
    for call in calls:
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo) == (
            "ResourceNotFoundException", f"Firehose {missing} under account 123456789012 not found."
        )
    with pytest.raises(ClientError) as excinfo:
        client("firehose", validate=False).describe_delivery_stream(DeliveryStreamName="no such name!")
    assert error_of(excinfo)[0] == "ValidationException"


# ------------------------------------------------------------------------------ list and tags


def test_list_delivery_streams_pages_by_ten(client, name, make):
    firehose = client("firehose")
    prefix = f"list-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-{i:02d}" for i in range(12)]
    for stream_name in names:
        firehose.create_delivery_stream(**make(stream_name=stream_name))
    page = firehose.list_delivery_streams(ExclusiveStartDeliveryStreamName=prefix)  # not a stream: names after it
    assert page["DeliveryStreamNames"] == names[:10]  # AWS's default Limit is 10
    assert page["HasMoreDeliveryStreams"] is True
    page = firehose.list_delivery_streams(ExclusiveStartDeliveryStreamName=names[9], Limit=2)
    assert page["DeliveryStreamNames"] == names[10:]
    page = firehose.list_delivery_streams(ExclusiveStartDeliveryStreamName=names[9], DeliveryStreamType="DirectPut")
    assert not [n for n in page["DeliveryStreamNames"] if n.startswith(prefix)]
    with pytest.raises(ClientError) as excinfo:
        client("firehose", validate=False).list_delivery_streams(Limit=0)
    assert error_of(excinfo)[0] == "ValidationException"


def test_tags_on_create_tag_and_untag(client, name, make):
    firehose = client("firehose")
    firehose.create_delivery_stream(**make())
    stream_name = f"{name}-lake"

    def tags() -> dict[str, str]:
        answer = firehose.list_tags_for_delivery_stream(DeliveryStreamName=stream_name)
        assert answer["HasMoreTags"] is False
        return {t["Key"]: t["Value"] for t in answer["Tags"]}

    assert tags() == {"unifiedetl:pipeline": name}
    firehose.tag_delivery_stream(DeliveryStreamName=stream_name, Tags=[
        {"Key": "unifiedetl:pipeline", "Value": "other"}, {"Key": "team", "Value": "data"},
    ])
    assert tags() == {"unifiedetl:pipeline": "other", "team": "data"}
    firehose.untag_delivery_stream(DeliveryStreamName=stream_name, TagKeys=["team", "never-set"])
    assert tags() == {"unifiedetl:pipeline": "other"}
    firehose.tag_delivery_stream(DeliveryStreamName=stream_name, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
    with pytest.raises(ClientError) as excinfo:
        firehose.tag_delivery_stream(DeliveryStreamName=stream_name, Tags=[{"Key": "one-too-many", "Value": "v"}])
    assert error_of(excinfo)[0] == "LimitExceededException"
    assert len(tags()) == 50
