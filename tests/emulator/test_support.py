"""The helpers extensions build on (in-process: no emulator needed)."""

from __future__ import annotations

import datetime
import json

from werkzeug.test import Client
from werkzeug.wrappers import Response

from extensions import _support


def inner_app(environ, start_response):
    return Response("moto", status=200)(environ, start_response)


def test_override_wraps_the_original_once():
    class Thing:
        def value(self, x):
            return x + 1

    for _ in range(2):  # registering twice must not stack

        @_support.override(Thing, "value")
        def value(original, self, x):
            return original(self, x) * 10

    assert Thing().value(1) == 20


def test_json_service_routing_errors_and_passthrough():
    calls = []

    def handler(context, body):
        calls.append((context.operation, context.region, context.account_id, body))
        if context.operation == "Fail":
            raise _support.AwsError("ResourceNotFoundException", "no such thing")
        return {"Echo": body, "At": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)}

    _support.add_json_service("TestService_20240101", handler)
    client = Client(_support._json_services_middleware(inner_app))
    auth = "AWS4-HMAC-SHA256 Credential=testing/20240101/eu-west-1/test/aws4_request, SignedHeaders=host, Signature=0"
    headers = {"X-Amz-Target": "TestService_20240101.Describe", "Authorization": auth,
               "Content-Type": "application/x-amz-json-1.1"}

    ok = client.post("/", data=json.dumps({"Name": "a"}), headers=headers)
    assert ok.status_code == 200
    assert json.loads(ok.get_data()) == {"Echo": {"Name": "a"}, "At": 1704067200.0}
    assert calls[-1][:3] == ("Describe", "eu-west-1", "123456789012")

    headers["X-Amz-Target"] = "TestService_20240101.Fail"
    headers["x-moto-account-id"] = "111122223333"
    failed = client.post("/", data="{}", headers=headers)
    assert failed.status_code == 400
    assert failed.headers["X-Amzn-ErrorType"] == "ResourceNotFoundException"
    assert json.loads(failed.get_data()) == {"__type": "ResourceNotFoundException", "message": "no such thing"}
    assert calls[-1][2] == "111122223333"

    headers["X-Amz-Target"] = "Kinesis_20131202.ListStreams"
    assert client.post("/", data="{}", headers=headers).get_data(as_text=True) == "moto"
