"""The realism layer (``extensions/realism.py``): each class of fault is injected with AWS's
code, status and message while it should be, and stops once the moment has passed."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError

from conftest import LAMBDA_TRUST, make_zip

ACCOUNT = "123456789012"


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_of(call: Callable[[], object]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as excinfo:
        call()
    error = excinfo.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"].get("Message", "")


def eventually(call: Callable[[], object], timeout: float = 15.0) -> object:
    """Calls until it stops raising ClientError (the moment has passed)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def injected(endpoint: str) -> dict:
    with urllib.request.urlopen(f"{endpoint}/_emulator/realism", timeout=5) as response:
        return json.loads(response.read())["injected"]


def make_role(client, name: str, trust: str = LAMBDA_TRUST) -> str:
    return client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]


def make_function(client, name: str, role: str) -> dict:
    return client("lambda").create_function(
        FunctionName=name, Runtime="provided.al2023", Handler="bootstrap", Architectures=["arm64"],
        Role=role, Code={"ZipFile": make_zip()}, MemorySize=256, Timeout=30,
    )


def test_realism_is_off_unless_turned_on(endpoint, client):
    with urllib.request.urlopen(f"{endpoint}/_emulator/realism", timeout=5) as response:
        settings = json.loads(response.read())
    assert settings["enabled"] is False
    name = fresh("off")
    client("kinesis").create_stream(StreamName=name, ShardCount=1)
    summary = client("kinesis").describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "ACTIVE"


def test_unknown_settings_are_refused(endpoint):
    request = urllib.request.Request(
        f"{endpoint}/_emulator/realism", data=b'{"classes": ["nope"]}', method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=5)
    assert excinfo.value.code == 400


# ------------------------------------------------------------------------------ iam


def test_a_new_role_is_refused_by_lambda_until_it_propagates(endpoint, client, realism):
    realism(classes=["iam"], iam_seconds=1.0)
    role = make_role(client, fresh("fn-role"))
    name = fresh("fn")
    code, status, message = error_of(lambda: make_function(client, name, role))
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message == "The role defined for the function cannot be assumed by Lambda."
    eventually(lambda: make_function(client, name, role))
    assert injected(endpoint)["iam"]["Lambda.CreateFunction InvalidParameterValueException"] >= 1


def test_a_changed_role_policy_is_refused_by_the_event_source_mapping(endpoint, client, realism, stream_arn):
    realism(classes=["iam"], iam_seconds=1.0)
    role_name = fresh("esm-role")
    role = make_role(client, role_name)
    name = fresh("fn")
    eventually(lambda: make_function(client, name, role))
    client("iam").put_role_policy(RoleName=role_name, PolicyName="read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}]}))
    create = lambda: client("lambda").create_event_source_mapping(  # noqa: E731
        EventSourceArn=stream_arn, FunctionName=name, StartingPosition="TRIM_HORIZON")
    code, status, message = error_of(create)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "does not have permissions to call GetRecords on Kinesis" in message
    eventually(create)


def test_firehose_dms_and_analytics_refuse_a_propagating_role(endpoint, client, realism):
    realism(classes=["iam"], iam_seconds=2.0)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": ["firehose.amazonaws.com", "dms.amazonaws.com", "kinesisanalytics.amazonaws.com"]},
        "Action": "sts:AssumeRole"}]})
    role = make_role(client, fresh("svc-role"), trust)
    stream = fresh("src")
    client("kinesis").create_stream(StreamName=stream, ShardCount=1)
    stream_arn = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{stream}"

    code, status, message = error_of(lambda: client("firehose").create_delivery_stream(
        DeliveryStreamName=fresh("lake"), DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": role},
        ExtendedS3DestinationConfiguration={"RoleARN": role, "BucketARN": "arn:aws:s3:::lake"}))
    assert (code, status) == ("InvalidArgumentException", 400)
    assert message == f"Firehose is unable to assume role {role}. Please check the role provided."

    code, _, message = error_of(lambda: client("dms").create_endpoint(
        EndpointIdentifier=fresh("tgt"), EndpointType="target", EngineName="kinesis",
        KinesisSettings={"StreamArn": stream_arn, "MessageFormat": "json", "ServiceAccessRoleArn": role}))
    assert code == "AccessDeniedFault" and role in message

    code, _, message = error_of(lambda: client("kinesisanalytics").create_application(
        ApplicationName=fresh("app"), Inputs=[{
            "NamePrefix": "SOURCE_SQL_STREAM",
            "KinesisStreamsInput": {"ResourceARN": stream_arn, "RoleARN": role},
            "InputSchema": {"RecordFormat": {"RecordFormatType": "JSON", "MappingParameters": {
                "JSONMappingParameters": {"RecordRowPath": "$"}}},
                "RecordColumns": [{"Name": "a", "SqlType": "INTEGER", "Mapping": "$.a"}]}}]))
    assert code == "InvalidArgumentException"
    assert "Kinesis Analytics service doesn't have sufficient privileges to assume the role" in message
    counts = injected(endpoint)["iam"]
    assert counts["Firehose.CreateDeliveryStream InvalidArgumentException"] == 1
    assert counts["DMS.CreateEndpoint AccessDeniedFault"] == 1
    assert counts["KinesisAnalytics.CreateApplication InvalidArgumentException"] == 1


