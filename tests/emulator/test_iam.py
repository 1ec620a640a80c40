"""IAM role calls made by the provider."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from conftest import LAMBDA_TRUST

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["kinesis:GetRecords"], "Resource": "*"}],
    }
)


def error_code(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_role_lifecycle(client, name):
    iam = client("iam")
    created = iam.create_role(
        RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST, Tags=[{"Key": "team", "Value": "etl"}]
    )["Role"]
    assert created["Arn"] == f"arn:aws:iam::123456789012:role/{name}"
    role = iam.get_role(RoleName=name)["Role"]
    assert role["AssumeRolePolicyDocument"] == json.loads(LAMBDA_TRUST)
    assert role["Tags"] == [{"Key": "team", "Value": "etl"}]

    iam.put_role_policy(RoleName=name, PolicyName="access", PolicyDocument=POLICY)
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["access"]
    got = iam.get_role_policy(RoleName=name, PolicyName="access")
    assert got["PolicyDocument"] == json.loads(POLICY)

    trust = json.loads(LAMBDA_TRUST)
    trust["Statement"][0]["Principal"]["Service"] = ["lambda.amazonaws.com", "kinesisanalytics.amazonaws.com"]
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == trust

    iam.tag_role(RoleName=name, Tags=[{"Key": "env", "Value": "test"}])
    iam.untag_role(RoleName=name, TagKeys=["team"])
    assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "env", "Value": "test"}]

    with pytest.raises(ClientError) as excinfo:  # inline policies must go first
        iam.delete_role(RoleName=name)
    assert error_code(excinfo) == "DeleteConflict"
    iam.delete_role_policy(RoleName=name, PolicyName="access")
    with pytest.raises(ClientError) as excinfo:
        iam.get_role_policy(RoleName=name, PolicyName="access")
    assert error_code(excinfo) == "NoSuchEntity"
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as excinfo:
        iam.get_role(RoleName=name)
    assert error_code(excinfo) == "NoSuchEntity"


def test_policy_documents_are_url_encoded_on_the_wire(client, name):
    iam = client("iam")
    raw = []
    handler = lambda http_response, **_: raw.append(http_response.content.decode())  # noqa: E731
    iam.meta.events.register("after-call.iam.GetRole", handler)
    try:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)
        iam.get_role(RoleName=name)
    finally:
        iam.meta.events.unregister("after-call.iam.GetRole", handler)
    assert "<AssumeRolePolicyDocument>%7B%22Version%22" in raw[0]


@pytest.mark.parametrize("document", ["{not json", json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "s3:GetObject"}]})])
def test_create_role_rejects_malformed_trust_policy(client, name, document):
    with pytest.raises(ClientError) as excinfo:
        client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=document)
    assert error_code(excinfo) == "MalformedPolicyDocument"


def test_put_role_policy_rejects_malformed_policy(client, name):
    iam = client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)
    with pytest.raises(ClientError) as excinfo:
        iam.put_role_policy(RoleName=name, PolicyName="bad", PolicyDocument="{not json")
    assert error_code(excinfo) == "MalformedPolicyDocument"
