"""CloudWatch in Smithy RPC v2 CBOR, the protocol the provider's SDK speaks (extensions/cloudwatch.py).

The requests are made by botocore's own CBOR serializer and the answers read by its CBOR parser,
as an SDK that speaks CBOR would; boto3 itself picks JSON for CloudWatch.
"""

from __future__ import annotations

import datetime
import json
import time
import urllib.error
import urllib.request

import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

MODEL = ServiceModel(Loader().load_service_model("cloudwatch", "service-2"), "cloudwatch")


def cbor_call(endpoint: str, operation: str, params: dict) -> tuple[int, dict]:
    """Sends ``operation`` in CBOR; its status and the answer as botocore parses it."""
    op = MODEL.operation_model(operation)
    request = create_serializer("smithy-rpc-v2-cbor").serialize_to_request(params, op)
    headers = dict(request["headers"])
    headers["Authorization"] = (
        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/monitoring/aws4_request, "
        "SignedHeaders=host, Signature=0"
    )
    sent = urllib.request.Request(
        endpoint + request["url_path"], data=request["body"], headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(sent, timeout=10) as answer:
            status, answer_headers, body = answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, body = error.code, dict(error.headers), error.read()
    lowered = {k.lower(): v for k, v in answer_headers.items()}
    assert lowered.get("smithy-protocol") == "rpc-v2-cbor"
    parsed = create_parser("smithy-rpc-v2-cbor").parse(
        {"status_code": status, "headers": lowered, "body": body}, op.output_shape
    )
    return status, parsed


def test_an_alarm_made_and_read_in_cbor_keeps_its_threshold_dimensions_and_times(endpoint, name):
    status, _ = cbor_call(
        endpoint,
        "PutMetricAlarm",
        {
            "AlarmName": f"{name}-errors",
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": name}],
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": 5,
            "DatapointsToAlarm": 3,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [f"arn:aws:sns:us-east-1:123456789012:{name}"],
            "Tags": [{"Key": "unifiedetl:pipeline", "Value": name}],
        },
    )
    assert status == 200
    status, out = cbor_call(endpoint, "DescribeAlarms", {"AlarmNames": [f"{name}-errors"]})
    assert status == 200
    (alarm,) = out["MetricAlarms"]
    assert alarm["Threshold"] == 1.0
    assert alarm["EvaluationPeriods"] == 5
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": name}]
    assert alarm["AlarmActions"] == [f"arn:aws:sns:us-east-1:123456789012:{name}"]
    assert isinstance(alarm["AlarmConfigurationUpdatedTimestamp"], datetime.datetime)
    status, out = cbor_call(endpoint, "ListTagsForResource", {"ResourceARN": alarm["AlarmArn"]})
    assert out["Tags"] == [{"Key": "unifiedetl:pipeline", "Value": name}]


def test_metric_data_sent_in_cbor_is_read_back_by_its_timestamp(endpoint, name):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    status, _ = cbor_call(
        endpoint,
        "PutMetricData",
        {
            "Namespace": "unifiedetl",
            "MetricData": [
                {
                    "MetricName": "RecordsFailed",
                    "Dimensions": [{"Name": "FunctionName", "Value": name}],
                    "Timestamp": now,
                    "Value": 7,
                    "Unit": "Count",
                }
            ],
        },
    )
    assert status == 200
    status, out = cbor_call(
        endpoint,
        "GetMetricStatistics",
        {
            "Namespace": "unifiedetl",
            "MetricName": "RecordsFailed",
            "Dimensions": [{"Name": "FunctionName", "Value": name}],
            "StartTime": now - datetime.timedelta(minutes=5),
            "EndTime": now + datetime.timedelta(minutes=5),
            "Period": 60,
            "Statistics": ["Sum"],
        },
    )
    assert status == 200
    assert [p["Sum"] for p in out["Datapoints"]] == [7.0]


def test_an_error_keeps_its_status_and_code_in_cbor(endpoint, name):
    status, out = cbor_call(endpoint, "GetDashboard", {"DashboardName": f"{name}-missing"})
    assert status == 404
    assert out["Error"]["Code"] == "ResourceNotFound"


def test_a_dashboard_put_in_cbor_is_read_back_whole(endpoint, name):
    body = '{"widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 2, "properties": {"markdown": "x"}}]}'
    status, out = cbor_call(endpoint, "PutDashboard", {"DashboardName": name, "DashboardBody": body})
    assert status == 200
    status, out = cbor_call(endpoint, "GetDashboard", {"DashboardName": name})
    assert (status, out["DashboardBody"], out["DashboardName"]) == (200, body, name)
    status, _ = cbor_call(endpoint, "DeleteDashboards", {"DashboardNames": [name]})
    assert status == 200


@pytest.mark.parametrize("operation", ["DescribeAlarms"])
def test_json_clients_are_answered_as_before(client, operation):
    assert "MetricAlarms" in client("cloudwatch").describe_alarms()


def errors_alarm(cw, name: str, topic: str | None = None, missing: str = "notBreaching", threshold: float = 1) -> None:
    cw.put_metric_alarm(
        AlarmName=f"{name}-errors",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": name}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        DatapointsToAlarm=1,
        Threshold=threshold,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData=missing,
        AlarmActions=[topic] if topic else [],
    )


def alarm_of(cw, name: str) -> dict:
    (alarm,) = cw.describe_alarms(AlarmNames=[f"{name}-errors"])["MetricAlarms"]
    return alarm


def test_an_alarm_goes_to_alarm_when_its_metric_crosses_the_threshold_and_notifies_its_topic(client, name):
    cw, sns, sqs = client("cloudwatch"), client("sns"), client("sqs")
    topic = sns.create_topic(Name=f"{name}-alarms")["TopicArn"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    errors_alarm(cw, name, topic)
    # No data, missing data not breaching: OK once evaluated.
    assert alarm_of(cw, name)["StateValue"] == "OK"
    cw.put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[{"MetricName": "Errors", "Dimensions": [{"Name": "FunctionName", "Value": name}], "Value": 3, "Unit": "Count"}],
    )
    alarm = alarm_of(cw, name)
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [3.0 (")
    assert "was greater than or equal to the threshold (1.0)" in alarm["StateReason"]
    (message,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    body = json.loads(message["Body"])
    assert (body["AlarmName"], body["OldStateValue"], body["NewStateValue"]) == (f"{name}-errors", "OK", "ALARM")
    # Another metric's data, or another function's, does not count.
    cw.put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[{"MetricName": "Errors", "Dimensions": [{"Name": "FunctionName", "Value": "other"}], "Value": 9}],
    )
    # An update keeps the state; a higher threshold is then judged on the same data.
    errors_alarm(cw, name, topic, threshold=5)
    assert alarm_of(cw, name)["StateValue"] == "OK"


def test_a_new_alarm_with_no_data_treated_as_missing_has_insufficient_data(client, name):
    cw = client("cloudwatch")
    errors_alarm(cw, name, missing="missing")
    alarm = alarm_of(cw, name)
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"


def test_an_alarm_sums_its_own_series_in_its_period_whatever_order_the_data_came_in(client, name):
    cw = client("cloudwatch")
    errors_alarm(cw, name, threshold=5)
    now = datetime.datetime.now(datetime.timezone.utc)
    if now.second >= 50:  # the whole test within one minute's period
        time.sleep(61 - now.second)
        now = datetime.datetime.now(datetime.timezone.utc)
    period_start = now.replace(second=0, microsecond=0)

    def put(value: float, at: datetime.datetime, function: str = name) -> None:
        cw.put_metric_data(Namespace="AWS/Lambda", MetricData=[{
            "MetricName": "Errors", "Dimensions": [{"Name": "FunctionName", "Value": function}],
            "Value": value, "Unit": "Count", "Timestamp": at}])

    put(2, now)
    put(100, period_start - datetime.timedelta(seconds=30))  # the period before: not counted
    put(100, now, function=f"{name}-other")  # another function's series
    assert alarm_of(cw, name)["StateValue"] == "OK"
    put(3, period_start)  # put after a later datum, in the same period: 2 + 3 reaches 5
    alarm = alarm_of(cw, name)
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [5.0 (")
