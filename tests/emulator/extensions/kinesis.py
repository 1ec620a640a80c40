"""Kinesis Data Streams: what moto 5.2.5 lacks or gets wrong for the calls the provider makes.

* CreateStream without ShardCount and without StreamModeDetails crashed (HTTP 500): it now
  creates an ON_DEMAND stream; PROVISIONED without ShardCount is a ValidationException.
* CreateStream ignored ``Tags``.
* UpdateShardCount accepted any target: AWS refuses to scale above double or below half the
  open shard count (LimitExceededException), beyond 10000 shards, a ScalingType other than
  UNIFORM_SCALING, and a stream in ON_DEMAND mode (moto already did the last). Its response
  lacked ``StreamARN``.
* DescribeStreamSummary lacked ``ConsumerCount``.
* DeleteStream ignored ``EnforceConsumerDeletion``: a stream with registered consumers is
  only deleted when it is true (ResourceInUseException otherwise).
* PutRecord(s) on a stream with a Lambda event source mapping invoked the function
  synchronously inside the PutRecords call, through Docker (absent here): the emulator does
  not run functions, so records are only stored (read them with GetRecords).
* PutRecord(s) after a reshard could write into a closed parent shard (moto looked for the
  hash key among all shards, and missed the last key of each range); concurrent puts could
  share a sequence number. Records now go to the open shard only, one put at a time.
* GetShardIterator by StreamARN (no StreamName) returned an iterator naming the stream "None",
  which GetRecords without StreamARN then could not find.
* GetRecords at the end of a closed shard kept returning a NextShardIterator; AWS returns none
  (the shard is finished) and lists ``ChildShards``.
* Every put copied the list of all the shard's sequence numbers to find the last one, so puts
  slowed down as the stream filled (from about 2,500 to under 400 records/s by 138,000
  records): the last number is now read off the end.
* Every GetRecords looked at each record from the shard's first to find those after its
  position, so reading the end of a filling stream slowed down with everything before it
  (33 ms a call at the end of a 400,000-record shard, even with nothing to return): the
  records after the position are now looked up by sequence number (0.05 ms for 500).
"""

from __future__ import annotations

import threading
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.core.exceptions import JsonRESTError
from moto.kinesis.exceptions import InvalidArgumentError, ResourceInUseError
from moto.kinesis.models import Shard, Stream
from moto.kinesis.responses import KinesisResponse
from moto.kinesis.utils import decompose_shard_iterator
from moto.utilities.utils import md5_hash

from ._support import override

MAX_SHARDS_PER_STREAM = 10000


