"""DynamoDB tables: what moto 5.2.5 lacks or gets wrong for the calls the provider makes.

* UpdateTable ignored ``SSESpecification``: encryption could be neither enabled nor
  disabled after creation. Enabling now sets KMS encryption (the given key, or the AWS
  managed key ``alias/aws/dynamodb``); disabling returns the table to the AWS owned key, which
  DescribeTable reports by leaving ``SSEDescription`` out (as for a table created with
  ``Enabled: false``).
* Switching a table to PAY_PER_REQUEST kept reporting the old provisioned capacity: AWS
  reports ``ProvisionedThroughput`` 0/0 for on-demand tables and sets
  ``BillingModeSummary.LastUpdateToPayPerRequestDateTime``.
* UpdateTable accepted ProvisionedThroughput for an on-demand table, a switch to PROVISIONED
  without ProvisionedThroughput, and an update with nothing to change; AWS answers
  ValidationException to each, and to a throughput "change" to the current values.
* ``SSEDescription.KMSMasterKeyArn`` echoed the key id given (an alias, say) instead of the
  key's ARN.
* DeleteTable answered ``TableStatus: ACTIVE`` (AWS: DELETING); on a table with deletion
  protection its ValidationException said "...can't be deleted while DeletionProtectionEnabled
  is set to True" (AWS: "Resource cannot be deleted as it is currently protected against
  deletion. Disable deletion protection first.").
* ``ProvisionedThroughput.NumberOfDecreasesToday`` went missing after an update.
* TagResource with a key the table already has added a second tag with that key (AWS
  overwrites the value); TagResource/UntagResource on an unknown ARN succeeded silently
  (AWS: ResourceNotFoundException).
* Requests were not atomic with respect to each other: the server runs one thread per
  request and moto checks a condition (of PutItem, or of every item of TransactWriteItems)
  and then writes, so another request could slip in between. DynamoDB applies each request
  atomically; every DynamoDB request now runs under one lock.
* TransactWriteItems deep-copied every table it named before writing, to put the copy back if
  the transaction was cancelled: a request cost time in proportion to the tables' sizes (on the
  benchmark's sink, tens of times a PutItem's). It now saves only the items it writes, before
  writing each, and puts those back; the outcomes, errors and cancellation reasons are moto's.
  A request with two operations in one entry is refused before anything stays written (moto
  kept the writes of the entries before it).
* Query on a table (not an index) went through every item of the table to find the partition's:
  a request cost time in proportion to the table's size (1.2 s at 100,000 items). It now reads
  the partition it names; the rest (order, ranges, filters, pages, projections) is moto's.
* Every page of a Scan sorted all the table's items and then walked them from the first to
  find the page's start: a paged scan of the whole table cost time in proportion to the square
  of its size (a 100,000-item table 41.5 s in-process, 9.3 s now). The table's keys are
  now sorted once, kept until an item is put or deleted, and each page starts at its
  ExclusiveStartKey; filters, limits, page sizes and segments are moto's.
* GetItem, BatchGetItem, Query and Scan answers went through moto's model-driven serializer,
  which walks every attribute of every item returned against the API's shapes: about a
  millisecond per item, most of a read's time. Their results are already DynamoDB's JSON
  (attribute values in their wire form), so they are now written out as JSON directly.
"""

from __future__ import annotations

import base64
import bisect
import copy
import functools
import inspect
import json
import os
import threading
from typing import Any

from moto.core.responses import ActionContext, ActionResult
from moto.core.utils import utcnow
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    ResourceNotFoundException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler, DynamoResult

from ._support import override

# Members of UpdateTable that request a change (TableName and AttributeDefinitions do not).
CHANGE_MEMBERS = (
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexUpdates",
    "StreamSpecification",
    "SSESpecification",
    "ReplicaUpdates",
    "TableClass",
    "DeletionProtectionEnabled",
    "OnDemandThroughput",
    "WarmThroughput",
    "MultiRegionConsistency",
    "GlobalTableWitnessUpdates",
)