# ------------------------------------------------------------------------------ lag


def test_a_new_table_is_not_found_for_a_moment(endpoint, client, realism):
    realism(classes=["lag"], lag_seconds=1.0)
    ddb = client("dynamodb")
    name = fresh("tbl")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
    code, status, message = error_of(lambda: ddb.describe_table(TableName=name))
    assert (code, status) == ("ResourceNotFoundException", 400)
    assert message == f"Requested resource not found: Table: {name} not found"
    assert eventually(lambda: ddb.describe_table(TableName=name))["Table"]["TableStatus"] == "ACTIVE"


def test_a_new_function_is_not_found_for_a_moment(endpoint, client, realism, role_arn):
    realism(classes=["lag"], lag_seconds=1.0)
    name = fresh("fn")
    make_function(client, name, role_arn)
    code, status, message = error_of(lambda: client("lambda").get_function(FunctionName=name))
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert message.startswith("Function not found: arn:aws:lambda:us-east-1:")
    eventually(lambda: client("lambda").get_function_configuration(FunctionName=name))


def test_a_new_buckets_sub_resources_are_no_such_bucket_for_a_moment(endpoint, client, realism):
    realism(classes=["lag"], lag_seconds=1.0)
    s3 = client("s3")
    bucket = fresh("bkt")
    s3.create_bucket(Bucket=bucket)
    tag = lambda: s3.put_bucket_tagging(  # noqa: E731
        Bucket=bucket, Tagging={"TagSet": [{"Key": "unifiedetl:pipeline", "Value": "p"}]})
    code, status, _ = error_of(tag)
    assert (code, status) == ("NoSuchBucket", 404)
    eventually(tag)
    assert injected(endpoint)["lag"]["S3 bucket sub-resource NoSuchBucket"] >= 1


# ------------------------------------------------------------------------------ states


