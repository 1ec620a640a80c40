"""Lambda event source mappings from a Kinesis stream, as the provider manages them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

SETTINGS = {
    "BatchSize": 50,
    "MaximumBatchingWindowInSeconds": 5,
    "ParallelizationFactor": 2,
    "BisectBatchOnFunctionError": True,
    "MaximumRetryAttempts": 3,
    "MaximumRecordAgeInSeconds": 3600,
    "FunctionResponseTypes": ["ReportBatchItemFailures"],
}


def error_code(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_create_get_returns_every_setting(client, function, stream_arn):
    lam = client("lambda")
    created = lam.create_event_source_mapping(
        EventSourceArn=stream_arn,
        FunctionName=function["FunctionName"],
        StartingPosition="TRIM_HORIZON",
        Enabled=True,
        **SETTINGS,
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    got = lam.get_event_source_mapping(UUID=created["UUID"])
    for esm in (created, got):
        for key, value in SETTINGS.items():
            assert esm[key] == value, key
        assert esm["StartingPosition"] == "TRIM_HORIZON"
        assert esm["State"] == "Enabled"
        assert esm["EventSourceArn"] == stream_arn
        assert esm["FunctionArn"] == function["FunctionArn"]
        assert esm["StateTransitionReason"] == "USER_INITIATED"
        assert esm["EventSourceMappingArn"].endswith(f":event-source-mapping:{created['UUID']}")
        assert "LastModified" in esm


def test_defaults_of_a_stream_mapping(client, function, stream_arn):
    lam = client("lambda")
    esm = lam.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=function["FunctionArn"], StartingPosition="LATEST", Enabled=False
    )
    assert esm["State"] == "Disabled"
    assert esm["StartingPosition"] == "LATEST"
    assert esm["BatchSize"] == 100
    assert esm["MaximumBatchingWindowInSeconds"] == 0
    assert esm["ParallelizationFactor"] == 1
    assert esm["MaximumRetryAttempts"] == -1
    assert esm["MaximumRecordAgeInSeconds"] == -1
    assert esm["BisectBatchOnFunctionError"] is False
    assert esm["FunctionResponseTypes"] == []
    assert esm["DestinationConfig"] == {"OnFailure": {}}


def test_list_by_function_name_arn_and_event_source(client, function, stream_arn, name):
    lam = client("lambda")
    uuid = lam.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=function["FunctionName"], StartingPosition="LATEST"
    )["UUID"]
    for kwargs in (
        {"FunctionName": function["FunctionName"]},
        {"FunctionName": function["FunctionArn"]},
        {"EventSourceArn": stream_arn},
        {"EventSourceArn": stream_arn, "FunctionName": function["FunctionArn"]},
    ):
        found = lam.list_event_source_mappings(**kwargs)["EventSourceMappings"]
        assert [e["UUID"] for e in found] == [uuid], kwargs
    other = stream_arn.replace(f"{name}-stream", "other-stream")
    assert lam.list_event_source_mappings(EventSourceArn=other)["EventSourceMappings"] == []


def test_update_each_setting(client, function, stream_arn):
    lam = client("lambda")
    uuid = lam.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=function["FunctionName"], StartingPosition="LATEST", **SETTINGS
    )["UUID"]
    changes = {
        "BatchSize": 10000,
        "MaximumBatchingWindowInSeconds": 0,
        "ParallelizationFactor": 10,
        "BisectBatchOnFunctionError": False,
        "MaximumRetryAttempts": -1,
        "MaximumRecordAgeInSeconds": -1,
        "FunctionResponseTypes": [],
    }
    for key, value in changes.items():
        response = lam.update_event_source_mapping(UUID=uuid, **{key: value})
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
        assert response[key] == value, key
        assert lam.get_event_source_mapping(UUID=uuid)[key] == value, key
    assert lam.update_event_source_mapping(UUID=uuid, Enabled=False)["State"] == "Disabled"
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
    assert lam.update_event_source_mapping(UUID=uuid, Enabled=True)["State"] == "Enabled"
    final = lam.get_event_source_mapping(UUID=uuid)
    for key, value in changes.items():
        assert final[key] == value, key
    assert final["StartingPosition"] == "LATEST"


def test_starting_position_cannot_be_updated(client, function, stream_arn):
    lam = client("lambda")
    uuid = lam.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=function["FunctionName"], StartingPosition="LATEST"
    )["UUID"]
    # botocore does not even offer the parameter; a raw request carrying it is refused.
    assert "StartingPosition" not in lam.meta.service_model.operation_model(
        "UpdateEventSourceMapping"
    ).input_shape.members
    endpoint = lam.meta.endpoint_url
    req = urllib.request.Request(
        f"{endpoint}/2015-03-31/event-source-mappings/{uuid}",
        data=json.dumps({"StartingPosition": "TRIM_HORIZON"}).encode(),
        method="PUT",
        headers={
            "Content-Type": "application/json",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/lambda/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(req, timeout=5)
    assert excinfo.value.code == 400
    assert lam.get_event_source_mapping(UUID=uuid)["StartingPosition"] == "LATEST"


INVALID = [
    ("BatchSize", 0),
    ("BatchSize", 10001),
    ("ParallelizationFactor", 0),
    ("ParallelizationFactor", 11),
    ("MaximumRetryAttempts", -2),
    ("MaximumRetryAttempts", 10001),
    ("MaximumRecordAgeInSeconds", 0),
    ("MaximumRecordAgeInSeconds", 59),
    ("MaximumRecordAgeInSeconds", 604801),
    ("MaximumBatchingWindowInSeconds", -1),
    ("MaximumBatchingWindowInSeconds", 301),
    ("FunctionResponseTypes", ["Nope"]),
]


def test_validation_on_create_and_update(client, function, stream_arn):
    lam = client("lambda", validate=False)  # what an SDK without client-side checks sends
    uuid = lam.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=function["FunctionName"], StartingPosition="LATEST"
    )["UUID"]
    before = lam.get_event_source_mapping(UUID=uuid)
    for key, value in INVALID:
        with pytest.raises(ClientError) as excinfo:
            lam.update_event_source_mapping(UUID=uuid, **{key: value})
        assert error_code(excinfo) == "InvalidParameterValueException", (key, value)
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        with pytest.raises(ClientError) as excinfo:
            lam.create_event_source_mapping(
                EventSourceArn=stream_arn, FunctionName=function["FunctionName"],
                StartingPosition="TRIM_HORIZON", **{key: value},
            )
        assert error_code(excinfo) == "InvalidParameterValueException", (key, value)
    after = lam.get_event_source_mapping(UUID=uuid)
    before.pop("ResponseMetadata"), after.pop("ResponseMetadata")
    assert after == before
    # Only the mapping created first exists.
    assert len(lam.list_event_source_mappings(EventSourceArn=stream_arn)["EventSourceMappings"]) == 1


def test_boundaries_are_accepted(client, function, stream_arn):
    lam = client("lambda")
    esm = lam.create_event_source_mapping(
        EventSourceArn=stream_arn,
        FunctionName=function["FunctionName"],
        StartingPosition="LATEST",
        BatchSize=1,
        ParallelizationFactor=1,
        MaximumRetryAttempts=10000,
        MaximumRecordAgeInSeconds=60,
        MaximumBatchingWindowInSeconds=300,
    )
    lam.update_event_source_mapping(UUID=esm["UUID"], MaximumRecordAgeInSeconds=604800, MaximumRetryAttempts=0)


def test_starting_position_is_required_for_kinesis(client, function, stream_arn):
    lam = client("lambda")
    with pytest.raises(ClientError) as excinfo:
        lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName=function["FunctionName"])
    assert error_code(excinfo) == "InvalidParameterValueException"


def test_duplicate_mapping_conflicts(client, function, stream_arn):
    lam = client("lambda")
    uuid = lam.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=function["FunctionName"], StartingPosition="LATEST"
    )["UUID"]
    with pytest.raises(ClientError) as excinfo:
        lam.create_event_source_mapping(
            EventSourceArn=stream_arn, FunctionName=function["FunctionArn"], StartingPosition="LATEST"
        )
    assert error_code(excinfo) == "ResourceConflictException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert uuid in excinfo.value.response["Error"]["Message"]


def test_unknown_function_or_mapping(client, stream_arn):
    lam = client("lambda")
    with pytest.raises(ClientError) as excinfo:
        lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName="nope", StartingPosition="LATEST")
    assert error_code(excinfo) == "ResourceNotFoundException"
    missing = "00000000-0000-0000-0000-000000000000"
    for call in (lam.get_event_source_mapping, lam.delete_event_source_mapping):
        with pytest.raises(ClientError) as excinfo:
            call(UUID=missing)
        assert error_code(excinfo) == "ResourceNotFoundException"
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as excinfo:
        lam.update_event_source_mapping(UUID=missing, BatchSize=10)
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_delete_mapping(client, function, stream_arn, name):
    lam = client("lambda")
    uuid = lam.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=function["FunctionName"], StartingPosition="LATEST"
    )["UUID"]
    deleted = lam.delete_event_source_mapping(UUID=uuid)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert deleted["State"] == "Deleting"
    with pytest.raises(ClientError) as excinfo:
        lam.get_event_source_mapping(UUID=uuid)
    assert error_code(excinfo) == "ResourceNotFoundException"
    assert lam.list_event_source_mappings(EventSourceArn=stream_arn)["EventSourceMappings"] == []
    # The stream keeps working and no function is invoked (there is no Docker here).
    kinesis = client("kinesis")
    kinesis.put_records(StreamName=f"{name}-stream", Records=[{"Data": b"x", "PartitionKey": "p"}])


def test_put_records_on_a_mapped_stream_only_stores_them(client, function, stream_arn, name):
    lam = client("lambda")
    lam.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=function["FunctionName"], StartingPosition="TRIM_HORIZON"
    )
    kinesis = client("kinesis")
    result = kinesis.put_records(
        StreamName=f"{name}-stream", Records=[{"Data": b"r%d" % i, "PartitionKey": str(i)} for i in range(5)]
    )
    assert result["FailedRecordCount"] == 0
    shard = kinesis.list_shards(StreamName=f"{name}-stream")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=f"{name}-stream", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert len(kinesis.get_records(ShardIterator=iterator)["Records"]) == 5