def _resolve_kms_key(table: Table, key_id: str | None) -> str:
    """The ARN of a KMS key given by id, ARN, alias or alias ARN (default: the DynamoDB
    AWS managed key, created on first use as AWS does)."""
    from moto.kms.models import kms_backends

    if not key_id or key_id in ("alias/aws/dynamodb",) or key_id.endswith(":alias/aws/dynamodb"):
        return table._get_default_encryption_key(table.account_id, table.region_name)
    if key_id.startswith("arn:") and ":key/" in key_id:
        return key_id
    kms = kms_backends[table.account_id][table.region_name]
    try:
        return kms.describe_key(key_id).arn
    except Exception:  # unknown key: keep what was given, as moto did
        return key_id


def _validate_throughput(throughput: dict[str, Any]) -> None:
    read = throughput.get("ReadCapacityUnits")
    write = throughput.get("WriteCapacityUnits")
    if read is None or write is None:
        raise MockValidationException(
            "One or more parameter values were invalid: ReadCapacityUnits and "
            "WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"
        )
    for name, value in (("ReadCapacityUnits", read), ("WriteCapacityUnits", write)):
        if not isinstance(value, int) or value < 1:
            raise MockValidationException(
                f"One or more parameter values were invalid: {name} must be greater than 0 "
                f"when BillingMode is PROVISIONED"
            )


# One request at a time, as seen by the data: what DynamoDB's per-request atomicity gives.
_REQUEST_LOCK = threading.RLock()

TRANSACT_OPERATIONS = ("ConditionCheck", "Put", "Delete", "Update")


class _Undo:
    """What a transaction wrote, to put back if it is cancelled: each item as it was before the
    transaction's first write to it, and how many stream records each table had."""

    def __init__(self, backend: DynamoDBBackend) -> None:
        self.backend = backend
        self.items: list[tuple[Table, DynamoType, DynamoType | None, Any]] = []
        self.streams: dict[int, tuple[Table, int]] = {}

    def save(self, table_name: str, key: dict[str, Any]) -> None:
        """Saves the item at `key` before a write; a key that names no item slot (a missing
        key attribute) saves nothing: moto refuses that write before changing anything."""
        try:
            table = self.backend.get_table(table_name)
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            current = table.get_item(hash_value, range_value)
        except (KeyError, MockValidationException, ResourceNotFoundException):
            return
        self.items.append((table, hash_value, range_value, copy.deepcopy(current)))
        if table.stream_shard is not None and id(table) not in self.streams:
            self.streams[id(table)] = (table, len(table.stream_shard.items))

    def rollback(self) -> None:
        for table, hash_value, range_value, before in reversed(self.items):
            if range_value is not None:
                if before is None:
                    table.items[hash_value].pop(range_value, None)
                else:
                    table.items[hash_value][range_value] = before
            elif before is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = before
        for table, length in self.streams.values():
            if table.stream_shard is not None:
                del table.stream_shard.items[length:]
        for table, *_ in self.items:
            _written(table)
        self.items.clear()


def _transact_write_items(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo = _Undo(backend)
    targets: set[tuple[str, str]] = set()
    # One (code, message, item) per entry: DynamoDB's CancellationReasons, in order.
    reasons: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    for entry in transact_items:
        if len(entry) > 1:
            undo.rollback()
            raise TransactWriteSingleOpException
        old_item: dict[str, Any] | None = None
        try:
            op_type, op = next(iter(entry.items()))
            if op_type not in TRANSACT_OPERATIONS:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            if op_type == "Put":
                table = backend.get_table(table_name)
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            target = (str(table_name), str(dict(sorted(key.items()))))
            if target in targets:
                raise MultipleTransactionsException()
            targets.add(target)
            current = backend.get_item(table_name, key)
            if condition is not None:
                if not get_filter_expression(condition, names, values).expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        old_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=old_item)
            if op_type != "ConditionCheck":
                undo.save(table_name, key)
            written = dict(condition_expression=condition, expression_attribute_names=names,
                           expression_attribute_values=values)
            if op_type == "Put":
                backend.put_item(table_name, op["Item"], **written)
            elif op_type == "Delete":
                backend.delete_item(table_name, key, **written)
            elif op_type == "Update":
                backend.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                    **written)
            reasons.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            undo.rollback()
            raise
        except ConditionalCheckFailed as e:
            reasons.append(("ConditionalCheckFailed", str(e.message), old_item))
        except Exception as e:  # moto's: any other failure cancels with its name and message
            reasons.append((type(e).__name__, str(e), old_item))
    if any(code is not None for code, _, _ in reasons):
        undo.rollback()
        raise TransactionCanceledException(reasons)


