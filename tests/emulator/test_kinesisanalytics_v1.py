"""Kinesis Analytics v1 (SQL applications), served by extensions/kinesisanalytics_v1.py."""

from __future__ import annotations

import datetime
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import launch

ACCOUNT = "123456789012"
# The emulator's transition delay (the session emulator inherits this environment).
TRANSITION = float(os.environ.get("KINESISANALYTICS_V1_TRANSITION_SECONDS", "0.3"))
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "kinesisanalytics.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
CODE = 'CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (id INTEGER);'
COLUMNS = [
    {"Name": "id", "Mapping": "$.id", "SqlType": "INTEGER"},
    {"Name": "body", "Mapping": "$.body", "SqlType": "VARCHAR(64)"},
]
JSON_SCHEMA = {
    "RecordFormat": {"RecordFormatType": "JSON", "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
    "RecordEncoding": "UTF-8",
    "RecordColumns": COLUMNS,
}
CSV_SCHEMA = {
    "RecordFormat": {
        "RecordFormatType": "CSV",
        "MappingParameters": {"CSVMappingParameters": {"RecordRowDelimiter": "\n", "RecordColumnDelimiter": ","}},
    },
    "RecordColumns": [{"Name": "code", "SqlType": "VARCHAR(8)"}, {"Name": "label", "SqlType": "VARCHAR(32)"}],
}


def error_code(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.response["Error"]["Code"]


@dataclass
class World:
    """Everything an application refers to, created in the emulator."""

    role: str
    source: str
    sink: str
    sink2: str
    bucket: str
    bucket_arn: str
    key: str


@pytest.fixture
def world(client, name) -> World:
    role = client("iam").create_role(RoleName=f"{name}-ka", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    kinesis = client("kinesis")
    arns = []
    for suffix in ("in", "out", "out2"):
        kinesis.create_stream(StreamName=f"{name}-{suffix}", ShardCount=1)
        arns.append(kinesis.describe_stream_summary(StreamName=f"{name}-{suffix}")["StreamDescriptionSummary"]["StreamARN"])
    s3 = client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="ref/codes.csv", Body=b"A,alpha\nB,beta\n")
    return World(role, *arns, name, f"arn:aws:s3:::{name}", "ref/codes.csv")


def an_input(world: World, prefix: str = "SOURCE_SQL_STREAM", **extra) -> dict:
    return {
        "NamePrefix": prefix,
        "KinesisStreamsInput": {"ResourceARN": world.source, "RoleARN": world.role},
        "InputSchema": JSON_SCHEMA,
        **extra,
    }


def an_output(world: World, name: str = "DESTINATION_SQL_STREAM", sink: str | None = None, fmt: str = "JSON") -> dict:
    return {
        "Name": name,
        "KinesisStreamsOutput": {"ResourceARN": sink or world.sink, "RoleARN": world.role},
        "DestinationSchema": {"RecordFormatType": fmt},
    }


def a_reference(world: World, table: str = "CODES") -> dict:
    return {
        "TableName": table,
        "S3ReferenceDataSource": {"BucketARN": world.bucket_arn, "FileKey": world.key, "ReferenceRoleARN": world.role},
        "ReferenceSchema": CSV_SCHEMA,
    }


def detail(ka, name: str) -> dict:
    return ka.describe_application(ApplicationName=name)["ApplicationDetail"]


def wait_for(ka, name: str, target: str | None, timeout: float = 10.0) -> list[str]:
    """Polls DescribeApplication until the status is ``target`` (None: the application is
    gone); returns every status seen on the way."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = detail(ka, name)["ApplicationStatus"]
        except ClientError as error:
            if target is None and error.response["Error"]["Code"] == "ResourceNotFoundException":
                return seen
            raise
        seen.append(status)
        if status == target:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"{name} never reached {target}: {seen}")


def test_full_lifecycle(client, name, world):
    ka = client("kinesisanalytics")
    created = ka.create_application(
        ApplicationName=name,
        ApplicationDescription="orders, enriched",
        Inputs=[an_input(world, InputParallelism={"Count": 2})],
        Outputs=[an_output(world), an_output(world, "ERROR_STREAM", world.sink2, "CSV")],
        CloudWatchLoggingOptions=[
            {"LogStreamARN": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:ka:log-stream:app", "RoleARN": world.role}
        ],
        ApplicationCode=CODE,
        Tags=[{"Key": "team", "Value": "etl"}],
    )
    arn = f"arn:aws:kinesisanalytics:us-east-1:{ACCOUNT}:application/{name}"
    assert created["ApplicationSummary"] == {"ApplicationName": name, "ApplicationARN": arn, "ApplicationStatus": "READY"}

    d = detail(ka, name)
    created_at = d.pop("CreateTimestamp")
    updated_at = d.pop("LastUpdateTimestamp")
    assert created_at.tzinfo is not None and created_at.microsecond == 0  # whole seconds, as AWS
    assert abs(created_at - datetime.datetime.now(datetime.timezone.utc)) < datetime.timedelta(seconds=30)
    assert updated_at >= created_at
    assert d == {
        "ApplicationName": name,
        "ApplicationDescription": "orders, enriched",
        "ApplicationARN": arn,
        "ApplicationStatus": "READY",
        "InputDescriptions": [
            {
                "InputId": "1.1",
                "NamePrefix": "SOURCE_SQL_STREAM",
                "InAppStreamNames": ["SOURCE_SQL_STREAM_001", "SOURCE_SQL_STREAM_002"],
                "KinesisStreamsInputDescription": {"ResourceARN": world.source, "RoleARN": world.role},
                "InputSchema": JSON_SCHEMA,
                "InputParallelism": {"Count": 2},
                "InputStartingPositionConfiguration": {},
            }
        ],
        "OutputDescriptions": [
            {
                "OutputId": "1.1",
                "Name": "DESTINATION_SQL_STREAM",
                "KinesisStreamsOutputDescription": {"ResourceARN": world.sink, "RoleARN": world.role},
                "DestinationSchema": {"RecordFormatType": "JSON"},
            },
            {
                "OutputId": "1.2",
                "Name": "ERROR_STREAM",
                "KinesisStreamsOutputDescription": {"ResourceARN": world.sink2, "RoleARN": world.role},
                "DestinationSchema": {"RecordFormatType": "CSV"},
            },
        ],
        "ReferenceDataSourceDescriptions": [],
        "CloudWatchLoggingOptionDescriptions": [
            {
                "CloudWatchLoggingOptionId": "1.1",
                "LogStreamARN": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:ka:log-stream:app",
                "RoleARN": world.role,
            }
        ],
        "ApplicationCode": CODE,
        "ApplicationVersionId": 1,
    }

    # A reference data source: new version, id "<new version>.1".
    ka.add_application_reference_data_source(
        ApplicationName=name, CurrentApplicationVersionId=1, ReferenceDataSource=a_reference(world)
    )
    d = detail(ka, name)
    assert d["ApplicationVersionId"] == 2
    assert d["ReferenceDataSourceDescriptions"] == [
        {
            "ReferenceId": "2.1",
            "TableName": "CODES",
            "S3ReferenceDataSourceDescription": {
                "BucketARN": world.bucket_arn,
                "FileKey": world.key,
                "ReferenceRoleARN": world.role,
            },
            "ReferenceSchema": CSV_SCHEMA,
        }
    ]
    assert d["LastUpdateTimestamp"] >= updated_at

    # New code: one more version. A stale version is refused and changes nothing.
    ka.update_application(
        ApplicationName=name, CurrentApplicationVersionId=2, ApplicationUpdate={"ApplicationCodeUpdate": CODE + "\n--v3"}
    )
    assert (detail(ka, name)["ApplicationVersionId"], detail(ka, name)["ApplicationCode"]) == (3, CODE + "\n--v3")
    with pytest.raises(ClientError) as excinfo:
        ka.update_application(
            ApplicationName=name, CurrentApplicationVersionId=2, ApplicationUpdate={"ApplicationCodeUpdate": "x"}
        )
    assert error_code(excinfo) == "ConcurrentModificationException"
    with pytest.raises(ClientError) as excinfo:
        ka.add_application_output(ApplicationName=name, CurrentApplicationVersionId=4, Output=an_output(world, "X"))
    assert error_code(excinfo) == "ConcurrentModificationException"
    assert detail(ka, name)["ApplicationVersionId"] == 3

    # Outputs: add one (id 4.1), delete the first.
    ka.add_application_output(ApplicationName=name, CurrentApplicationVersionId=3, Output=an_output(world, "THIRD"))
    ka.delete_application_output(ApplicationName=name, CurrentApplicationVersionId=4, OutputId="1.1")
    d = detail(ka, name)
    assert d["ApplicationVersionId"] == 5
    assert [(o["OutputId"], o["Name"]) for o in d["OutputDescriptions"]] == [("1.2", "ERROR_STREAM"), ("4.1", "THIRD")]
    with pytest.raises(ClientError) as excinfo:
        ka.delete_application_output(ApplicationName=name, CurrentApplicationVersionId=5, OutputId="1.1")
    assert error_code(excinfo) == "ResourceNotFoundException"

    # The reference data source goes.
    ka.delete_application_reference_data_source(ApplicationName=name, CurrentApplicationVersionId=5, ReferenceId="2.1")
    d = detail(ka, name)
    assert (d["ApplicationVersionId"], d["ReferenceDataSourceDescriptions"]) == (6, [])

    # Start: STARTING first, then RUNNING; the version stays.
    ka.start_application(
        ApplicationName=name,
        InputConfigurations=[{"Id": "1.1", "InputStartingPositionConfiguration": {"InputStartingPosition": "TRIM_HORIZON"}}],
    )
    seen = wait_for(ka, name, "RUNNING")
    assert seen[0] == ("STARTING" if TRANSITION > 0 else "RUNNING")  # a waiter always sees STARTING once
    d = detail(ka, name)
    assert d["ApplicationVersionId"] == 6
    assert d["InputDescriptions"][0]["InputStartingPositionConfiguration"] == {"InputStartingPosition": "TRIM_HORIZON"}

    # A running application can still be changed.
    ka.update_application(
        ApplicationName=name, CurrentApplicationVersionId=6, ApplicationUpdate={"ApplicationCodeUpdate": CODE}
    )
    assert detail(ka, name)["ApplicationStatus"] == "RUNNING"

    # Stop: STOPPING, then READY.
    ka.stop_application(ApplicationName=name)
    seen = wait_for(ka, name, "READY")
    assert seen[0] == ("STOPPING" if TRANSITION > 0 else "READY")

    # Delete: the creation timestamp must be the application's.
    with pytest.raises(ClientError) as excinfo:
        ka.delete_application(ApplicationName=name, CreateTimestamp=created_at - datetime.timedelta(seconds=1))
    assert error_code(excinfo) == "ResourceNotFoundException"
    ka.delete_application(ApplicationName=name, CreateTimestamp=created_at)
    seen = wait_for(ka, name, None)
    assert set(seen) == ({"DELETING"} if TRANSITION > 0 else set())
    with pytest.raises(ClientError) as excinfo:
        detail(ka, name)
    assert error_code(excinfo) == "ResourceNotFoundException"
    assert name not in [a["ApplicationName"] for a in ka.list_applications(Limit=50)["ApplicationSummaries"]]


def test_minimal_application_and_add_input(client, name, world, function):
    ka = client("kinesisanalytics")
    ka.create_application(ApplicationName=name)
    d = detail(ka, name)
    assert d["ApplicationVersionId"] == 1
    assert d["InputDescriptions"] == [] and d["OutputDescriptions"] == []
    assert "ApplicationCode" not in d and "ApplicationDescription" not in d

    with pytest.raises(ClientError) as excinfo:  # nothing to read from
        ka.start_application(ApplicationName=name, InputConfigurations=[])
    assert error_code(excinfo) == "InvalidApplicationConfigurationException"

    ka.add_application_input(ApplicationName=name, CurrentApplicationVersionId=1, Input=an_input(world))
    d = detail(ka, name)
    assert d["ApplicationVersionId"] == 2
    assert d["InputDescriptions"][0]["InputId"] == "2.1"
    assert d["InputDescriptions"][0]["InAppStreamNames"] == ["SOURCE_SQL_STREAM_001"]
    assert d["InputDescriptions"][0]["InputParallelism"] == {"Count": 1}

    with pytest.raises(ClientError) as excinfo:  # one input per application
        ka.add_application_input(ApplicationName=name, CurrentApplicationVersionId=2, Input=an_input(world, "OTHER"))
    assert error_code(excinfo) == "InvalidArgumentException"

    ka.add_application_input_processing_configuration(
        ApplicationName=name,
        CurrentApplicationVersionId=2,
        InputId="2.1",
        InputProcessingConfiguration={
            "InputLambdaProcessor": {"ResourceARN": function["FunctionArn"], "RoleARN": world.role}
        },
    )
    d = detail(ka, name)
    assert d["ApplicationVersionId"] == 3
    assert list(d["InputDescriptions"][0])[:4] == [
        "InputId", "NamePrefix", "InAppStreamNames", "InputProcessingConfigurationDescription"
    ]
    ka.delete_application_input_processing_configuration(ApplicationName=name, CurrentApplicationVersionId=3, InputId="2.1")
    d = detail(ka, name)
    assert d["ApplicationVersionId"] == 4
    assert "InputProcessingConfigurationDescription" not in d["InputDescriptions"][0]


def test_update_application_every_kind_of_update(client, name, world):
    ka = client("kinesisanalytics")
    log_stream = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:ka:log-stream:a"
    ka.create_application(
        ApplicationName=name,
        Inputs=[an_input(world)],
        Outputs=[an_output(world)],
        CloudWatchLoggingOptions=[{"LogStreamARN": log_stream, "RoleARN": world.role}],
    )
    ka.add_application_reference_data_source(
        ApplicationName=name, CurrentApplicationVersionId=1, ReferenceDataSource=a_reference(world)
    )
    ka.update_application(
        ApplicationName=name,
        CurrentApplicationVersionId=2,
        ApplicationUpdate={
            "InputUpdates": [
                {
                    "InputId": "1.1",
                    "NamePrefixUpdate": "IN",
                    "InputParallelismUpdate": {"CountUpdate": 3},
                    "InputSchemaUpdate": {"RecordColumnUpdates": [{"Name": "n", "Mapping": "$.n", "SqlType": "BIGINT"}]},
                }
            ],
            "OutputUpdates": [
                {
                    "OutputId": "1.1",
                    "NameUpdate": "OUT",
                    "KinesisStreamsOutputUpdate": {"ResourceARNUpdate": world.sink2},
                    "DestinationSchemaUpdate": {"RecordFormatType": "CSV"},
                }
            ],
            "ReferenceDataSourceUpdates": [{"ReferenceId": "2.1", "TableNameUpdate": "CODES2"}],
            "CloudWatchLoggingOptionUpdates": [{"CloudWatchLoggingOptionId": "1.1", "LogStreamARNUpdate": log_stream + "b"}],
            "ApplicationCodeUpdate": CODE,
        },
    )
    d = detail(ka, name)
    assert d["ApplicationVersionId"] == 3  # one change, one version
    (i,) = d["InputDescriptions"]
    assert i["NamePrefix"] == "IN"
    assert i["InAppStreamNames"] == ["IN_001", "IN_002", "IN_003"]
    assert i["InputParallelism"] == {"Count": 3}
    assert i["InputSchema"]["RecordFormat"] == JSON_SCHEMA["RecordFormat"]
    assert i["InputSchema"]["RecordColumns"] == [{"Name": "n", "Mapping": "$.n", "SqlType": "BIGINT"}]
    (o,) = d["OutputDescriptions"]
    assert o == {
        "OutputId": "1.1",
        "Name": "OUT",
        "KinesisStreamsOutputDescription": {"ResourceARN": world.sink2, "RoleARN": world.role},
        "DestinationSchema": {"RecordFormatType": "CSV"},
    }
    assert d["ReferenceDataSourceDescriptions"][0]["TableName"] == "CODES2"
    assert d["CloudWatchLoggingOptionDescriptions"][0]["LogStreamARN"] == log_stream + "b"
    assert d["ApplicationCode"] == CODE

    # All or nothing: one bad update leaves everything (and the version) as it was.
    with pytest.raises(ClientError) as excinfo:
        ka.update_application(
            ApplicationName=name,
            CurrentApplicationVersionId=3,
            ApplicationUpdate={
                "ApplicationCodeUpdate": "changed",
                "InputUpdates": [
                    {
                        "InputId": "1.1",
                        "InputSchemaUpdate": {
                            "RecordFormatUpdate": {"RecordFormatType": "JSON"},
                            "RecordColumnUpdates": [{"Name": "x", "SqlType": "INTEGER"}],
                        },
                    }
                ],
            },
        )
    assert error_code(excinfo) == "InvalidArgumentException"  # JSON columns need a Mapping
    with pytest.raises(ClientError) as excinfo:
        ka.update_application(
            ApplicationName=name, CurrentApplicationVersionId=3,
            ApplicationUpdate={
                "ApplicationCodeUpdate": "changed",
                "OutputUpdates": [{"OutputId": "9.9", "NameUpdate": "Z"}],
            },
        )
    assert error_code(excinfo) == "ResourceNotFoundException"
    assert detail(ka, name) == d

    with pytest.raises(ClientError) as excinfo:  # an update must update something
        ka.update_application(ApplicationName=name, CurrentApplicationVersionId=3, ApplicationUpdate={})
    assert error_code(excinfo) == "InvalidArgumentException"


def test_status_rules(client, name, world):
    ka = client("kinesisanalytics")
    ka.create_application(ApplicationName=name, Inputs=[an_input(world)])
    created_at = detail(ka, name)["CreateTimestamp"]
    with pytest.raises(ClientError) as excinfo:  # only a RUNNING application stops
        ka.stop_application(ApplicationName=name)
    assert error_code(excinfo) == "ResourceInUseException"
    with pytest.raises(ClientError) as excinfo:  # not an input of this application
        ka.start_application(ApplicationName=name, InputConfigurations=[
            {"Id": "9.9", "InputStartingPositionConfiguration": {"InputStartingPosition": "NOW"}}])
    assert error_code(excinfo) == "InvalidArgumentException"

    start = {"ApplicationName": name, "InputConfigurations": [{"Id": "1.1", "InputStartingPositionConfiguration": {}}]}
    started = time.monotonic()
    ka.start_application(**start)
    # While STARTING: no second start, no stop, no configuration change, no delete. (Checked
    # only well within the transition delay: calls other than Describe/List end it on time.)
    for call in (
        lambda: ka.start_application(**start),
        lambda: ka.stop_application(ApplicationName=name),
        lambda: ka.add_application_output(ApplicationName=name, CurrentApplicationVersionId=1, Output=an_output(world)),
        lambda: ka.delete_application(ApplicationName=name, CreateTimestamp=created_at),
    ):
        if time.monotonic() - started > TRANSITION / 2:
            break
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_code(excinfo) == "ResourceInUseException"
    wait_for(ka, name, "RUNNING")
    assert detail(ka, name)["InputDescriptions"][0]["InputStartingPositionConfiguration"] == {"InputStartingPosition": "NOW"}
    with pytest.raises(ClientError) as excinfo:  # already running
        ka.start_application(**start)
    assert error_code(excinfo) == "ResourceInUseException"

    # A running application can be deleted directly.
    deleted = time.monotonic()
    ka.delete_application(ApplicationName=name, CreateTimestamp=created_at)
    if time.monotonic() - deleted < TRANSITION / 2:
        with pytest.raises(ClientError) as excinfo:  # the name is taken until it is gone
            ka.create_application(ApplicationName=name)
        assert error_code(excinfo) == "ResourceInUseException"
    wait_for(ka, name, None)
    ka.create_application(ApplicationName=name)  # free again
    assert detail(ka, name)["ApplicationVersionId"] == 1


def test_list_applications_pages(endpoint):
    # A region of its own, so that other tests' applications don't count.
    ka = boto3.client("kinesisanalytics", endpoint_url=endpoint, region_name="eu-west-3",
                      aws_access_key_id="testing", aws_secret_access_key="testing",
                      config=Config(retries={"max_attempts": 1}))
    empty = ka.list_applications()
    assert (empty["ApplicationSummaries"], empty["HasMoreApplications"]) == ([], False)
    for n in ("c-app", "a-app", "b-app"):
        ka.create_application(ApplicationName=n)
    exact = ka.list_applications(Limit=3)
    assert (len(exact["ApplicationSummaries"]), exact["HasMoreApplications"]) == (3, False)
    first = ka.list_applications(Limit=2)
    assert [a["ApplicationName"] for a in first["ApplicationSummaries"]] == ["a-app", "b-app"]
    assert first["HasMoreApplications"] is True
    rest = ka.list_applications(Limit=2, ExclusiveStartApplicationName="b-app")
    assert rest["ApplicationSummaries"] == [{
        "ApplicationName": "c-app",
        "ApplicationARN": f"arn:aws:kinesisanalytics:eu-west-3:{ACCOUNT}:application/c-app",
        "ApplicationStatus": "READY",
    }]
    assert rest["HasMoreApplications"] is False
    # Not visible from another region.
    other = boto3.client("kinesisanalytics", endpoint_url=endpoint, region_name="eu-north-1",
                         aws_access_key_id="testing", aws_secret_access_key="testing")
    assert other.list_applications()["ApplicationSummaries"] == []


def test_tags(client, name):
    ka = client("kinesisanalytics")
    arn = ka.create_application(ApplicationName=name, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])[
        "ApplicationSummary"]["ApplicationARN"]
    ka.tag_resource(ResourceARN=arn, Tags=[{"Key": "b", "Value": "20"}, {"Key": "c", "Value": ""}])
    ka.untag_resource(ResourceARN=arn, TagKeys=["a", "missing"])
    assert ka.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "b", "Value": "20"}, {"Key": "c", "Value": ""}]
    assert detail(ka, name)["ApplicationVersionId"] == 1  # tags are not configuration

    with pytest.raises(ClientError) as excinfo:
        ka.tag_resource(ResourceARN=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
    assert error_code(excinfo) == "TooManyTagsException"
    with pytest.raises(ClientError) as excinfo:
        ka.list_tags_for_resource(ResourceARN=arn + "-missing")
    assert error_code(excinfo) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        ka.list_tags_for_resource(ResourceARN=f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}")
    assert error_code(excinfo) == "InvalidArgumentException"
    with pytest.raises(ClientError) as excinfo:
        ka.create_application(ApplicationName=name + "x", Tags=[{"Key": f"k{i}"} for i in range(51)])
    assert error_code(excinfo) == "TooManyTagsException"


def test_limits_and_duplicates(client, name, world):
    ka = client("kinesisanalytics")
    with pytest.raises(ClientError) as excinfo:
        ka.create_application(ApplicationName=name, Inputs=[an_input(world), an_input(world, "OTHER")])
    assert error_code(excinfo) == "InvalidArgumentException"
    with pytest.raises(ClientError) as excinfo:
        ka.create_application(ApplicationName=name, Outputs=[an_output(world, f"O{i}") for i in range(4)])
    assert error_code(excinfo) == "InvalidArgumentException"

    ka.create_application(ApplicationName=name, Outputs=[an_output(world, f"O{i}") for i in range(3)])
    with pytest.raises(ClientError) as excinfo:
        ka.create_application(ApplicationName=name)
    assert error_code(excinfo) == "ResourceInUseException"
    with pytest.raises(ClientError) as excinfo:
        ka.add_application_output(ApplicationName=name, CurrentApplicationVersionId=1, Output=an_output(world, "O4"))
    assert error_code(excinfo) == "InvalidArgumentException"
    ka.add_application_reference_data_source(ApplicationName=name, CurrentApplicationVersionId=1,
                                             ReferenceDataSource=a_reference(world))
    with pytest.raises(ClientError) as excinfo:
        ka.add_application_reference_data_source(ApplicationName=name, CurrentApplicationVersionId=2,
                                                 ReferenceDataSource=a_reference(world, "OTHER"))
    assert error_code(excinfo) == "InvalidArgumentException"
    assert detail(ka, name)["ApplicationVersionId"] == 2

    for call in (
        lambda: detail(ka, name + "-missing"),
        lambda: ka.update_application(ApplicationName=name + "-missing", CurrentApplicationVersionId=1,
                                      ApplicationUpdate={"ApplicationCodeUpdate": ""}),
        lambda: ka.stop_application(ApplicationName=name + "-missing"),
        lambda: ka.delete_application(ApplicationName=name + "-missing", CreateTimestamp=datetime.datetime.now()),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_code(excinfo) == "ResourceNotFoundException"


def _invalid_inputs(world: World) -> list[tuple[str, dict]]:
    base = an_input(world)
    schema = JSON_SCHEMA
    csv_as_json = CSV_SCHEMA["RecordFormat"] | {"RecordFormatType": "JSON"}
    not_a_role = {"ResourceARN": world.source, "RoleARN": "arn:aws:s3:::x"}
    return [
        ("no RecordColumns", {**base, "InputSchema": {"RecordFormat": schema["RecordFormat"]}}),
        ("empty RecordColumns", {**base, "InputSchema": {**schema, "RecordColumns": []}}),
        ("JSON column without Mapping",
         {**base, "InputSchema": {**schema, "RecordColumns": [{"Name": "a", "SqlType": "INT"}]}}),
        ("unknown format", {**base, "InputSchema": {**schema, "RecordFormat": {"RecordFormatType": "XML"}}}),
        ("CSV mapping for JSON", {**base, "InputSchema": {**schema, "RecordFormat": csv_as_json}}),
        ("bad encoding", {**base, "InputSchema": {**schema, "RecordEncoding": "UTF-16"}}),
        ("no source", {k: v for k, v in base.items() if k != "KinesisStreamsInput"}),
        ("two sources", {**base, "KinesisFirehoseInput": {"ResourceARN": world.source, "RoleARN": world.role}}),
        ("parallelism 65", {**base, "InputParallelism": {"Count": 65}}),
        ("prefix too long", {**base, "NamePrefix": "P" * 33}),
        ("role not a role ARN", {**base, "KinesisStreamsInput": not_a_role}),
        ("no schema", {k: v for k, v in base.items() if k != "InputSchema"}),
    ]


def test_validation_errors(client, name, world):
    ka = client("kinesisanalytics", validate=False)  # what an unchecked SDK would send
    for label, bad in _invalid_inputs(world):
        with pytest.raises(ClientError) as excinfo:
            ka.create_application(ApplicationName=name, Inputs=[bad])
        assert error_code(excinfo) == "InvalidArgumentException", label
    for bad_name in ("has space", "x" * 129, "", "slash/name"):
        with pytest.raises(ClientError) as excinfo:
            ka.create_application(ApplicationName=bad_name)
        assert error_code(excinfo) == "InvalidArgumentException", bad_name
    for label, kwargs in (
        ("description too long", {"ApplicationDescription": "d" * 1025}),
        ("output without destination", {"Outputs": [{"Name": "O", "DestinationSchema": {"RecordFormatType": "JSON"}}]}),
        ("output without schema", {"Outputs": [{k: v for k, v in an_output(world).items() if k != "DestinationSchema"}]}),
        ("reserved tag", {"Tags": [{"Key": "aws:x", "Value": "1"}]}),
    ):
        with pytest.raises(ClientError) as excinfo:
            ka.create_application(ApplicationName=name, **kwargs)
        assert error_code(excinfo) == "InvalidArgumentException", label
    # Nothing was created by any of these.
    with pytest.raises(ClientError) as excinfo:
        detail(ka, name)
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_referenced_resources_must_exist(client, name, world):
    ka = client("kinesisanalytics")
    missing_stream = world.source + "-missing"
    lambda_only = client("iam").create_role(
        RoleName=f"{name}-lambda-only",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
    )["Role"]["Arn"]
    cases = [
        ({"Inputs": [{**an_input(world), "KinesisStreamsInput": {"ResourceARN": missing_stream, "RoleARN": world.role}}]},
         "does not exist"),
        ({"Outputs": [an_output(world, sink=missing_stream)]}, "does not exist"),
        ({"Inputs": [{**an_input(world), "KinesisStreamsInput": {"ResourceARN": world.source, "RoleARN": lambda_only}}]},
         "sufficient privileges"),
        ({"Outputs": [{**an_output(world), "KinesisStreamsOutput": {
            "ResourceARN": world.sink, "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/{name}-nobody"}}]}, "sufficient privileges"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ClientError) as excinfo:
            ka.create_application(ApplicationName=name, **kwargs)
        assert error_code(excinfo) == "InvalidArgumentException"
        assert message in excinfo.value.response["Error"]["Message"]

    ka.create_application(ApplicationName=name)
    for reference in (
        {**a_reference(world), "S3ReferenceDataSource": {**a_reference(world)["S3ReferenceDataSource"], "FileKey": "nope.csv"}},
        {**a_reference(world), "S3ReferenceDataSource": {**a_reference(world)["S3ReferenceDataSource"],
                                                         "BucketARN": f"arn:aws:s3:::{name}-nope"}},
    ):
        with pytest.raises(ClientError) as excinfo:
            ka.add_application_reference_data_source(ApplicationName=name, CurrentApplicationVersionId=1,
                                                     ReferenceDataSource=reference)
        assert error_code(excinfo) == "InvalidArgumentException"
        assert "validity of S3 location" in excinfo.value.response["Error"]["Message"]
    assert detail(ka, name)["ApplicationVersionId"] == 1


def test_v2_calls_still_reach_moto(client, name):
    v2 = client("kinesisanalyticsv2")
    role = client("iam").create_role(RoleName=f"{name}-v2", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    created = v2.create_application(ApplicationName=name, RuntimeEnvironment="FLINK-1_18", ServiceExecutionRole=role)
    assert created["ApplicationDetail"]["ApplicationARN"].endswith(f":application/{name}")
    assert v2.describe_application(ApplicationName=name)["ApplicationDetail"]["RuntimeEnvironment"] == "FLINK-1_18"
    assert name in [a["ApplicationName"] for a in v2.list_applications()["ApplicationSummaries"]]

    ka = client("kinesisanalytics")
    assert name not in [a["ApplicationName"] for a in ka.list_applications(Limit=50)["ApplicationSummaries"]]
    with pytest.raises(ClientError) as excinfo:
        detail(ka, name)
    assert error_code(excinfo) == "UnsupportedOperationException"
    with pytest.raises(ClientError) as excinfo:  # one namespace for both APIs
        ka.create_application(ApplicationName=name)
    assert error_code(excinfo) == "ResourceInUseException"


def test_unknown_and_unsupported_operations(endpoint):
    def call(target: str, body: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(
            endpoint + "/", data=json.dumps(body or {}).encode(), method="POST",
            headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1",
                     "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/kinesisanalytics/aws4_request, "
                                      "SignedHeaders=host, Signature=0"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    assert call("KinesisAnalytics_20150814.DiscoverInputSchema") == (
        400, {"__type": "UnsupportedOperationException", "message": "DiscoverInputSchema is not supported by the local emulator."})
    assert call("KinesisAnalytics_20150814.Bogus")[1]["__type"] == "UnknownOperationException"
    status, body = call("KinesisAnalytics_20150814.ListApplications")
    assert status == 200 and set(body) == {"ApplicationSummaries", "HasMoreApplications"}
    # A JSON type mismatch (an SDK that does not check types could send it).
    status, body = call("KinesisAnalytics_20150814.CreateApplication", {"ApplicationName": "x", "Inputs": "not a list"})
    assert (status, body["__type"]) == (400, "SerializationException")


def test_without_transition_delay_and_reset(tmp_path, monkeypatch):
    """KINESISANALYTICS_V1_TRANSITION_SECONDS=0: no intermediate statuses. /moto-api/reset
    empties the v1 store too (in an emulator of its own)."""
    monkeypatch.setenv("KINESISANALYTICS_V1_TRANSITION_SECONDS", "0")
    launched = launch(tmp_path / "log.txt")
    try:
        def make(service: str):
            return boto3.client(service, endpoint_url=launched.endpoint, region_name="us-east-1",
                                aws_access_key_id="testing", aws_secret_access_key="testing")

        ka, iam, kinesis = make("kinesisanalytics"), make("iam"), make("kinesis")
        role = iam.create_role(RoleName="ka", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        kinesis.create_stream(StreamName="s", ShardCount=1)
        stream = kinesis.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamARN"]
        ka.create_application(ApplicationName="quick")
        ka.add_application_input(ApplicationName="quick", CurrentApplicationVersionId=1, Input={
            "NamePrefix": "S", "InputSchema": CSV_SCHEMA, "KinesisStreamsInput": {"ResourceARN": stream, "RoleARN": role}})
        ka.start_application(ApplicationName="quick", InputConfigurations=[
            {"Id": "2.1", "InputStartingPositionConfiguration": {"InputStartingPosition": "NOW"}}])
        assert detail(ka, "quick")["ApplicationStatus"] == "RUNNING"
        ka.stop_application(ApplicationName="quick")
        assert detail(ka, "quick")["ApplicationStatus"] == "READY"
        ka.delete_application(ApplicationName="quick", CreateTimestamp=detail(ka, "quick")["CreateTimestamp"])
        with pytest.raises(ClientError) as excinfo:
            detail(ka, "quick")
        assert error_code(excinfo) == "ResourceNotFoundException"

        ka.create_application(ApplicationName="kept")
        urllib.request.urlopen(urllib.request.Request(launched.endpoint + "/moto-api/reset", method="POST"), timeout=5)
        assert ka.list_applications()["ApplicationSummaries"] == []
    finally:
        assert launched.stop() == 0
