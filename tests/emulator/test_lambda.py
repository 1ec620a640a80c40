"""Lambda function calls made by the provider, without Docker."""

from __future__ import annotations

import base64
import json
import hashlib

import pytest
from botocore.exceptions import ClientError

from conftest import make_zip


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def error_code(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def create(client, name: str, role_arn: str, code: bytes, **extra) -> dict:
    return client("lambda").create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Handler="bootstrap",
        Architectures=["arm64"],
        Role=role_arn,
        Code={"ZipFile": code},
        MemorySize=256,
        Timeout=30,
        Environment={"Variables": {"TABLE": "t1", "LOG": "info"}},
        Tags={"team": "etl"},
        **extra,
    )


def test_create_and_get_function(client, name, role_arn):
    code = make_zip(b"binary v1")
    created = create(client, name, role_arn, code)
    lam = client("lambda")
    got = lam.get_function(FunctionName=name)
    config = lam.get_function_configuration(FunctionName=name)
    for c in (created, got["Configuration"], config):
        assert c["FunctionName"] == name
        assert c["FunctionArn"] == f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        assert c["Runtime"] == "provided.al2023"
        assert c["Handler"] == "bootstrap"
        assert c["Architectures"] == ["arm64"]
        assert c["CodeSha256"] == sha256_b64(code)
        assert c["CodeSize"] == len(code)
        assert c["MemorySize"] == 256
        assert c["Timeout"] == 30
        assert c["Environment"] == {"Variables": {"TABLE": "t1", "LOG": "info"}}
        assert c["Role"] == role_arn
        assert c["State"] == "Active"
        assert c["PackageType"] == "Zip"
        assert c["RevisionId"]
    for c in (got["Configuration"], config):
        assert c["LastUpdateStatus"] == "Successful"
    assert got["Tags"] == {"team": "etl"}


def test_large_package(client, name, role_arn):
    """A package of megabytes (its JSON request is past the size where the emulator skips
    moto's query-string parse of the body) is stored byte for byte; a large body that is
    not a zip is still refused."""
    import os

    code = make_zip(os.urandom(3 * 1024 * 1024))
    created = create(client, name, role_arn, code)
    assert created["CodeSha256"] == sha256_b64(code)
    assert created["CodeSize"] == len(code)
    lam = client("lambda")
    assert lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"] == sha256_b64(code)
    with pytest.raises(ClientError) as excinfo:
        create(client, name + "-bad", role_arn, os.urandom(3 * 1024 * 1024))
    assert error_code(excinfo) == "InvalidParameterValueException"
    updated = lam.update_function_code(FunctionName=name, ZipFile=make_zip(b"small again"))
    assert updated["CodeSha256"] == sha256_b64(make_zip(b"small again"))


def test_update_code_and_architecture(client, name, role_arn):
    lam = client("lambda")
    before = create(client, name, role_arn, make_zip(b"v1"))
    code = make_zip(b"v2")
    updated = lam.update_function_code(FunctionName=name, ZipFile=code, Architectures=["x86_64"])
    config = lam.get_function_configuration(FunctionName=name)
    for c in (updated, config):
        assert c["CodeSha256"] == sha256_b64(code)
        assert c["Architectures"] == ["x86_64"]
        assert c["LastModified"] != before["LastModified"]
        assert c["RevisionId"] != before["RevisionId"]
    # Without Architectures the architecture is kept.
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(b"v3"))
    assert lam.get_function(FunctionName=name)["Configuration"]["Architectures"] == ["x86_64"]


def test_update_configuration(client, name, role_arn):
    lam = client("lambda")
    before = create(client, name, role_arn, make_zip())
    updated = lam.update_function_configuration(
        FunctionName=name, MemorySize=512, Timeout=60, Environment={"Variables": {"TABLE": "t2"}}
    )
    config = lam.get_function_configuration(FunctionName=name)
    for c in (updated, config):
        assert (c["MemorySize"], c["Timeout"]) == (512, 60)
        assert c["Environment"] == {"Variables": {"TABLE": "t2"}}
        assert c["RevisionId"] != before["RevisionId"]
        assert c["LastUpdateStatus"] == "Successful"
    lam.update_function_configuration(FunctionName=name, Environment={})  # moto crashed
    assert "Environment" not in lam.get_function_configuration(FunctionName=name)


def test_validation(client, name, role_arn):
    lam = client("lambda", validate=False)
    with pytest.raises(ClientError) as excinfo:
        create(client, name, role_arn, b"this is not a zip file")
    assert error_code(excinfo) == "InvalidParameterValueException"
    for bad in ({"MemorySize": 64}, {"MemorySize": 10241}, {"Timeout": 0}, {"Timeout": 901}):
        with pytest.raises(ClientError) as excinfo:
            lam.create_function(
                FunctionName=name, Runtime="provided.al2023", Handler="bootstrap", Role=role_arn,
                Code={"ZipFile": make_zip()}, **bad,
            )
        assert error_code(excinfo) == "ValidationException", bad
    create(client, name, role_arn, make_zip())
    with pytest.raises(ClientError) as excinfo:
        lam.update_function_configuration(FunctionName=name, Timeout=901)
    assert error_code(excinfo) == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        lam.update_function_code(FunctionName=name, ZipFile=b"not a zip")
    assert error_code(excinfo) == "InvalidParameterValueException"
    with pytest.raises(ClientError) as excinfo:
        create(client, name, role_arn, make_zip())
    assert error_code(excinfo) == "ResourceConflictException"


