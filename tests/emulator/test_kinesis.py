"""Kinesis Data Streams calls made by the provider (and by the pipeline's tests)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def summary(kinesis, name: str) -> dict:
    return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]


def error_code(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_create_provisioned_and_describe_summary(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=2, StreamModeDetails={"StreamMode": "PROVISIONED"})
    s = summary(kinesis, name)
    assert s["StreamName"] == name
    assert s["StreamStatus"] == "ACTIVE"
    assert s["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert s["RetentionPeriodHours"] == 24
    assert s["EncryptionType"] == "NONE"
    assert "KeyId" not in s
    assert s["OpenShardCount"] == 2
    assert s["ConsumerCount"] == 0
    assert s["StreamARN"] == f"arn:aws:kinesis:us-east-1:123456789012:stream/{name}"


def test_create_on_demand_without_shard_count(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    s = summary(kinesis, name)
    assert s["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert s["OpenShardCount"] == 4


def test_create_without_capacity_is_on_demand(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name)  # moto crashed (HTTP 500)
    assert summary(kinesis, name)["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}


def test_create_provisioned_without_shard_count_is_rejected(client, name):
    with pytest.raises(ClientError) as excinfo:
        client("kinesis").create_stream(StreamName=name, StreamModeDetails={"StreamMode": "PROVISIONED"})
    assert error_code(excinfo) == "ValidationException"


def test_create_duplicate_is_resource_in_use(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    with pytest.raises(ClientError) as excinfo:
        kinesis.create_stream(StreamName=name, ShardCount=1)
    assert error_code(excinfo) == "ResourceInUseException"


def test_create_with_tags(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1, Tags={"team": "etl"})
    assert kinesis.list_tags_for_stream(StreamName=name)["Tags"] == [{"Key": "team", "Value": "etl"}]


def test_encryption_start_and_stop(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    s = summary(kinesis, name)
    assert (s["EncryptionType"], s["KeyId"]) == ("KMS", "alias/aws/kinesis")
    kinesis.stop_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    s = summary(kinesis, name)
    assert s["EncryptionType"] == "NONE"
    assert "KeyId" not in s


def test_update_shard_count_uniform_scaling(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=2, StreamModeDetails={"StreamMode": "PROVISIONED"})
    arn = summary(kinesis, name)["StreamARN"]
    response = kinesis.update_shard_count(StreamName=name, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    assert response["CurrentShardCount"] == 2
    assert response["TargetShardCount"] == 4
    assert response["StreamARN"] == arn
    assert summary(kinesis, name)["OpenShardCount"] == 4
    kinesis.update_shard_count(StreamARN=arn, TargetShardCount=3, ScalingType="UNIFORM_SCALING")
    assert summary(kinesis, name)["OpenShardCount"] == 3


@pytest.mark.parametrize("start,target", [(1, 3), (4, 1)])
def test_update_shard_count_limits(client, name, start, target):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=start)
    with pytest.raises(ClientError) as excinfo:
        kinesis.update_shard_count(StreamName=name, TargetShardCount=target, ScalingType="UNIFORM_SCALING")
    assert error_code(excinfo) == "LimitExceededException"
    assert summary(kinesis, name)["OpenShardCount"] == start


def test_update_shard_count_on_demand_is_rejected(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    with pytest.raises(ClientError) as excinfo:
        kinesis.update_shard_count(StreamName=name, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    assert error_code(excinfo) == "ValidationException"


def test_retention_period(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=72)
    assert summary(kinesis, name)["RetentionPeriodHours"] == 72
    kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=48)
    assert summary(kinesis, name)["RetentionPeriodHours"] == 48
    for call, hours in (
        (kinesis.increase_stream_retention_period, 24),  # shorter than the current period
        (kinesis.decrease_stream_retention_period, 96),  # longer than the current period
        (kinesis.decrease_stream_retention_period, 12),  # below the 24 h minimum
        (kinesis.increase_stream_retention_period, 8761),  # above the 8760 h maximum
    ):
        with pytest.raises(ClientError) as excinfo:
            call(StreamName=name, RetentionPeriodHours=hours)
        assert error_code(excinfo) == "InvalidArgumentException"
    assert summary(kinesis, name)["RetentionPeriodHours"] == 48


def test_update_stream_mode_both_ways(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=2, StreamModeDetails={"StreamMode": "PROVISIONED"})
    arn = summary(kinesis, name)["StreamARN"]
    kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    assert summary(kinesis, name)["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "PROVISIONED"})
    s = summary(kinesis, name)
    assert s["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert s["OpenShardCount"] == 2


def test_tags_add_remove_list(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = summary(kinesis, name)["StreamARN"]
    kinesis.add_tags_to_stream(StreamName=name, Tags={"a": "1", "b": "2"})
    kinesis.add_tags_to_stream(StreamARN=arn, Tags={"c": "3", "a": "10"})
    kinesis.remove_tags_from_stream(StreamName=name, TagKeys=["b"])
    tags = kinesis.list_tags_for_stream(StreamARN=arn)
    assert {t["Key"]: t["Value"] for t in tags["Tags"]} == {"a": "10", "c": "3"}
    assert tags["HasMoreTags"] is False


def test_delete_stream(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    with pytest.raises(ClientError) as excinfo:
        summary(kinesis, name)
    assert error_code(excinfo) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_delete_stream_with_consumers_needs_enforce(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = summary(kinesis, name)["StreamARN"]
    kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="c1")
    assert summary(kinesis, name)["ConsumerCount"] == 1
    with pytest.raises(ClientError) as excinfo:
        kinesis.delete_stream(StreamName=name)
    assert error_code(excinfo) == "ResourceInUseException"
    kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


def read_all(kinesis, stream_name: str, iterator_type: str = "TRIM_HORIZON", by_arn: str | None = None) -> list[dict]:
    records = []
    for shard in kinesis.list_shards(StreamName=stream_name)["Shards"]:
        where = {"StreamARN": by_arn} if by_arn else {"StreamName": stream_name}
        iterator = kinesis.get_shard_iterator(ShardId=shard["ShardId"], ShardIteratorType=iterator_type, **where)
        records += kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return records


def test_put_records_and_read_them_back(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=2)
    latest = {
        shard["ShardId"]: kinesis.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
        )["ShardIterator"]
        for shard in kinesis.list_shards(StreamName=name)["Shards"]
    }
    sent = [{"Data": f"record-{i}".encode(), "PartitionKey": f"key-{i}"} for i in range(20)]
    response = kinesis.put_records(StreamName=name, Records=sent)
    assert response["FailedRecordCount"] == 0
    assert len(response["Records"]) == 20
    assert all("SequenceNumber" in r and "ShardId" in r for r in response["Records"])

    got = read_all(kinesis, name)
    assert sorted(r["Data"] for r in got) == sorted(r["Data"] for r in sent)
    assert {r["PartitionKey"] for r in got} == {r["PartitionKey"] for r in sent}
    # A LATEST iterator taken before the put sees every record put after it.
    after_latest = []
    for iterator in latest.values():
        after_latest += kinesis.get_records(ShardIterator=iterator)["Records"]
    assert len(after_latest) == 20


def test_sequence_numbers_keep_rising_as_a_shard_fills(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    numbers = []
    for batch in range(4):
        sent = [{"Data": f"{batch}-{i}".encode(), "PartitionKey": "k"} for i in range(500)]
        numbers += [int(r["SequenceNumber"]) for r in kinesis.put_records(StreamName=name, Records=sent)["Records"]]
    assert numbers == sorted(numbers) and len(set(numbers)) == 2000
    got = read_all(kinesis, name)
    assert [int(r["SequenceNumber"]) for r in got] == numbers[: len(got)]


def test_shard_iterator_by_stream_arn(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = summary(kinesis, name)["StreamARN"]
    kinesis.put_records(StreamARN=arn, Records=[{"Data": b"x", "PartitionKey": "p"}])
    # GetRecords without StreamARN must still find the stream behind the iterator.
    assert [r["Data"] for r in read_all(kinesis, name, by_arn=arn)] == [b"x"]


def test_records_after_reshard_go_to_open_shards(client, name):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.update_shard_count(StreamName=name, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    shards = kinesis.list_shards(StreamName=name)["Shards"]
    open_ids = {s["ShardId"] for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]}
    closed_ids = {s["ShardId"] for s in shards} - open_ids
    assert len(open_ids) == 2 and len(closed_ids) == 1
    response = kinesis.put_records(
        StreamName=name, Records=[{"Data": b"d", "PartitionKey": f"k{i}"} for i in range(10)]
    )
    assert {r["ShardId"] for r in response["Records"]} <= open_ids
    # The end of the closed parent: no next iterator, its children listed instead.
    (parent,) = closed_ids
    iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=parent, ShardIteratorType="TRIM_HORIZON")
    result = kinesis.get_records(ShardIterator=iterator["ShardIterator"])
    assert "NextShardIterator" not in result
    assert {c["ShardId"] for c in result["ChildShards"]} == open_ids


def test_get_records_by_sequence_number_reads_what_moto_read():
    """In-process: GetRecords looks up the records after its position by sequence number
    instead of walking the shard from its first record; every position and limit reads the
    same records, next position and MillisBehindLatest as moto's walk, and a shard whose
    numbers are not consecutive is still read by the walk."""
    from moto.kinesis.models import Shard

    from extensions import _support, kinesis

    kinesis.register()
    walk = getattr(Shard.get_records, _support._PATCHED_MARK)
    shard = Shard(0, 0, 2**128 - 1)
    assert shard.get_records("0", None) == walk(shard, "0", None) == ([], 0, 0)
    for n in range(50):
        shard.put_record(f"key-{n}", f"data-{n}", None)
        shard.records[n + 1].created_at = 1000.0 + n / 4  # MillisBehindLatest is exact
    assert (shard.get_min_sequence_number(), shard.get_max_sequence_number()) == (1, 50)
    for last in (0, 1, 7, 49, 50, 60):
        for limit in (None, 1, 3, 43, 50, 100):
            assert shard.get_records(str(last), limit) == walk(shard, str(last), limit), (last, limit)
    assert shard.get_records("10", 5)[1:] == (15, 8750)

    del shard.records[20]
    for last in (0, 18, 19, 20):
        assert shard.get_records(str(last), 4) == walk(shard, str(last), 4), last
    assert [r.sequence_number for r in shard.get_records("18", 3)[0]] == [19, 21, 22]