class _JsonResult(ActionResult):
    """A result that is DynamoDB's JSON already (binary values as bytes, which the wire
    carries in base64), written out as it is; anything else goes to moto's serializer."""

    def execute_result(self, context: ActionContext) -> Any:
        try:
            body = json.dumps(self.result, separators=(",", ":"), default=_base64)
        except TypeError:
            return super().execute_result(context)
        version = context.service_model.metadata.get("jsonVersion", "1.0")
        return 200, {"Content-Type": f"application/x-amz-json-{version}"}, body


def _base64(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON")


# The partition a Query on a table's own key reads (per thread: requests run on threads).
_QUERY_SCOPE = threading.local()


# moto's own signature (read from the original, not from a replacement: register() may run
# more than once).
_signature = functools.lru_cache(maxsize=None)(inspect.signature)


def _partition(table: Table, hash_key: DynamoType) -> list[Any]:
    """The items of one partition, in the shape of moto's `Table.all_items`."""
    bucket = table.items.get(hash_key)
    if bucket is None:
        return []
    return list(bucket.values()) if table.range_key_attr else [bucket]


# The table (and where its previous page ended) a Scan of a table's own items reads (per
# thread, as above).
_SCAN_SCOPE = threading.local()


def _written(table: Table) -> None:
    """An item of `table` was put or deleted: its keys' scan order is to be sorted again."""
    table.__dict__.pop("_scan_order", None)


def _scan_order(table: Table) -> list[Any]:
    """The table's keys in moto's scan order (`Table.all_items`: by hash key, then range key),
    sorted once until the next write."""
    order = table.__dict__.get("_scan_order")
    if order is None or order[0] is not table.items:
        if table.range_key_attr:
            keys = [(h, r) for h, bucket in table.items.items() for r in bucket]
        else:
            keys = list(table.items)
        keys.sort()
        order = (table.items, keys)
        table.__dict__["_scan_order"] = order
    return order[1]


def _items_after(table: Table, start: dict[str, Any] | None) -> Any:
    """The table's items in scan order after the key `start` (an ExclusiveStartKey: moto's
    scan skips every item at or before it), read as the scan asks for them."""
    keys = _scan_order(table)
    position = 0
    if start:
        hash_value = DynamoType(start.get(table.hash_key_attr))
        if table.range_key_attr:
            position = bisect.bisect_right(
                keys, (hash_value, DynamoType(start.get(table.range_key_attr)))
            )
        else:
            position = bisect.bisect_right(keys, hash_value)
    for index in range(position, len(keys)):
        if table.range_key_attr:
            hash_value, range_value = keys[index]
            item = table.items.get(hash_value, {}).get(range_value)
        else:
            item = table.items.get(keys[index])
        if item is not None:
            yield item


def register() -> None:
    def answer_as_json(name: str) -> None:
        @override(DynamoHandler, name)
        def read(original: Any, self: DynamoHandler) -> Any:
            result = original(self)
            return _JsonResult(result.result) if type(result) is DynamoResult else result

    for name in ("get_item", "batch_get_item", "query", "scan"):
        answer_as_json(name)

    @override(Table, "query")
    def query(original: Any, self: Table, *args: Any, **kwargs: Any) -> Any:
        # moto picks a table query's items by testing every item's hash key against the one
        # asked for; the partition holds exactly those (DynamoType hashes by type and value).
        arguments = _signature(original).bind(self, *args, **kwargs).arguments
        if arguments.get("index_name") or arguments.get("hash_key") is None:
            return original(self, *args, **kwargs)
        _QUERY_SCOPE.partition = (self, arguments["hash_key"])
        try:
            return original(self, *args, **kwargs)
        finally:
            _QUERY_SCOPE.partition = None

    @override(Table, "scan")
    def scan(original: Any, self: Table, *args: Any, **kwargs: Any) -> Any:
        # moto sorts every item and walks up to the previous page's last key on each page.
        arguments = _signature(original).bind(self, *args, **kwargs).arguments
        start = arguments.get("exclusive_start_key")
        keys = [self.hash_key_attr] + ([self.range_key_attr] if self.range_key_attr else [])
        if arguments.get("index_name") or (start and any(k not in start for k in keys)):
            return original(self, *args, **kwargs)
        _SCAN_SCOPE.start = (self, start)
        try:
            return original(self, *args, **kwargs)
        finally:
            _SCAN_SCOPE.start = None

    @override(Table, "all_items")
    def all_items(original: Any, self: Table) -> Any:
        scope = getattr(_QUERY_SCOPE, "partition", None)
        if scope is not None and scope[0] is self:
            return _partition(self, scope[1])
        scan = getattr(_SCAN_SCOPE, "start", None)
        if scan is not None and scan[0] is self:
            return _items_after(self, scan[1])
        return original(self)

    for name in ("put_item", "delete_item"):

        def write(original: Any, self: Table, *args: Any, **kwargs: Any) -> Any:
            try:
                return original(self, *args, **kwargs)
            finally:
                _written(self)

        override(Table, name)(write)

    @override(DynamoHandler, "call_action")
    def call_action(original, self):
        with _REQUEST_LOCK:
            return original(self)

    # moto's own, for `tests/emulator/bench_dynamodb.py --moto-transactions` to compare with.
    moto_transactions = os.environ.get("EMULATOR_DYNAMODB_MOTO_TRANSACTIONS") == "1"

    @override(DynamoDBBackend, "transact_write_items")
    def transact_write_items(original: Any, self: DynamoDBBackend,
                             transact_items: list[dict[str, Any]]) -> None:
        if moto_transactions:
            return original(self, transact_items)
        _transact_write_items(self, transact_items)

    @override(DynamoHandler, "update_table")
    def update_table(original: Any, self: DynamoHandler) -> ActionResult:
        body = self.body
        table = self.dynamodb_backend.get_table(body["TableName"])
        if not any(member in body for member in CHANGE_MEMBERS):
            raise MockValidationException(
                "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
                "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required"
            )
        current_mode = table.billing_mode or "PROVISIONED"
        billing_mode = body.get("BillingMode")
        target_mode = billing_mode or current_mode
        throughput = body.get("ProvisionedThroughput")
        sse = body.get("SSESpecification")

        if target_mode == "PAY_PER_REQUEST" and throughput:
            raise MockValidationException(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"
            )
        if target_mode == "PROVISIONED" and current_mode == "PAY_PER_REQUEST" and not throughput:
            raise MockValidationException(
                "One or more parameter values were invalid: ProvisionedThroughput must be "
                "specified when BillingMode is PROVISIONED"
            )
        if throughput:
            _validate_throughput(throughput)
            other_changes = [m for m in CHANGE_MEMBERS if m in body and m not in ("ProvisionedThroughput", "BillingMode")]
            old_read = table.throughput.get("ReadCapacityUnits")
            old_write = table.throughput.get("WriteCapacityUnits")
            if (
                current_mode == "PROVISIONED"
                and not other_changes
                and throughput["ReadCapacityUnits"] == old_read
                and throughput["WriteCapacityUnits"] == old_write
            ):
                raise MockValidationException(
                    "The provisioned throughput for the table will not change. The requested "
                    "value equals the current value. Current ReadCapacityUnits provisioned for "
                    f"the table: {old_read}. Requested ReadCapacityUnits: {old_read}. Current "
                    f"WriteCapacityUnits provisioned for the table: {old_write}. Requested "
                    f"WriteCapacityUnits: {old_write}. Refer to the Amazon DynamoDB Developer "
                    "Guide for current limits and how to request higher limits."
                )
        decreases = table.throughput.get("NumberOfDecreasesToday", 0)
        if (
            throughput
            and current_mode == "PROVISIONED"
            and (
                throughput["ReadCapacityUnits"] < (table.throughput.get("ReadCapacityUnits") or 0)
                or throughput["WriteCapacityUnits"] < (table.throughput.get("WriteCapacityUnits") or 0)
            )
        ):
            decreases += 1

        table = self.dynamodb_backend.update_table(
            name=body["TableName"],
            attr_definitions=body.get("AttributeDefinitions"),
            global_index=body.get("GlobalSecondaryIndexUpdates"),
            throughput=dict(throughput) if throughput else None,  # type: ignore[arg-type]
            billing_mode=billing_mode,  # type: ignore[arg-type]
            stream_spec=body.get("StreamSpecification"),  # type: ignore[arg-type]
            deletion_protection_enabled=body.get("DeletionProtectionEnabled"),
            warm_throughput=body.get("WarmThroughput"),
        )
        if target_mode == "PAY_PER_REQUEST":
            table.throughput = {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
            if current_mode != "PAY_PER_REQUEST":
                table.emulator_last_update_to_ppr = utcnow()  # type: ignore[attr-defined]
        else:
            table.throughput["NumberOfDecreasesToday"] = decreases

        if sse is not None:
            if sse.get("Enabled"):
                table.sse_specification = {
                    "Enabled": True,
                    "SSEType": "KMS",
                    "KMSMasterKeyId": _resolve_kms_key(table, sse.get("KMSMasterKeyId")),
                }
            else:
                table.sse_specification = None
        return DynamoResult(table.describe())

    @override(Table, "describe")
    def describe(original: Any, self: Table, base_key: str = "TableDescription") -> dict[str, Any]:
        sse = self.sse_specification
        if sse and sse.get("Enabled") is True:
            key = sse.get("KMSMasterKeyId")
            if not (isinstance(key, str) and key.startswith("arn:") and ":key/" in key):
                sse["KMSMasterKeyId"] = _resolve_kms_key(self, key)
        result = original(self, base_key=base_key)
        description = result[base_key]
        if self.billing_mode == "PAY_PER_REQUEST":
            description["ProvisionedThroughput"] = {
                "NumberOfDecreasesToday": 0,
                "ReadCapacityUnits": 0,
                "WriteCapacityUnits": 0,
            }
        else:
            description["ProvisionedThroughput"].setdefault("NumberOfDecreasesToday", 0)
        switched = getattr(self, "emulator_last_update_to_ppr", None)
        if switched is not None:
            description["BillingModeSummary"]["LastUpdateToPayPerRequestDateTime"] = switched
        return result

    @override(DynamoHandler, "delete_table")
    def delete_table(original: Any, self: DynamoHandler) -> ActionResult:
        if self.dynamodb_backend.get_table(self.body["TableName"]).deletion_protection_enabled:
            raise MockValidationException(
                "Resource cannot be deleted as it is currently protected against deletion. "
                "Disable deletion protection first."
            )
        table = self.dynamodb_backend.delete_table(self.body["TableName"])
        description = table.describe()
        description["TableDescription"]["TableStatus"] = "DELETING"
        return DynamoResult(description)

    def _table_by_arn(backend: DynamoDBBackend, arn: str) -> Table:
        for table in backend.tables.values():
            if table.table_arn == arn:
                return table
        raise ResourceNotFoundException(f"Requested resource not found: ResourcArn: {arn} not found")

    @override(DynamoDBBackend, "tag_resource")
    def tag_resource(original: Any, self: DynamoDBBackend, arn: str, tags: dict[str, str]) -> None:
        table = _table_by_arn(self, arn)
        merged = {tag["Key"]: tag["Value"] for tag in table.tags}
        merged.update(tags)
        table.tags = [{"Key": key, "Value": value} for key, value in merged.items()]

    @override(DynamoDBBackend, "untag_resource")
    def untag_resource(original: Any, self: DynamoDBBackend, arn: str, tag_keys: list[str]) -> None:
        table = _table_by_arn(self, arn)
        table.tags = [tag for tag in table.tags if tag["Key"] not in tag_keys]