class KinesisValidationError(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__(error_type="ValidationException", message=message)


class LimitExceededError(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__(error_type="LimitExceededException", message=message)


def _open_shard_count(stream: Stream) -> int:
    return len([s for s in stream.shards.values() if s.is_open])


_PUT_LOCK = threading.Lock()


def _open_shard_for_key(stream: Stream, partition_key: str, explicit_hash_key: str | None) -> Any:
    """The open shard whose hash key range holds the record (moto also considered closed
    shards, and missed the last key of a range)."""
    if not isinstance(partition_key, str) or not 1 <= len(partition_key) <= 256:
        raise InvalidArgumentError("partition_key")
    if explicit_hash_key:
        try:
            key = int(explicit_hash_key)
        except (TypeError, ValueError):
            raise InvalidArgumentError("explicit_hash_key")
        if not 0 <= key < 2**128:
            raise InvalidArgumentError("explicit_hash_key")
    else:
        key = int(md5_hash(partition_key.encode("utf-8")).hexdigest(), 16)
    for shard in stream.shards.values():
        if shard.is_open and shard.starting_hash <= key <= shard.ending_hash:
            return shard
    raise InvalidArgumentError(f"No open shard of stream {stream.stream_name} covers hash key {key}")


def register() -> None:
    @override(Shard, "get_max_sequence_number")
    def get_max_sequence_number(original: Any, self: Shard) -> int:
        # Records are kept in insertion (= sequence) order.
        return next(reversed(self.records), 0)

    @override(Shard, "get_min_sequence_number")
    def get_min_sequence_number(original: Any, self: Shard) -> int:
        return next(iter(self.records), 0)

    @override(Shard, "get_records")
    def get_records(
        original: Any, self: Shard, last_sequence_id: str, limit: int | None
    ) -> tuple[list[Any], int, int]:
        # moto looked at every record from the shard's first on each call. A shard's
        # sequence numbers are consecutive (every put takes the last one plus one), so the
        # records after a position are looked up by number; any other shape is moto's scan.
        records = self.records
        last = int(last_sequence_id)
        if not records:
            return [], last, 0
        first, final = next(iter(records)), next(reversed(records))
        if final - first + 1 != len(records):
            return original(self, last_sequence_id, limit)
        start = max(last + 1, first)
        if start > final:
            return [], last, 0
        stop = final if not limit else min(final, start + limit - 1)
        results = [records[number] for number in range(start, stop + 1)]
        behind = records[final].created_at - results[-1].created_at
        return results, stop, int(behind * 1000)

    @override(KinesisResponse, "create_stream")
    def create_stream(original: Any, self: KinesisResponse) -> ActionResult:
        stream_name = self._get_param("StreamName")
        shard_count = self._get_param("ShardCount")
        stream_mode = self._get_param("StreamModeDetails")
        tags = self._get_param("Tags")
        mode = (stream_mode or {}).get("StreamMode")
        if mode not in (None, "PROVISIONED", "ON_DEMAND"):
            raise KinesisValidationError(
                f"1 validation error detected: Value '{mode}' at 'streamModeDetails.streamMode' "
                "failed to satisfy constraint: Member must satisfy enum value set: [ON_DEMAND, PROVISIONED]"
            )
        if shard_count is None:
            if mode == "PROVISIONED":
                raise KinesisValidationError(
                    "ShardCount is required for a stream in PROVISIONED mode."
                )
            # No capacity given at all: AWS creates an on-demand stream.
            stream_mode = {"StreamMode": "ON_DEMAND"}
        elif not isinstance(shard_count, int) or shard_count < 1:
            raise KinesisValidationError(
                f"1 validation error detected: Value '{shard_count}' at 'shardCount' failed to "
                "satisfy constraint: Member must have value greater than or equal to 1"
            )
        stream = self.kinesis_backend.create_stream(stream_name, shard_count or 4, stream_mode=stream_mode)
        if tags:
            stream.tags.update(tags)
        return EmptyResult()

    @override(KinesisResponse, "update_shard_count")
    def update_shard_count(original: Any, self: KinesisResponse) -> ActionResult:
        stream_arn = self._get_param("StreamARN")
        stream_name = self._get_param("StreamName")
        target = self._get_param("TargetShardCount")
        scaling_type = self._get_param("ScalingType")
        stream = self.kinesis_backend.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        if scaling_type != "UNIFORM_SCALING":
            raise KinesisValidationError(
                f"1 validation error detected: Value '{scaling_type}' at 'scalingType' failed to "
                "satisfy constraint: Member must satisfy enum value set: [UNIFORM_SCALING]"
            )
        if not isinstance(target, int) or target < 1:
            raise KinesisValidationError(
                f"1 validation error detected: Value '{target}' at 'targetShardCount' failed to "
                "satisfy constraint: Member must have value greater than or equal to 1"
            )
        if stream.stream_mode.get("StreamMode") != "ON_DEMAND":
            current = _open_shard_count(stream)
            if target > MAX_SHARDS_PER_STREAM:
                raise LimitExceededError(
                    f"Target shard count or number of open shards cannot be greater than "
                    f"{MAX_SHARDS_PER_STREAM}. Current open shard count: {current}, "
                    f"Target shard count: {target}"
                )
            if target > current * 2:
                raise LimitExceededError(
                    "UpdateShardCount cannot scale up over double your current open shard count. "
                    f"Current open shard count: {current}, Target shard count: {target}"
                )
            if target * 2 < current:
                raise LimitExceededError(
                    "UpdateShardCount cannot scale down below half your current open shard count. "
                    f"Current open shard count: {current}, Target shard count: {target}"
                )
        current = self.kinesis_backend.update_shard_count(
            stream_arn=stream.arn, stream_name=stream.stream_name, target_shard_count=target
        )
        return ActionResult(
            {
                "StreamName": stream.stream_name,
                "CurrentShardCount": current,
                "TargetShardCount": target,
                "StreamARN": stream.arn,
            }
        )

    @override(Stream, "to_json_summary")
    def to_json_summary(original: Any, self: Stream) -> dict[str, Any]:
        result = original(self)
        summary = result["StreamDescriptionSummary"]
        summary["ConsumerCount"] = len(self.consumers)
        summary["OpenShardCount"] = _open_shard_count(self)
        if summary.get("KeyId") is None:
            summary.pop("KeyId", None)
        return result

    @override(KinesisResponse, "delete_stream")
    def delete_stream(original: Any, self: KinesisResponse) -> ActionResult:
        stream_arn = self._get_param("StreamARN")
        stream_name = self._get_param("StreamName")
        enforce = bool(self._get_param("EnforceConsumerDeletion", False))
        stream = self.kinesis_backend.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        if stream.consumers and not enforce:
            raise ResourceInUseError(
                f"Stream {stream.arn} has registered consumers; use EnforceConsumerDeletion "
                "to delete them with the stream."
            )
        return original(self)

    @override(Stream, "put_record")
    def put_record(
        original: Any, self: Stream, partition_key: str, explicit_hash_key: str, data: str
    ) -> tuple[str, str]:
        # moto's own version also invokes every mapped Lambda function, synchronously and
        # through Docker, and may pick a closed (split or merged) shard.
        shard = _open_shard_for_key(self, partition_key, explicit_hash_key)
        with _PUT_LOCK:  # Shard.put_record is not safe for concurrent requests
            sequence_number = shard.put_record(partition_key, data, explicit_hash_key)
        return sequence_number, shard.shard_id

    @override(KinesisResponse, "get_shard_iterator")
    def get_shard_iterator(original: Any, self: KinesisResponse) -> ActionResult:
        stream = self.kinesis_backend.describe_stream(
            stream_arn=self._get_param("StreamARN"), stream_name=self._get_param("StreamName")
        )
        iterator = self.kinesis_backend.get_shard_iterator(
            None,
            stream.stream_name,  # moto put the literal "None" in iterators asked for by ARN
            self._get_param("ShardId"),
            self._get_param("ShardIteratorType"),
            self._get_param("StartingSequenceNumber"),
            self._get_param("Timestamp"),
        )
        return ActionResult({"ShardIterator": iterator})

    @override(KinesisResponse, "get_records")
    def get_records(original: Any, self: KinesisResponse) -> ActionResult:
        result = original(self)
        body = result.result
        stream_name, shard_id, _ = decompose_shard_iterator(self._get_param("ShardIterator"))
        stream = self.kinesis_backend.describe_stream(
            stream_arn=self._get_param("StreamARN"), stream_name=stream_name
        )
        shard = stream.get_shard(shard_id)
        if not shard.is_open:
            position = decompose_shard_iterator(body["NextShardIterator"])[-1]
            if int(position) >= shard.get_max_sequence_number():
                # The end of a closed shard: no next iterator, and the children to go on with.
                del body["NextShardIterator"]
                body["ChildShards"] = [
                    {
                        "ShardId": child.shard_id,
                        "ParentShards": [p for p in (child.parent, child.adjacent_parent) if p],
                        "HashKeyRange": {
                            "StartingHashKey": str(child.starting_hash),
                            "EndingHashKey": str(child.ending_hash),
                        },
                    }
                    for child in stream.shards.values()
                    if shard.shard_id in (child.parent, child.adjacent_parent)
                ]
        return result