def test_a_stream_is_creating_then_updating_and_refuses_changes_meanwhile(endpoint, client, realism):
    realism(classes=["states", "lag"], state_seconds=1.0, lag_seconds=0.5)
    kinesis = client("kinesis")
    name = fresh("cdc")
    kinesis.create_stream(StreamName=name, ShardCount=1, StreamModeDetails={"StreamMode": "PROVISIONED"})
    status = lambda: kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"]  # noqa: E731
    assert status() == "CREATING"
    encrypt = lambda: kinesis.start_stream_encryption(  # noqa: E731
        StreamName=name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    code, _, message = error_of(encrypt)
    assert code == "ResourceInUseException"
    assert message == f"Stream {name} under account {ACCOUNT} not ACTIVE, instead in state CREATING"
    while status() != "ACTIVE":
        time.sleep(0.1)
    # Read ACTIVE, yet still refused for a moment (the lag class).
    assert error_of(encrypt)[0] == "ResourceInUseException"
    eventually(encrypt)
    assert status() == "UPDATING"
    counts = injected(endpoint)
    assert counts["lag"]["Kinesis.StartStreamEncryption ResourceInUseException"] >= 1
    assert counts["states"]["Kinesis.StartStreamEncryption ResourceInUseException"] >= 1


def test_a_table_is_creating_then_updating(endpoint, client, realism):
    realism(classes=["states"], state_seconds=1.0)
    ddb = client("dynamodb")
    name = fresh("tbl")
    created = ddb.create_table(TableName=name, BillingMode="PROVISIONED",
                               ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
                               AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                               KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
    assert created["TableDescription"]["TableStatus"] == "CREATING"
    update = lambda: ddb.update_table(  # noqa: E731
        TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 2, "WriteCapacityUnits": 2})
    code, _, message = error_of(update)
    assert code == "ResourceInUseException" and "Table is being created" in message
    eventually(update)
    assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "UPDATING"


def test_a_new_tables_backups_are_being_enabled_for_a_while_after_it_is_active(endpoint, client, realism):
    realism(classes=["states"], state_seconds=1.0)
    ddb = client("dynamodb")
    name = fresh("tbl")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
    until(lambda: ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE")
    enable = lambda: ddb.update_continuous_backups(  # noqa: E731
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    code, status, message = error_of(enable)
    assert (code, status, message) == (
        "ContinuousBackupsUnavailableException", 400, "Backups are being enabled for the table")
    eventually(enable)
    described = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert described["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert injected(endpoint)["states"]["DynamoDB.UpdateContinuousBackups ContinuousBackupsUnavailableException"] >= 1


def test_a_function_is_pending_then_in_progress_and_a_second_update_conflicts(endpoint, client, realism, role_arn):
    realism(classes=["states"], state_seconds=1.0)
    lam = client("lambda")
    name = fresh("fn")
    assert make_function(client, name, role_arn)["State"] == "Pending"
    assert lam.get_function(FunctionName=name)["Configuration"]["State"] == "Pending"
    update = lambda: lam.update_function_configuration(FunctionName=name, MemorySize=512)  # noqa: E731
    code, status, message = error_of(update)
    assert (code, status) == ("ResourceConflictException", 409)
    assert message.endswith("The function is currently in the following state: Pending")
    assert eventually(update)["LastUpdateStatus"] == "InProgress"
    code, status, message = error_of(lambda: lam.update_function_configuration(FunctionName=name, Timeout=60))
    assert (code, status) == ("ResourceConflictException", 409)
    assert "An update is in progress for resource: arn:aws:lambda:" in message
    # A version is a snapshot of a settled function: publishing waits for the update too.
    code, status, message = error_of(lambda: lam.publish_version(FunctionName=name))
    assert (code, status) == ("ResourceConflictException", 409)
    assert "An update is in progress for resource: arn:aws:lambda:" in message
    eventually(lambda: lam.update_function_configuration(FunctionName=name, Timeout=60))
    assert eventually(lambda: lam.publish_version(FunctionName=name))["Timeout"] == 60


def test_a_mapping_is_creating_updating_and_deleting(endpoint, client, realism, function, stream_arn):
    realism(classes=["states"], state_seconds=1.0)
    lam = client("lambda")
    created = lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName=function["FunctionName"],
                                              StartingPosition="LATEST")
    uuid_ = created["UUID"]
    assert created["State"] == "Creating"
    update = lambda: lam.update_event_source_mapping(UUID=uuid_, BatchSize=50)  # noqa: E731
    code, _, message = error_of(update)
    assert code == "ResourceInUseException"
    assert eventually(update)["State"] == "Updating"
    assert lam.get_event_source_mapping(UUID=uuid_)["State"] == "Updating"
    delete = lambda: lam.delete_event_source_mapping(UUID=uuid_)  # noqa: E731
    assert eventually(delete)["State"] == "Deleting"
    assert lam.get_event_source_mapping(UUID=uuid_)["State"] == "Deleting"
    time.sleep(1.1)
    assert error_of(lambda: lam.get_event_source_mapping(UUID=uuid_))[0] == "ResourceNotFoundException"


# ------------------------------------------------------------------------------ account, dms


def _vpc_role(client) -> None:
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "dms.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    try:
        client("iam").create_role(RoleName="dms-vpc-role", AssumeRolePolicyDocument=trust)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "EntityAlreadyExists"


def test_dms_needs_the_dms_vpc_role(endpoint, client, realism):
    realism(classes=["account", "iam"], iam_seconds=1.0)
    dms = client("dms")
    create = lambda: dms.create_replication_subnet_group(  # noqa: E731
        ReplicationSubnetGroupIdentifier=fresh("sg"), ReplicationSubnetGroupDescription="d",
        SubnetIds=["subnet-0a1", "subnet-0b2"])
    try:
        client("iam").get_role(RoleName="dms-vpc-role")
    except ClientError:
        code, status, message = error_of(create)
        assert (code, status) == ("AccessDeniedFault", 400)
        assert message == f"The IAM Role arn:aws:iam::{ACCOUNT}:role/dms-vpc-role is not configured properly."
        _vpc_role(client)
        # Just made: still propagating.
        assert error_of(create)[0] == "AccessDeniedFault"
    eventually(create)


def _instance_and_source(client, host: str) -> tuple[str, str]:
    """An instance (in its subnet group) and a MySQL source endpoint on ``host``: their ARNs."""
    _vpc_role(client)
    dms = client("dms")
    group = fresh("sg")
    dms.create_replication_subnet_group(ReplicationSubnetGroupIdentifier=group, ReplicationSubnetGroupDescription="d",
                                        SubnetIds=["subnet-0a1", "subnet-0b2"])
    instance = dms.create_replication_instance(
        ReplicationInstanceIdentifier=fresh("ri"), ReplicationInstanceClass="dms.t3.micro",
        ReplicationSubnetGroupIdentifier=group)["ReplicationInstance"]["ReplicationInstanceArn"]
    source = dms.create_endpoint(EndpointIdentifier=fresh("src"), EndpointType="source", EngineName="mysql",
                                 ServerName=host, Port=3306, Username="u", Password="p")
    return instance, source["Endpoint"]["EndpointArn"]


def test_a_task_starts_only_after_both_connections_tested(endpoint, client, realism):
    realism(classes=["dms"])
    dms = client("dms")
    instance, source_arn = _instance_and_source(client, "db.example.com")
    target = dms.create_endpoint(
        EndpointIdentifier=fresh("tgt"), EndpointType="target", EngineName="kinesis",
        KinesisSettings={"StreamArn": f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/s", "MessageFormat": "json",
                         "ServiceAccessRoleArn": f"arn:aws:iam::{ACCOUNT}:role/r"})
    target_arn = target["Endpoint"]["EndpointArn"]
    eventually(lambda: dms.test_connection(ReplicationInstanceArn=instance, EndpointArn=source_arn))
    task = eventually(lambda: dms.create_replication_task(
        ReplicationTaskIdentifier=fresh("task"), SourceEndpointArn=source_arn, TargetEndpointArn=target_arn,
        ReplicationInstanceArn=instance, MigrationType="cdc", TableMappings=json.dumps({"rules": [{
            "rule-type": "selection", "rule-id": "1", "rule-name": "1",
            "object-locator": {"schema-name": "s", "table-name": "%"}, "rule-action": "include"}]})))
    task_arn = task["ReplicationTask"]["ReplicationTaskArn"]
    start = lambda: dms.start_replication_task(  # noqa: E731
        ReplicationTaskArn=task_arn, StartReplicationTaskType="start-replication")
    until(lambda: dms.describe_replication_tasks(Filters=[
        {"Name": "replication-task-arn", "Values": [task_arn]}])["ReplicationTasks"][0]["Status"] == "ready")
    code, _, message = error_of(start)
    assert code == "InvalidResourceStateFault"
    assert "and endpoint" in message and "should be successful for starting the replication task" in message
    dms.test_connection(ReplicationInstanceArn=instance, EndpointArn=target_arn)
    statuses = {c["Status"] for c in dms.describe_connections(
        Filters=[{"Name": "replication-instance-arn", "Values": [instance]}])["Connections"]}
    assert statuses <= {"testing", "successful"}
    eventually(start)


def test_a_connection_test_of_an_unresolvable_host_fails_with_dms_message(endpoint, client, realism):
    realism(classes=["dms"])
    dms = client("dms")
    instance, arn = _instance_and_source(client, "db.orders.invalid")
    eventually(lambda: dms.test_connection(ReplicationInstanceArn=instance, EndpointArn=arn))
    deadline = time.monotonic() + 10
    while True:
        (connection,) = dms.describe_connections(Filters=[{"Name": "endpoint-arn", "Values": [arn]}])["Connections"]
        if connection["Status"] != "testing" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert connection["Status"] == "failed"
    assert "Unknown MySQL server host 'db.orders.invalid'" in connection["LastFailureMessage"]


# ------------------------------------------------------------------------------ s3, throttle


def test_a_bucket_name_is_taken_for_a_moment_after_delete(endpoint, client, realism):
    realism(classes=["s3"], s3_seconds=1.0)
    s3 = client("s3")
    bucket = fresh("bkt")
    s3.create_bucket(Bucket=bucket)
    s3.delete_bucket(Bucket=bucket)
    code, status, message = error_of(lambda: s3.create_bucket(Bucket=bucket))
    assert (code, status) == ("OperationAborted", 409)
    assert message.startswith("A conflicting conditional operation is currently in progress")
    eventually(lambda: s3.create_bucket(Bucket=bucket))


def test_a_seeded_share_of_control_plane_calls_is_throttled(endpoint, client, realism):
    def run() -> list[str]:
        realism(classes=["throttle"], throttle_rate=0.3, seed=7)
        outcomes = []
        for _ in range(40):
            try:
                client("kinesis").list_streams()
                outcomes.append("ok")
            except ClientError as error:
                outcomes.append(error.response["Error"]["Code"])
        return outcomes

    first = run()
    assert set(first) == {"ok", "LimitExceededException"}
    assert run() == first  # seeded: the same calls, the same answers
    assert error_of(lambda: [client("iam").list_roles() for _ in range(40)])[0] == "Throttling"
    # Records are never throttled.
    name = fresh("data")
    eventually(lambda: client("kinesis").create_stream(StreamName=name, ShardCount=1))
    for _ in range(30):
        client("kinesis").put_record(StreamName=name, Data=b"x", PartitionKey="k")


def test_an_outage_fails_the_named_operations_until_it_ends(endpoint, client, realism):
    realism(classes=[], outage=["Lambda.CreateEventSourceMapping", "S3.PutBucketEncryption"])
    s3 = client("s3")
    bucket = fresh("bkt")
    s3.create_bucket(Bucket=bucket)
    encrypt = lambda: s3.put_bucket_encryption(  # noqa: E731
        Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    code, status, _ = error_of(encrypt)
    assert (code, status) == ("InternalError", 500)
    assert injected(endpoint)["outage"]["S3.PutBucketEncryption"] >= 1
    realism(classes=[], outage=[])
    encrypt()


def test_a_denied_operation_answers_access_denied_naming_the_action_and_resource(endpoint, client, realism):
    realism(classes=[], deny=["Kinesis.DescribeStreamSummary", "IAM.CreateRole"])
    kinesis = client("kinesis")
    name = fresh("denied")
    kinesis.create_stream(StreamName=name, ShardCount=1)  # not denied
    code, status, message = error_of(lambda: kinesis.describe_stream_summary(StreamName=name))
    assert (code, status) == ("AccessDeniedException", 400)
    assert message == (
        "User: arn:aws:iam::123456789012:user/moto is not authorized to perform: "
        f"kinesis:DescribeStreamSummary on resource: arn:aws:kinesis:us-east-1:123456789012:stream/{name} "
        "because no identity-based policy allows the kinesis:DescribeStreamSummary action")
    code, status, message = error_of(lambda: client("iam").create_role(
        RoleName=fresh("r"), AssumeRolePolicyDocument="{}"))
    assert (code, status) == ("AccessDenied", 403)
    assert "is not authorized to perform: iam:CreateRole" in message
    assert injected(endpoint)["credentials"]["Kinesis.DescribeStreamSummary"] == 1
    realism(classes=[], deny=[])
    kinesis.describe_stream_summary(StreamName=name)


def test_expired_credentials_are_refused_by_every_service(endpoint, client, realism):
    realism(classes=[], expired_token=True)
    code, status, message = error_of(lambda: client("sts").get_caller_identity())
    assert (code, status, message) == ("ExpiredToken", 403, "The security token included in the request is expired")
    code, status, _ = error_of(lambda: client("kinesis").list_streams())
    assert (code, status) == ("ExpiredTokenException", 400)
    code, status, _ = error_of(lambda: client("lambda").list_functions())
    assert (code, status) == ("ExpiredTokenException", 403)
    realism(classes=[], expired_token=False)
    client("sts").get_caller_identity()


def test_settle_ends_every_transition_in_progress(endpoint, client, realism):
    realism(classes=["states"], state_seconds=600)
    kinesis = client("kinesis")
    name = fresh("slow")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    status = lambda: kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"]  # noqa: E731
    assert status() == "CREATING"
    realism(settle=True)
    assert status() == "ACTIVE"
