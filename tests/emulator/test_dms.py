"""Database Migration Service calls made by the provider: subnet groups, replication instances,
MySQL source and Kinesis target endpoints, replication tasks and their lifecycle, tags."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError

from extensions import dms as dms_extension

ACCOUNT = "123456789012"
STREAM_ARN = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/orders"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/dms-kinesis"
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:orders-db-AbCdEf"
SECRET = {"SecretsManagerSecretId": SECRET_ARN, "SecretsManagerAccessRoleArn": ROLE_ARN}
KINESIS = {"StreamArn": STREAM_ARN, "MessageFormat": "json", "ServiceAccessRoleArn": ROLE_ARN}
TEAM_TAG = [{"Key": "team", "Value": "etl"}]
MAPPINGS = json.dumps(
    {
        "rules": [
            {
                "rule-type": "selection",
                "rule-id": "1",
                "rule-name": "orders",
                "object-locator": {"schema-name": "orders", "table-name": "%"},
                "rule-action": "include",
            }
        ]
    }
)


def error_code(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def fresh(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wait_for(read: Callable[[], str], wanted: str, allowed: set[str], timeout: float = 10.0) -> list[str]:
    """Polls ``read`` until it answers ``wanted``; every status seen on the way must be in
    ``allowed``. Returns the statuses seen, in order (repeats dropped)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = read()
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == wanted:
            return seen
        assert status in allowed, f"unexpected status {status!r} (seen {seen})"
        time.sleep(0.03)
    raise AssertionError(f"still not {wanted!r} after {timeout}s (seen {seen})")