def test_tags(client, name, role_arn):
    lam = client("lambda")
    arn = create(client, name, role_arn, make_zip())["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"env": "test", "team": "data"})
    lam.untag_resource(Resource=arn, TagKeys=["env"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "data"}


def test_delete_function(client, name, role_arn):
    lam = client("lambda")
    create(client, name, role_arn, make_zip())
    lam.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as excinfo:
        lam.get_function(FunctionName=name)
    assert error_code(excinfo) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        lam.delete_function(FunctionName=name)
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_invoke_does_not_need_docker(client, name, role_arn):
    lam = client("lambda")
    create(client, name, role_arn, make_zip())
    response = lam.invoke(FunctionName=name, Payload=b'{"ping": 1}')
    assert response["StatusCode"] == 200


def test_role_must_trust_lambda(client, name, role_arn):
    iam = client("iam")
    not_lambda = iam.create_role(
        RoleName=f"{name}-ec2",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
    )["Role"]["Arn"]
    with pytest.raises(ClientError) as excinfo:
        create(client, name, not_lambda, make_zip())
    assert error_code(excinfo) == "InvalidParameterValueException"
    with pytest.raises(ClientError) as excinfo:
        create(client, name, role_arn.replace(f"{name}-role", "missing-role"), make_zip())
    assert error_code(excinfo) == "InvalidParameterValueException"
    create(client, name, role_arn, make_zip())
    lam = client("lambda")
    with pytest.raises(ClientError) as excinfo:
        lam.update_function_configuration(FunctionName=name, Role=not_lambda)
    assert error_code(excinfo) == "InvalidParameterValueException"
    assert lam.get_function_configuration(FunctionName=name)["Role"] == role_arn


def test_logging_config_defaults_to_text_and_keeps_json_levels(client, function):
    lam = client("lambda")
    name = function["FunctionName"]
    assert function["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN"})
    logging = lam.get_function_configuration(FunctionName=name)["LoggingConfig"]
    assert logging == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "WARN",
        "SystemLogLevel": "INFO",
        "LogGroup": f"/aws/lambda/{name}",
    }
    assert lam.get_function(FunctionName=name)["Configuration"]["LoggingConfig"] == logging


def test_a_log_level_with_text_format_is_refused_with_aws_message(client, function):
    with pytest.raises(ClientError) as excinfo:
        client("lambda").update_function_configuration(
            FunctionName=function["FunctionName"], LoggingConfig={"LogFormat": "Text", "ApplicationLogLevel": "INFO"}
        )
    assert error_code(excinfo) == "InvalidParameterValueException"
    assert 'LogLevel is not supported when LogFormat is set to "Text"' in excinfo.value.response["Error"]["Message"]


def test_versions_are_snapshots_numbered_once(client, function):
    """A published version keeps the code and configuration it was published with; publishing
    with nothing changed publishes nothing; numbers are never reused."""
    lam = client("lambda")
    name = function["FunctionName"]
    one = lam.publish_version(FunctionName=name)
    assert (one["Version"], one["FunctionArn"]) == ("1", function["FunctionArn"] + ":1")
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"MODE": "engine"}})
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    assert "Environment" not in lam.get_function_configuration(FunctionName=name, Qualifier="1")
    assert lam.get_function_configuration(FunctionName=one["FunctionArn"])["Version"] == "1"
    two = lam.get_function_configuration(FunctionName=f"{name}:2")
    assert two["Environment"] == {"Variables": {"MODE": "engine"}}
    lam.delete_function(FunctionName=name, Qualifier="2")
    code = lam.update_function_code(FunctionName=name, ZipFile=make_zip(b"v3"), Publish=True)
    assert code["Version"] == "3", "a deleted version's number is not reused"
    assert code["CodeSha256"] == sha256_b64(make_zip(b"v3"))
    listed = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
    assert listed == ["$LATEST", "1", "3"]


def test_a_mapping_invokes_the_version_it_names(client, function, stream_arn):
    lam = client("lambda")
    name = function["FunctionName"]
    one = lam.publish_version(FunctionName=name)["FunctionArn"]
    created = lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName=one, StartingPosition="LATEST")
    assert created["FunctionArn"] == one
    # Listed by the version it invokes, and by its stream; not by the unqualified function.
    assert [m["UUID"] for m in lam.list_event_source_mappings(FunctionName=one)["EventSourceMappings"]] == [created["UUID"]]
    assert lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"] == []
    lam.update_function_configuration(FunctionName=name, MemorySize=512)
    two = lam.publish_version(FunctionName=name)["FunctionArn"]
    moved = lam.update_event_source_mapping(UUID=created["UUID"], FunctionName=two)
    assert moved["FunctionArn"] == two
    lam.delete_event_source_mapping(UUID=created["UUID"])


def test_a_function_published_as_it_is_created_keeps_its_logging_config(client, role_arn, name):
    lam = client("lambda")
    created = create(client, name, role_arn, make_zip(), Publish=True,
                     LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN"})
    assert created["Version"] == "1"
    for qualifier in ("$LATEST", "1"):
        config = lam.get_function_configuration(FunctionName=name, Qualifier=qualifier)
        assert config["LoggingConfig"]["LogFormat"] == "JSON", qualifier
        assert config["LoggingConfig"]["ApplicationLogLevel"] == "WARN", qualifier