def gone(read: Callable[[], object], timeout: float = 10.0) -> None:
    """Polls until ``read`` raises ResourceNotFoundFault."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            read()
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ResourceNotFoundFault"
            return
        time.sleep(0.03)
    raise AssertionError(f"still there after {timeout}s")


# ------------------------------------------------------------------------------ readers


def describe_instance(dms, arn: str) -> dict:
    found = dms.describe_replication_instances(Filters=[{"Name": "replication-instance-arn", "Values": [arn]}])
    (instance,) = found["ReplicationInstances"]
    return instance


def describe_endpoint(dms, arn: str) -> dict:
    (endpoint,) = dms.describe_endpoints(Filters=[{"Name": "endpoint-arn", "Values": [arn]}])["Endpoints"]
    return endpoint


def describe_task(dms, arn: str) -> dict:
    (task,) = dms.describe_replication_tasks(Filters=[{"Name": "replication-task-arn", "Values": [arn]}])[
        "ReplicationTasks"
    ]
    return task


def instance_status(dms, arn: str) -> Callable[[], str]:
    return lambda: describe_instance(dms, arn)["ReplicationInstanceStatus"]


def task_status(dms, arn: str) -> Callable[[], str]:
    return lambda: describe_task(dms, arn)["Status"]


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture
def dms(client):
    return client("dms")


def tags_of(dms, arn: str) -> list[tuple[str, str]]:
    tags = dms.list_tags_for_resource(ResourceArn=arn)["TagList"]
    assert all(t["ResourceArn"] == arn for t in tags)
    return sorted((t["Key"], t["Value"]) for t in tags)


def make_subnet_group(dms, identifier: str | None = None,
                      subnets: tuple[str, ...] = ("subnet-0a1", "subnet-0b2")) -> str:
    identifier = identifier or fresh("sg")
    dms.create_replication_subnet_group(
        ReplicationSubnetGroupIdentifier=identifier,
        ReplicationSubnetGroupDescription="orders pipeline",
        SubnetIds=list(subnets),
    )
    return identifier.lower()


def make_instance(dms, group: str, wait: bool = True, **extra) -> dict:
    created = dms.create_replication_instance(
        ReplicationInstanceIdentifier=extra.pop("ReplicationInstanceIdentifier", fresh("ri")),
        ReplicationInstanceClass=extra.pop("ReplicationInstanceClass", "dms.t3.micro"),
        ReplicationSubnetGroupIdentifier=group,
        **extra,
    )["ReplicationInstance"]
    if wait:
        wait_for(instance_status(dms, created["ReplicationInstanceArn"]), "available", {"creating"})
    return created


def mysql_endpoint(dms, **extra) -> dict:
    params = {
        "EndpointIdentifier": fresh("src"),
        "EndpointType": "source",
        "EngineName": "mysql",
        "ServerName": "orders.cluster-abc.us-east-1.rds.amazonaws.com",
        "Port": 3306,
        "Username": "dms",
        "Password": "s3cret-pw",
        **extra,
    }
    return dms.create_endpoint(**params)["Endpoint"]


def kinesis_endpoint(dms, **settings) -> dict:
    return dms.create_endpoint(
        EndpointIdentifier=fresh("tgt"),
        EndpointType="target",
        EngineName="kinesis",
        KinesisSettings={**KINESIS, **settings},
    )["Endpoint"]


@pytest.fixture(scope="module")
def shared(client):
    """One available instance (in its own subnet group) and a source and a target endpoint,
    shared by the task tests: creating an instance takes a transition delay each time."""
    dms = client("dms")
    group = make_subnet_group(dms)
    instance = make_instance(dms, group)
    return {
        "group": group,
        "instance": instance["ReplicationInstanceArn"],
        "source": mysql_endpoint(dms)["EndpointArn"],
        "target": kinesis_endpoint(dms)["EndpointArn"],
    }


class Pool:
    """Ready-made resources for tests that only need "a fresh available instance" or "a fresh
    ready task": made together on first use, so that they wait out one transition delay
    between them instead of one each."""

    INSTANCES = 3
    TASKS = 6

    def __init__(self, dms, shared) -> None:
        self.dms, self.shared = dms, shared
        self.instances: list[tuple[str, str]] | None = None
        self.tasks: list[dict] | None = None

    def instance(self) -> tuple[str, str]:
        """(instance ARN, its own subnet group)"""
        if self.instances is None:
            groups = [make_subnet_group(self.dms) for _ in range(self.INSTANCES)]
            made = [(make_instance(self.dms, g, wait=False)["ReplicationInstanceArn"], g) for g in groups]
            for arn, _ in made:
                wait_for(instance_status(self.dms, arn), "available", {"creating"})
            self.instances = made
        if self.instances:
            return self.instances.pop(0)
        group = make_subnet_group(self.dms)
        return make_instance(self.dms, group)["ReplicationInstanceArn"], group

    def task(self) -> dict:
        if self.tasks is None:
            made = [make_task(self.dms, self.shared, wait=False) for _ in range(self.TASKS)]
            for task in made:
                wait_for(task_status(self.dms, task["ReplicationTaskArn"]), "ready", {"creating"})
            self.tasks = made
        return self.tasks.pop(0) if self.tasks else make_task(self.dms, self.shared)


@pytest.fixture(scope="module")
def pool(client, shared) -> Pool:
    return Pool(client("dms"), shared)


def make_task(dms, shared, wait: bool = True, **extra) -> dict:
    params = {
        "ReplicationTaskIdentifier": fresh("task"),
        "SourceEndpointArn": shared["source"],
        "TargetEndpointArn": shared["target"],
        "ReplicationInstanceArn": shared["instance"],
        "MigrationType": "full-load-and-cdc",
        "TableMappings": MAPPINGS,
        **extra,
    }
    task = dms.create_replication_task(**params)["ReplicationTask"]
    if wait:
        wait_for(task_status(dms, task["ReplicationTaskArn"]), "ready", {"creating"})
    return task


def start(dms, arn: str, start_type: str = "start-replication") -> list[str]:
    answer = dms.start_replication_task(ReplicationTaskArn=arn, StartReplicationTaskType=start_type)
    assert answer["ReplicationTask"]["Status"] == "starting"
    return wait_for(task_status(dms, arn), "running", {"starting"})


def stop(dms, arn: str) -> list[str]:
    assert dms.stop_replication_task(ReplicationTaskArn=arn)["ReplicationTask"]["Status"] == "stopping"
    return wait_for(task_status(dms, arn), "stopped", {"stopping"})


# ------------------------------------------------------------------------------ delay setting


def test_transition_delay_setting(monkeypatch):
    monkeypatch.delenv(dms_extension.DELAY_ENV, raising=False)
    assert dms_extension.transition_delay() == 0.3
    monkeypatch.setenv(dms_extension.DELAY_ENV, "0")
    assert dms_extension.transition_delay() == 0
    monkeypatch.setenv(dms_extension.DELAY_ENV, "1.5")
    assert dms_extension.transition_delay() == 1.5
    monkeypatch.setenv(dms_extension.DELAY_ENV, "soon")
    assert dms_extension.transition_delay() == 0.3


# ------------------------------------------------------------------------------ subnet groups


def test_subnet_group_with_fake_subnets(dms):
    identifier = fresh("SG-Mixed")
    group = dms.create_replication_subnet_group(
        ReplicationSubnetGroupIdentifier=identifier,
        ReplicationSubnetGroupDescription="orders pipeline",
        SubnetIds=["subnet-0a1", "subnet-0b2"],
        Tags=TEAM_TAG,
    )["ReplicationSubnetGroup"]
    assert group["ReplicationSubnetGroupIdentifier"] == identifier.lower()  # stored lowercase
    assert group["SubnetGroupStatus"] == "Complete"
    assert [s["SubnetIdentifier"] for s in group["Subnets"]] == ["subnet-0a1", "subnet-0b2"]
    zones = {s["SubnetAvailabilityZone"]["Name"] for s in group["Subnets"]}
    assert len(zones) == 2 and all(z.startswith("us-east-1") for z in zones)
    assert group["VpcId"].startswith("vpc-")
    (described,) = dms.describe_replication_subnet_groups(
        Filters=[{"Name": "replication-subnet-group-id", "Values": [identifier]}]
    )["ReplicationSubnetGroups"]
    assert described == group
    arn = f"arn:aws:dms:us-east-1:{ACCOUNT}:subgrp:{identifier.lower()}"
    assert tags_of(dms, arn) == [("team", "etl")]


def test_subnet_group_with_emulated_ec2_subnets(client, dms):
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]

    def subnet(vpc_id: str, cidr: str, zone: str) -> str:
        return ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]

    def group_of(*subnets: str) -> dict:
        return dms.create_replication_subnet_group(
            ReplicationSubnetGroupIdentifier=fresh("sg"), ReplicationSubnetGroupDescription="d",
            SubnetIds=list(subnets),
        )["ReplicationSubnetGroup"]

    a = subnet(vpc, "10.42.1.0/24", "us-east-1a")
    b = subnet(vpc, "10.42.2.0/24", "us-east-1b")
    c = subnet(vpc, "10.42.3.0/24", "us-east-1a")
    group = group_of(a, b)
    assert group["VpcId"] == vpc
    assert {(s["SubnetIdentifier"], s["SubnetAvailabilityZone"]["Name"]) for s in group["Subnets"]} == {
        (a, "us-east-1a"),
        (b, "us-east-1b"),
    }
    with pytest.raises(ClientError) as excinfo:  # both in us-east-1a
        group_of(a, c)
    assert error_code(excinfo) == "ReplicationSubnetGroupDoesNotCoverEnoughAZs"
    other = ec2.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
    d = subnet(other, "10.43.1.0/24", "us-east-1b")
    with pytest.raises(ClientError) as excinfo:  # two VPCs
        group_of(a, d)
    assert error_code(excinfo) == "InvalidSubnet"


def test_subnet_group_needs_two_availability_zones(dms):
    with pytest.raises(ClientError) as excinfo:
        make_subnet_group(dms, subnets=("subnet-0a1",))
    assert error_code(excinfo) == "ReplicationSubnetGroupDoesNotCoverEnoughAZs"


def test_subnet_group_validation(dms):
    for identifier, subnets, code in (
        ("default", ("subnet-1", "subnet-2"), "InvalidParameterValueException"),
        ("bad/name", ("subnet-1", "subnet-2"), "InvalidParameterValueException"),
        (fresh("sg"), ("not-a-subnet", "subnet-2"), "InvalidSubnet"),
    ):
        with pytest.raises(ClientError) as excinfo:
            make_subnet_group(dms, identifier, subnets)
        assert error_code(excinfo) == code, identifier


def test_subnet_group_duplicate_is_refused(dms):
    identifier = make_subnet_group(dms)
    with pytest.raises(ClientError) as excinfo:
        make_subnet_group(dms, identifier.upper())
    assert error_code(excinfo) == "ResourceAlreadyExistsFault"


def test_subnet_group_modify(dms):
    identifier = make_subnet_group(dms)
    group = dms.modify_replication_subnet_group(
        ReplicationSubnetGroupIdentifier=identifier,
        ReplicationSubnetGroupDescription="new description",
        SubnetIds=["subnet-0c3", "subnet-0d4", "subnet-0e5"],
    )["ReplicationSubnetGroup"]
    assert group["ReplicationSubnetGroupDescription"] == "new description"
    assert [s["SubnetIdentifier"] for s in group["Subnets"]] == ["subnet-0c3", "subnet-0d4", "subnet-0e5"]
    (described,) = dms.describe_replication_subnet_groups(
        Filters=[{"Name": "replication-subnet-group-id", "Values": [identifier]}]
    )["ReplicationSubnetGroups"]
    assert described == group
    with pytest.raises(ClientError) as excinfo:
        dms.modify_replication_subnet_group(
            ReplicationSubnetGroupIdentifier=fresh("nope"), SubnetIds=["subnet-1", "subnet-2"]
        )
    assert error_code(excinfo) == "ResourceNotFoundFault"


def test_subnet_group_delete(dms):
    identifier = make_subnet_group(dms)
    assert dms.delete_replication_subnet_group(ReplicationSubnetGroupIdentifier=identifier)["ResponseMetadata"]
    with pytest.raises(ClientError) as excinfo:
        dms.describe_replication_subnet_groups(
            Filters=[{"Name": "replication-subnet-group-id", "Values": [identifier]}]
        )
    assert error_code(excinfo) == "ResourceNotFoundFault"
    with pytest.raises(ClientError) as excinfo:
        dms.delete_replication_subnet_group(ReplicationSubnetGroupIdentifier=identifier)
    assert error_code(excinfo) == "ResourceNotFoundFault"


def test_subnet_group_in_use_cannot_be_deleted(dms, shared):
    with pytest.raises(ClientError) as excinfo:
        dms.delete_replication_subnet_group(ReplicationSubnetGroupIdentifier=shared["group"])
    assert error_code(excinfo) == "InvalidResourceStateFault"


# ------------------------------------------------------------------------------ instances


def test_instance_create_goes_creating_then_available(dms):
    group = make_subnet_group(dms)
    identifier = fresh("RI-Orders")
    created = dms.create_replication_instance(
        ReplicationInstanceIdentifier=identifier,
        ReplicationInstanceClass="dms.t3.medium",
        AllocatedStorage=100,
        EngineVersion="3.5.3",
        MultiAZ=True,
        VpcSecurityGroupIds=["sg-0123456789abcdef0"],
        PubliclyAccessible=False,
        ReplicationSubnetGroupIdentifier=group,
        Tags=TEAM_TAG,
    )["ReplicationInstance"]
    arn = created["ReplicationInstanceArn"]
    assert created["ReplicationInstanceStatus"] == "creating"
    assert created["ReplicationInstanceIdentifier"] == identifier.lower()
    # An opaque resource id, not the identifier.
    assert arn.startswith(f"arn:aws:dms:us-east-1:{ACCOUNT}:rep:") and identifier.lower() not in arn
    assert wait_for(instance_status(dms, arn), "available", {"creating"}) == ["creating", "available"]
    instance = describe_instance(dms, arn)
    assert instance["ReplicationInstanceClass"] == "dms.t3.medium"
    assert instance["AllocatedStorage"] == 100
    assert instance["EngineVersion"] == "3.5.3"
    assert instance["MultiAZ"] is True
    assert instance["SecondaryAvailabilityZone"] != instance["AvailabilityZone"]
    assert instance["VpcSecurityGroups"] == [{"VpcSecurityGroupId": "sg-0123456789abcdef0", "Status": "active"}]
    assert instance["PubliclyAccessible"] is False
    assert instance["ReplicationInstancePublicIpAddresses"] == []
    assert instance["ReplicationInstancePrivateIpAddresses"]
    assert instance["ReplicationSubnetGroup"]["ReplicationSubnetGroupIdentifier"] == group
    assert instance["PendingModifiedValues"] == {}
    assert instance["AutoMinorVersionUpgrade"] is True
    assert instance["PreferredMaintenanceWindow"]
    assert instance["KmsKeyId"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")
    assert instance["InstanceCreateTime"].tzinfo is not None  # epoch seconds on the wire
    assert tags_of(dms, arn) == [("team", "etl")]


def test_instance_defaults_and_default_subnet_group(dms):
    created = dms.create_replication_instance(
        ReplicationInstanceIdentifier=fresh("ri"), ReplicationInstanceClass="dms.t3.micro"
    )["ReplicationInstance"]
    assert created["AllocatedStorage"] == 50
    assert created["PubliclyAccessible"] is True
    assert created["MultiAZ"] is False
    assert created["EngineVersion"] == dms_extension.DEFAULT_ENGINE_VERSION
    assert created["ReplicationSubnetGroup"]["ReplicationSubnetGroupIdentifier"].startswith("default-vpc-")
    assert created["VpcSecurityGroups"][0]["VpcSecurityGroupId"].startswith("sg-")


def test_instance_describe_filters(dms, shared):
    arn = shared["instance"]
    identifier = describe_instance(dms, arn)["ReplicationInstanceIdentifier"]
    by_id = dms.describe_replication_instances(
        Filters=[{"Name": "replication-instance-id", "Values": [identifier.upper()]}]
    )["ReplicationInstances"]
    assert [i["ReplicationInstanceArn"] for i in by_id] == [arn]
    for filters, code in (
        ([{"Name": "replication-instance-id", "Values": ["no-such-instance"]}], "ResourceNotFoundFault"),
        ([{"Name": "replication-instance-arn", "Values": [arn + "X"]}], "ResourceNotFoundFault"),
        ([{"Name": "instance-colour", "Values": ["blue"]}], "InvalidParameterValueException"),
    ):
        with pytest.raises(ClientError) as excinfo:
            dms.describe_replication_instances(Filters=filters)
        assert error_code(excinfo) == code


def test_instance_create_validation(dms, shared):
    group = shared["group"]
    for extra, code in (
        ({"AllocatedStorage": 2}, "InvalidParameterValueException"),
        ({"ReplicationInstanceClass": "m5.large"}, "InvalidParameterValueException"),
        ({"ReplicationInstanceIdentifier": "1-starts-with-a-digit"}, "InvalidParameterValueException"),
        ({"ReplicationInstanceIdentifier": "two--hyphens"}, "InvalidParameterValueException"),
        ({"MultiAZ": True, "AvailabilityZone": "us-east-1a"}, "InvalidParameterCombinationException"),
    ):
        with pytest.raises(ClientError) as excinfo:
            make_instance(dms, group, wait=False, **extra)
        assert error_code(excinfo) == code, extra
    with pytest.raises(ClientError) as excinfo:
        make_instance(dms, fresh("missing-group"), wait=False)
    assert error_code(excinfo) == "ResourceNotFoundFault"


def test_instance_duplicate_identifier(dms, shared):
    identifier = describe_instance(dms, shared["instance"])["ReplicationInstanceIdentifier"]
    with pytest.raises(ClientError) as excinfo:
        make_instance(dms, shared["group"], wait=False, ReplicationInstanceIdentifier=identifier.upper())
    assert error_code(excinfo) == "ResourceAlreadyExistsFault"


def test_instance_modify_apply_immediately(dms, pool):
    arn, _ = pool.instance()
    answer = dms.modify_replication_instance(
        ReplicationInstanceArn=arn, ApplyImmediately=True, ReplicationInstanceClass="dms.c5.large",
        AllocatedStorage=80,
    )["ReplicationInstance"]
    assert answer["ReplicationInstanceStatus"] == "modifying"
    assert answer["PendingModifiedValues"] == {
        "ReplicationInstanceClass": "dms.c5.large", "AllocatedStorage": 80,
    }
    assert wait_for(instance_status(dms, arn), "available", {"modifying"}) == ["modifying", "available"]
    instance = describe_instance(dms, arn)
    assert (instance["ReplicationInstanceClass"], instance["AllocatedStorage"]) == ("dms.c5.large", 80)
    assert instance["PendingModifiedValues"] == {}


def test_instance_modify_waits_for_maintenance_window_without_apply_immediately(dms, pool):
    arn, _ = pool.instance()
    answer = dms.modify_replication_instance(
        ReplicationInstanceArn=arn, ApplyImmediately=False, ReplicationInstanceClass="dms.c5.large",
        PreferredMaintenanceWindow="sun:03:00-sun:03:30",
    )["ReplicationInstance"]
    assert answer["ReplicationInstanceStatus"] == "available"
    assert answer["ReplicationInstanceClass"] == "dms.t3.micro"
    assert answer["PendingModifiedValues"] == {"ReplicationInstanceClass": "dms.c5.large"}
    assert answer["PreferredMaintenanceWindow"] == "sun:03:00-sun:03:30"  # applied at once


def test_instance_modify_validation(dms):
    group = make_subnet_group(dms)
    creating = make_instance(dms, group, wait=False, EngineVersion="3.5.3")["ReplicationInstanceArn"]
    with pytest.raises(ClientError) as excinfo:  # still creating
        dms.modify_replication_instance(
            ReplicationInstanceArn=creating, ApplyImmediately=True, AllocatedStorage=60
        )
    assert error_code(excinfo) == "InvalidResourceStateFault"
    wait_for(instance_status(dms, creating), "available", {"creating"})
    for extra, code in (
        ({"AllocatedStorage": 20}, "InvalidParameterValueException"),  # cannot shrink
        ({"EngineVersion": "4.0.1"}, "InvalidParameterCombinationException"),  # major, not allowed
    ):
        with pytest.raises(ClientError) as excinfo:
            dms.modify_replication_instance(ReplicationInstanceArn=creating, ApplyImmediately=True, **extra)
        assert error_code(excinfo) == code
    with pytest.raises(ClientError) as excinfo:
        dms.modify_replication_instance(ReplicationInstanceArn=creating + "X", ApplyImmediately=True)
    assert error_code(excinfo) == "ResourceNotFoundFault"


def test_instance_delete_goes_deleting_then_gone(dms, pool):
    arn, group = pool.instance()
    answer = dms.delete_replication_instance(ReplicationInstanceArn=arn)["ReplicationInstance"]
    assert answer["ReplicationInstanceStatus"] == "deleting"
    gone(lambda: describe_instance(dms, arn))
    with pytest.raises(ClientError) as excinfo:
        dms.delete_replication_instance(ReplicationInstanceArn=arn)
    assert error_code(excinfo) == "ResourceNotFoundFault"
    dms.delete_replication_subnet_group(ReplicationSubnetGroupIdentifier=group)  # no longer in use


def test_instance_with_tasks_cannot_be_deleted(dms, shared):
    make_task(dms, shared, wait=False)
    with pytest.raises(ClientError) as excinfo:
        dms.delete_replication_instance(ReplicationInstanceArn=shared["instance"])
    assert error_code(excinfo) == "InvalidResourceStateFault"


# ------------------------------------------------------------------------------ endpoints


def test_mysql_source_endpoint(dms):
    created = mysql_endpoint(dms, SslMode="require", Tags=TEAM_TAG)
    arn = created["EndpointArn"]
    assert arn.startswith(f"arn:aws:dms:us-east-1:{ACCOUNT}:endpoint:")
    assert created["Status"] == "active"
    endpoint = describe_endpoint(dms, arn)
    assert endpoint == created
    assert endpoint["EndpointType"] == "SOURCE"  # AWS answers the type in upper case
    assert endpoint["EngineName"] == "mysql"
    assert (endpoint["ServerName"], endpoint["Port"], endpoint["Username"]) == (
        "orders.cluster-abc.us-east-1.rds.amazonaws.com", 3306, "dms",
    )
    assert endpoint["SslMode"] == "require"
    assert endpoint["MySQLSettings"] == {
        "ServerName": "orders.cluster-abc.us-east-1.rds.amazonaws.com", "Port": 3306, "Username": "dms",
    }
    assert "s3cret-pw" not in json.dumps(endpoint, default=str)  # never returned
    assert tags_of(dms, arn) == [("team", "etl")]


def test_mysql_source_endpoint_with_secret(dms):
    created = dms.create_endpoint(
        EndpointIdentifier=fresh("src"),
        EndpointType="source",
        EngineName="mysql",
        MySQLSettings=SECRET,
    )["Endpoint"]
    endpoint = describe_endpoint(dms, created["EndpointArn"])
    assert endpoint["MySQLSettings"] == SECRET
    assert "ServerName" not in endpoint and "Username" not in endpoint


def test_mysql_endpoint_validation(dms):
    """Each case changes (or, with None, leaves out) members of a valid MySQL source."""
    for changes, code in (
        ({"Password": None}, "InvalidParameterValueException"),
        ({"ServerName": None}, "InvalidParameterValueException"),
        ({"Port": 70000}, "InvalidParameterValueException"),
        ({"SslMode": "verify-full"}, "InvalidParameterCombinationException"),  # needs a CertificateArn
        ({"SslMode": "sometimes"}, "InvalidParameterValueException"),
        ({"EndpointIdentifier": "has_underscore"}, "InvalidParameterValueException"),
        ({"EndpointType": "sideways"}, "InvalidParameterValueException"),
        ({"EndpointType": "SOURCE"}, "InvalidParameterValueException"),  # answered in capitals, not accepted
        ({"EngineName": "mysqll"}, "InvalidParameterValueException"),
        ({"MySQLSettings": SECRET}, "InvalidParameterCombinationException"),  # credentials and a secret
        ({"ServerName": None, "Username": None, "Password": None, "Port": None,  # a secret without its role
          "MySQLSettings": {"SecretsManagerSecretId": SECRET_ARN}}, "InvalidParameterCombinationException"),
    ):
        params = {
            "EndpointIdentifier": fresh("src"), "EndpointType": "source", "EngineName": "mysql",
            "ServerName": "db.example", "Port": 3306, "Username": "dms", "Password": "pw",
            **changes,
        }
        with pytest.raises(ClientError) as excinfo:
            dms.create_endpoint(**{k: v for k, v in params.items() if v is not None})
        assert error_code(excinfo) == code, changes


def test_kinesis_target_endpoint_reports_every_setting(dms):
    created = kinesis_endpoint(dms, IncludeTransactionDetails=True, PartitionIncludeSchemaTable=True)
    endpoint = describe_endpoint(dms, created["EndpointArn"])
    assert endpoint["EndpointType"] == "TARGET"
    assert endpoint["EngineName"] == "kinesis"
    assert endpoint["KinesisSettings"] == {
        "StreamArn": STREAM_ARN,
        "MessageFormat": "json",
        "ServiceAccessRoleArn": ROLE_ARN,
        "IncludeTransactionDetails": True,
        "IncludePartitionValue": False,
        "PartitionIncludeSchemaTable": True,
        "IncludeTableAlterOperations": False,
        "IncludeControlDetails": False,
        "IncludeNullAndEmpty": False,
        "NoHexPrefix": False,
        "UseLargeIntegerValue": False,
    }
    assert "MySQLSettings" not in endpoint


def test_kinesis_endpoint_validation(dms):
    def create(endpoint_type="target", **settings):
        return dms.create_endpoint(
            EndpointIdentifier=fresh("tgt"), EndpointType=endpoint_type, EngineName="kinesis",
            KinesisSettings=settings,
        )

    for endpoint_type, settings, code in (
        ("target", {"ServiceAccessRoleArn": ROLE_ARN}, "InvalidParameterValueException"),
        ("target", {"StreamArn": STREAM_ARN}, "InvalidParameterValueException"),
        ("target", {"StreamArn": STREAM_ARN, "ServiceAccessRoleArn": ROLE_ARN, "MessageFormat": "avro"},
         "InvalidParameterValueException"),
        ("target", {"StreamArn": "orders", "ServiceAccessRoleArn": ROLE_ARN}, "InvalidParameterValueException"),
        ("source", KINESIS, "InvalidParameterCombinationException"),  # Kinesis is a target only
    ):
        with pytest.raises(ClientError) as excinfo:
            create(endpoint_type, **settings)
        assert error_code(excinfo) == code, settings


def test_describe_endpoints_filters(dms):
    source = mysql_endpoint(dms)
    target = kinesis_endpoint(dms)
    for name, values, expected in (
        ("endpoint-id", [source["EndpointIdentifier"]], [source["EndpointArn"]]),
        ("endpoint-arn", [target["EndpointArn"], source["EndpointArn"]],
         [source["EndpointArn"], target["EndpointArn"]]),
    ):
        found = dms.describe_endpoints(Filters=[{"Name": name, "Values": values}])["Endpoints"]
        assert sorted(e["EndpointArn"] for e in found) == sorted(expected)
    ids = [source["EndpointIdentifier"], target["EndpointIdentifier"]]
    for engine, endpoint_type, expected in (("mysql", "source", source), ("kinesis", "target", target)):
        found = dms.describe_endpoints(
            Filters=[
                {"Name": "endpoint-id", "Values": ids},
                {"Name": "engine-name", "Values": [engine]},
                {"Name": "endpoint-type", "Values": [endpoint_type]},
            ]
        )["Endpoints"]
        assert [e["EndpointArn"] for e in found] == [expected["EndpointArn"]]
    with pytest.raises(ClientError) as excinfo:
        dms.describe_endpoints(Filters=[{"Name": "endpoint-id", "Values": [fresh("none")]}])
    assert error_code(excinfo) == "ResourceNotFoundFault"
    with pytest.raises(ClientError) as excinfo:
        dms.describe_endpoints(Filters=[{"Name": "endpoint-id", "Values": ids}], MaxRecords=10)
    assert error_code(excinfo) == "InvalidParameterValueException"


def test_modify_kinesis_endpoint_merges_settings_unless_exact(dms):
    arn = kinesis_endpoint(dms, IncludeControlDetails=True)["EndpointArn"]
    other_stream = STREAM_ARN.replace("orders", "orders-v2")
    answer = dms.modify_endpoint(
        EndpointArn=arn, KinesisSettings={"StreamArn": other_stream, "IncludeTableAlterOperations": True}
    )["Endpoint"]
    settings = describe_endpoint(dms, arn)["KinesisSettings"]
    assert answer["KinesisSettings"] == settings
    assert settings["StreamArn"] == other_stream
    assert settings["ServiceAccessRoleArn"] == ROLE_ARN  # kept
    assert settings["IncludeControlDetails"] is True  # kept
    assert settings["IncludeTableAlterOperations"] is True
    dms.modify_endpoint(
        EndpointArn=arn,
        ExactSettings=True,
        KinesisSettings={**KINESIS, "IncludeNullAndEmpty": True},
    )
    settings = describe_endpoint(dms, arn)["KinesisSettings"]
    assert settings["StreamArn"] == STREAM_ARN
    assert settings["IncludeControlDetails"] is False  # replaced: back to the default
    assert settings["IncludeTableAlterOperations"] is False
    assert settings["IncludeNullAndEmpty"] is True
    with pytest.raises(ClientError) as excinfo:  # the result would lack StreamArn: nothing changes
        dms.modify_endpoint(
            EndpointArn=arn, ExactSettings=True, KinesisSettings={"ServiceAccessRoleArn": ROLE_ARN}
        )
    assert error_code(excinfo) == "InvalidParameterValueException"
    assert describe_endpoint(dms, arn)["KinesisSettings"]["StreamArn"] == STREAM_ARN


def test_modify_mysql_endpoint(dms):
    created = mysql_endpoint(dms)
    arn = created["EndpointArn"]
    new_id = fresh("renamed")
    dms.modify_endpoint(
        EndpointArn=arn, EndpointIdentifier=new_id, ServerName="replica.example", Port=3307,
        Password="rotated-pw", SslMode="require",
    )
    endpoint = describe_endpoint(dms, arn)
    assert endpoint["EndpointIdentifier"] == new_id
    assert (endpoint["ServerName"], endpoint["Port"]) == ("replica.example", 3307)
    assert endpoint["SslMode"] == "require"
    assert endpoint["MySQLSettings"]["ServerName"] == "replica.example"
    assert "rotated-pw" not in json.dumps(endpoint, default=str)
    # Moving to a Secrets Manager secret: the stored credentials give way.
    dms.modify_endpoint(EndpointArn=arn, MySQLSettings=SECRET)
    endpoint = describe_endpoint(dms, arn)
    assert endpoint["MySQLSettings"] == SECRET
    assert "ServerName" not in endpoint
    with pytest.raises(ClientError) as excinfo:
        dms.modify_endpoint(EndpointArn=arn + "X", Port=1)
    assert error_code(excinfo) == "ResourceNotFoundFault"


def test_endpoint_duplicate_identifier(dms):
    first = mysql_endpoint(dms)
    second = mysql_endpoint(dms)
    with pytest.raises(ClientError) as excinfo:
        mysql_endpoint(dms, EndpointIdentifier=first["EndpointIdentifier"])
    assert error_code(excinfo) == "ResourceAlreadyExistsFault"
    with pytest.raises(ClientError) as excinfo:
        dms.modify_endpoint(EndpointArn=second["EndpointArn"], EndpointIdentifier=first["EndpointIdentifier"])
    assert error_code(excinfo) == "ResourceAlreadyExistsFault"


def test_delete_endpoint_goes_deleting_then_gone(dms):
    arn = kinesis_endpoint(dms)["EndpointArn"]
    assert dms.delete_endpoint(EndpointArn=arn)["Endpoint"]["Status"] == "deleting"
    gone(lambda: describe_endpoint(dms, arn))
    with pytest.raises(ClientError) as excinfo:
        dms.delete_endpoint(EndpointArn=arn)
    assert error_code(excinfo) == "ResourceNotFoundFault"


def test_endpoint_used_by_a_task_cannot_be_deleted(dms, shared):
    make_task(dms, shared, wait=False)
    for arn in (shared["source"], shared["target"]):
        with pytest.raises(ClientError) as excinfo:
            dms.delete_endpoint(EndpointArn=arn)
        assert error_code(excinfo) == "InvalidResourceStateFault"


# ------------------------------------------------------------------------------ tasks


def test_task_create_goes_creating_then_ready(dms, shared):
    settings = {
        "TargetMetadata": {"SupportLobs": False},
        "FullLoadSettings": {"TargetTablePrepMode": "DO_NOTHING"},
    }
    created = make_task(dms, shared, wait=False, ReplicationTaskSettings=json.dumps(settings),
                        Tags=TEAM_TAG)
    arn = created["ReplicationTaskArn"]
    assert created["Status"] == "creating"
    assert arn.startswith(f"arn:aws:dms:us-east-1:{ACCOUNT}:task:")
    assert created["ReplicationTaskIdentifier"] not in arn
    assert wait_for(task_status(dms, arn), "ready", {"creating"}) == ["creating", "ready"]
    task = describe_task(dms, arn)
    assert task["MigrationType"] == "full-load-and-cdc"
    assert (task["SourceEndpointArn"], task["TargetEndpointArn"], task["ReplicationInstanceArn"]) == (
        shared["source"], shared["target"], shared["instance"],
    )
    assert task["TableMappings"] == MAPPINGS  # as given
    answered = json.loads(task["ReplicationTaskSettings"])
    # The given settings, merged into the full default document.
    assert answered["TargetMetadata"]["SupportLobs"] is False
    assert answered["TargetMetadata"]["LobChunkSize"] == 64
    assert answered["FullLoadSettings"]["TargetTablePrepMode"] == "DO_NOTHING"
    assert answered["FullLoadSettings"]["MaxFullLoadSubTasks"] == 8
    assert answered["ChangeProcessingTuning"]["BatchApplyTimeoutMax"] == 30
    assert answered["Logging"]["CloudWatchLogGroup"] is None
    assert answered != settings
    assert "StopReason" not in task and "ReplicationTaskStartDate" not in task
    assert tags_of(dms, arn) == [("team", "etl")]


def test_task_settings_defaults_and_logging(dms, shared, pool):
    task = pool.task()
    answered = json.loads(describe_task(dms, task["ReplicationTaskArn"])["ReplicationTaskSettings"])
    assert answered == json.loads(json.dumps(dms_extension.DEFAULT_TASK_SETTINGS))
    logged = make_task(dms, shared, ReplicationTaskSettings=json.dumps(
        {"Logging": {
            "EnableLogging": True,
            "LogComponents": [{"Id": "SOURCE_CAPTURE", "Severity": "LOGGER_SEVERITY_DEBUG"}],
        }}
    ))
    logging = json.loads(describe_task(dms, logged["ReplicationTaskArn"])["ReplicationTaskSettings"])["Logging"]
    instance_id = describe_instance(dms, shared["instance"])["ReplicationInstanceIdentifier"]
    assert logging["CloudWatchLogGroup"] == f"dms-tasks-{instance_id}"
    assert logging["CloudWatchLogStream"].startswith("dms-task-")
    components = {c["Id"]: c["Severity"] for c in logging["LogComponents"]}
    assert components["SOURCE_CAPTURE"] == "LOGGER_SEVERITY_DEBUG"
    assert components["TARGET_APPLY"] == "LOGGER_SEVERITY_DEFAULT"  # merged by Id
    for settings in (
        {"Logging": {"CloudWatchLogGroup": "mine"}},  # read-only, refused on create
        {"Logging": {"EnableLogging": False, "EnableLogContext": True}},
    ):
        with pytest.raises(ClientError) as excinfo:
            make_task(dms, shared, wait=False, ReplicationTaskSettings=json.dumps(settings))
        assert error_code(excinfo) == "InvalidParameterValueException"


def test_describe_tasks_filters(dms, shared):
    task = make_task(dms, shared, wait=False)
    arn = task["ReplicationTaskArn"]
    for name, value in (
        ("replication-task-id", task["ReplicationTaskIdentifier"]),
        ("replication-task-arn", arn),
    ):
        found = dms.describe_replication_tasks(Filters=[{"Name": name, "Values": [value]}])["ReplicationTasks"]
        assert [t["ReplicationTaskArn"] for t in found] == [arn]
    for name, value in (
        ("endpoint-arn", shared["source"]),
        ("endpoint-arn", shared["target"]),
        ("replication-instance-arn", shared["instance"]),
    ):
        found = dms.describe_replication_tasks(Filters=[{"Name": name, "Values": [value]}])["ReplicationTasks"]
        assert arn in [t["ReplicationTaskArn"] for t in found]
    (bare,) = dms.describe_replication_tasks(
        Filters=[{"Name": "replication-task-arn", "Values": [arn]}], WithoutSettings=True
    )["ReplicationTasks"]
    assert "ReplicationTaskSettings" not in bare and "TableMappings" not in bare
    with pytest.raises(ClientError) as excinfo:
        dms.describe_replication_tasks(Filters=[{"Name": "replication-task-id", "Values": [fresh("none")]}])
    assert error_code(excinfo) == "ResourceNotFoundFault"
    assert "No Tasks found matching provided filters" in excinfo.value.response["Error"]["Message"]


def test_task_validation(dms, shared):
    no_selection = json.dumps({"rules": [{"rule-type": "transformation", "rule-id": "1", "rule-name": "x",
                                          "rule-target": "schema", "object-locator": {"schema-name": "orders"},
                                          "rule-action": "rename", "value": "o"}]})
    bad_action = MAPPINGS.replace('"include"', '"maybe"')
    for extra, code in (
        ({"MigrationType": "full-load-and-sometimes"}, "InvalidParameterValueException"),
        ({"TableMappings": "{not json"}, "InvalidParameterValueException"),
        ({"TableMappings": json.dumps({"rules": []})}, "InvalidParameterValueException"),
        ({"TableMappings": no_selection}, "InvalidParameterValueException"),
        ({"TableMappings": bad_action}, "InvalidParameterValueException"),
        ({"ReplicationTaskSettings": "[1, 2]"}, "InvalidParameterValueException"),
        ({"ReplicationTaskSettings": "{oops"}, "InvalidParameterValueException"),
        ({"ReplicationTaskIdentifier": "ends-with-"}, "InvalidParameterValueException"),
        ({"SourceEndpointArn": shared["target"]}, "InvalidParameterValueException"),  # a target as source
        ({"CdcStartTime": 1700000000, "CdcStartPosition": "mysql-bin-changelog.000024:373"},
         "InvalidParameterCombinationException"),
    ):
        with pytest.raises(ClientError) as excinfo:
            make_task(dms, shared, wait=False, **extra)
        assert error_code(excinfo) == code, extra


def test_task_accepts_object_mapping_rules_for_stream_targets(dms, shared):
    mappings = json.loads(MAPPINGS)
    mappings["rules"].append({
        "rule-type": "object-mapping", "rule-id": "2", "rule-name": "partition",
        "rule-action": "map-record-to-record",
        "object-locator": {"schema-name": "orders", "table-name": "%"},
        "mapping-parameters": {"partition-key-type": "primary-key"},
    })
    unknown = json.loads(MAPPINGS)
    unknown["rules"].append({"rule-type": "teleport", "rule-id": "2", "rule-name": "x"})
    arn = make_task(dms, shared, TableMappings=json.dumps(mappings))["ReplicationTaskArn"]
    (task,) = dms.describe_replication_tasks(
        Filters=[{"Name": "replication-task-arn", "Values": [arn]}]
    )["ReplicationTasks"]
    assert json.loads(task["TableMappings"]) == mappings
    with pytest.raises(ClientError) as excinfo:
        make_task(dms, shared, wait=False, TableMappings=json.dumps(unknown))
    assert error_code(excinfo) == "InvalidParameterValueException"


def test_task_unknown_arns_are_not_found(dms, shared):
    for key in ("source", "target", "instance"):
        with pytest.raises(ClientError) as excinfo:
            make_task(dms, {**shared, key: shared[key] + "X"}, wait=False)
        assert error_code(excinfo) == "ResourceNotFoundFault", key


def test_task_duplicate_identifier(dms, shared):
    task = make_task(dms, shared, wait=False)
    with pytest.raises(ClientError) as excinfo:
        make_task(dms, shared, wait=False, ReplicationTaskIdentifier=task["ReplicationTaskIdentifier"])
    assert error_code(excinfo) == "ResourceAlreadyExistsFault"


def test_task_on_an_instance_still_creating(dms, shared):
    creating = make_instance(dms, shared["group"], wait=False)["ReplicationInstanceArn"]
    with pytest.raises(ClientError) as excinfo:
        make_task(dms, {**shared, "instance": creating}, wait=False)
    assert error_code(excinfo) == "InvalidResourceStateFault"


def test_task_start_stop_resume(dms, pool):
    arn = pool.task()["ReplicationTaskArn"]
    assert start(dms, arn) == ["starting", "running"]
    running = describe_task(dms, arn)
    assert running["ReplicationTaskStartDate"] is not None
    assert running["ReplicationTaskStats"]["FreshStartDate"] is not None
    with pytest.raises(ClientError) as excinfo:  # already running
        dms.start_replication_task(ReplicationTaskArn=arn, StartReplicationTaskType="resume-processing")
    assert error_code(excinfo) == "InvalidResourceStateFault"
    assert stop(dms, arn) == ["stopping", "stopped"]
    stopped = describe_task(dms, arn)
    assert stopped["StopReason"] == "Stop Reason NORMAL"
    assert stopped["ReplicationTaskStats"]["StopDate"] is not None
    with pytest.raises(ClientError) as excinfo:  # not running any more
        dms.stop_replication_task(ReplicationTaskArn=arn)
    assert error_code(excinfo) == "InvalidResourceStateFault"
    with pytest.raises(ClientError) as excinfo:  # only for a task's first run
        dms.start_replication_task(ReplicationTaskArn=arn, StartReplicationTaskType="start-replication")
    assert error_code(excinfo) == "InvalidResourceStateFault"
    assert start(dms, arn, "resume-processing") == ["starting", "running"]
    stop(dms, arn)
    assert start(dms, arn, "reload-target") == ["starting", "running"]
    with pytest.raises(ClientError) as excinfo:  # a running task is stopped before it is deleted
        dms.delete_replication_task(ReplicationTaskArn=arn)
    assert error_code(excinfo) == "InvalidResourceStateFault"


def test_task_first_start_must_be_start_replication(dms, pool):
    arn = pool.task()["ReplicationTaskArn"]
    with pytest.raises(ClientError) as excinfo:
        dms.start_replication_task(ReplicationTaskArn=arn, StartReplicationTaskType="resume-processing")
    assert error_code(excinfo) == "InvalidResourceStateFault"
    with pytest.raises(ClientError) as excinfo:
        dms.start_replication_task(ReplicationTaskArn=arn, StartReplicationTaskType="go")
    assert error_code(excinfo) == "InvalidParameterValueException"
    with pytest.raises(ClientError) as excinfo:
        dms.start_replication_task(ReplicationTaskArn=arn + "X", StartReplicationTaskType="start-replication")
    assert error_code(excinfo) == "ResourceNotFoundFault"


def test_task_modify_needs_a_stopped_task(dms, pool):
    arn = pool.task()["ReplicationTaskArn"]
    # A ready task: modifying, then ready again.
    answer = dms.modify_replication_task(ReplicationTaskArn=arn, MigrationType="cdc")["ReplicationTask"]
    assert answer["Status"] == "modifying"
    assert wait_for(task_status(dms, arn), "ready", {"modifying"}) == ["modifying", "ready"]
    start(dms, arn)
    with pytest.raises(ClientError) as excinfo:
        dms.modify_replication_task(ReplicationTaskArn=arn, TableMappings=MAPPINGS)
    assert error_code(excinfo) == "InvalidResourceStateFault"
    stop(dms, arn)
    mappings = MAPPINGS.replace('"%"', '"order%"')
    answer = dms.modify_replication_task(
        ReplicationTaskArn=arn,
        TableMappings=mappings,
        ReplicationTaskSettings=json.dumps({"TargetMetadata": {"BatchApplyEnabled": True}}),
    )["ReplicationTask"]
    assert answer["Status"] == "modifying"
    # A stopped task goes back to stopped, and is then resumed by the caller.
    assert wait_for(task_status(dms, arn), "stopped", {"modifying"}) == ["modifying", "stopped"]
    task = describe_task(dms, arn)
    assert task["TableMappings"] == mappings
    assert task["MigrationType"] == "cdc"
    settings = json.loads(task["ReplicationTaskSettings"])
    assert settings["TargetMetadata"]["BatchApplyEnabled"] is True
    assert settings["TargetMetadata"]["SupportLobs"] is True  # the rest is kept
    for extra, code in (
        ({"TableMappings": "{"}, "InvalidParameterValueException"),
        ({"MigrationType": "sometimes"}, "InvalidParameterValueException"),
    ):
        with pytest.raises(ClientError) as excinfo:
            dms.modify_replication_task(ReplicationTaskArn=arn, **extra)
        assert error_code(excinfo) == code
    with pytest.raises(ClientError) as excinfo:
        dms.modify_replication_task(ReplicationTaskArn=arn + "X", MigrationType="cdc")
    assert error_code(excinfo) == "ResourceNotFoundFault"
    assert start(dms, arn, "resume-processing") == ["starting", "running"]


def test_task_modify_rename_to_an_existing_identifier(dms, shared, pool):
    first = make_task(dms, shared, wait=False)
    second = pool.task()
    with pytest.raises(ClientError) as excinfo:
        dms.modify_replication_task(
            ReplicationTaskArn=second["ReplicationTaskArn"],
            ReplicationTaskIdentifier=first["ReplicationTaskIdentifier"],
        )
    assert error_code(excinfo) == "ResourceAlreadyExistsFault"


def test_task_delete(dms, pool):
    arn = pool.task()["ReplicationTaskArn"]
    assert dms.delete_replication_task(ReplicationTaskArn=arn)["ReplicationTask"]["Status"] == "deleting"
    gone(lambda: describe_task(dms, arn))
    with pytest.raises(ClientError) as excinfo:
        dms.delete_replication_task(ReplicationTaskArn=arn)
    assert error_code(excinfo) == "ResourceNotFoundFault"
    with pytest.raises(ClientError) as excinfo:  # tags went with it
        dms.list_tags_for_resource(ResourceArn=arn)
    assert error_code(excinfo) == "ResourceNotFoundFault"


def test_endpoints_and_instance_free_once_tasks_are_gone(dms):
    group = make_subnet_group(dms)
    own = {
        "group": group,
        "instance": make_instance(dms, group)["ReplicationInstanceArn"],
        "source": mysql_endpoint(dms)["EndpointArn"],
        "target": kinesis_endpoint(dms)["EndpointArn"],
    }
    arn = make_task(dms, own)["ReplicationTaskArn"]
    dms.delete_replication_task(ReplicationTaskArn=arn)
    with pytest.raises(ClientError) as excinfo:  # the task is still deleting
        dms.delete_endpoint(EndpointArn=own["source"])
    assert error_code(excinfo) == "InvalidResourceStateFault"
    gone(lambda: describe_task(dms, arn))
    dms.delete_endpoint(EndpointArn=own["source"])
    dms.delete_endpoint(EndpointArn=own["target"])
    assert dms.delete_replication_instance(ReplicationInstanceArn=own["instance"])["ReplicationInstance"][
        "ReplicationInstanceStatus"
    ] == "deleting"


# ------------------------------------------------------------------------------ tags


def test_tags_on_every_kind_of_resource(dms, shared):
    task = make_task(dms, shared, wait=False)
    arns = [
        shared["instance"],
        shared["source"],
        task["ReplicationTaskArn"],
        f"arn:aws:dms:us-east-1:{ACCOUNT}:subgrp:{shared['group']}",
    ]
    for arn in arns:
        dms.add_tags_to_resource(
            ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}, {"Key": "owner", "Value": "a"}]
        )
        dms.add_tags_to_resource(ResourceArn=arn, Tags=[{"Key": "owner", "Value": "b"}])  # overwrites
        assert tags_of(dms, arn) == [("env", "dev"), ("owner", "b")]
        dms.remove_tags_from_resource(ResourceArn=arn, TagKeys=["env", "absent"])
        assert tags_of(dms, arn) == [("owner", "b")]
    listed = dms.list_tags_for_resource(ResourceArnList=arns)["TagList"]
    assert sorted(t["ResourceArn"] for t in listed) == sorted(arns)


def test_tags_of_an_unknown_resource(dms):
    arn = f"arn:aws:dms:us-east-1:{ACCOUNT}:rep:NOSUCHINSTANCE0000000000000"
    for call in (
        lambda: dms.add_tags_to_resource(ResourceArn=arn, Tags=[{"Key": "k", "Value": "v"}]),
        lambda: dms.remove_tags_from_resource(ResourceArn=arn, TagKeys=["k"]),
        lambda: dms.list_tags_for_resource(ResourceArn=arn),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_code(excinfo) == "ResourceNotFoundFault"
