"""DynamoDB calls made by the provider (and by the pipeline's tests)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

KEYS = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
}


def describe(ddb, name: str) -> dict:
    return ddb.describe_table(TableName=name)["Table"]


def error_code(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def paged(read, **request):
    """Every page of a Query or Scan (`read`), each one read from where the last one ended."""
    while True:
        page = read(**request)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def throughput(table: dict) -> tuple[int, int]:
    pt = table["ProvisionedThroughput"]
    return pt["ReadCapacityUnits"], pt["WriteCapacityUnits"]


def create_provisioned(ddb, name: str, read: int = 5, write: int = 3, **extra) -> dict:
    return ddb.create_table(
        TableName=name,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": read, "WriteCapacityUnits": write},
        **KEYS,
        **extra,
    )["TableDescription"]


def test_create_provisioned_with_kms_sse_and_tags(client, name):
    ddb = client("dynamodb")
    created = create_provisioned(
        ddb, name, SSESpecification={"Enabled": True, "SSEType": "KMS"}, Tags=[{"Key": "team", "Value": "etl"}]
    )
    table = describe(ddb, name)
    for t in (created, table):
        assert t["TableStatus"] == "ACTIVE"
        assert t["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
        assert throughput(t) == (5, 3)
        assert t["KeySchema"] == KEYS["KeySchema"]
        assert t["SSEDescription"]["Status"] == "ENABLED"
        assert t["SSEDescription"]["SSEType"] == "KMS"
        assert t["SSEDescription"]["KMSMasterKeyArn"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
    tags = ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
    assert tags == [{"Key": "team", "Value": "etl"}]


def test_create_pay_per_request_without_sse(client, name):
    ddb = client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", SSESpecification={"Enabled": False}, **KEYS)
    table = describe(ddb, name)
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert throughput(table) == (0, 0)
    assert "SSEDescription" not in table


def test_sse_key_alias_is_reported_as_key_arn(client, name):
    ddb = client("dynamodb")
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "alias/aws/dynamodb"},
        **KEYS,
    )
    arn = describe(ddb, name)["SSEDescription"]["KMSMasterKeyArn"]
    assert arn.startswith("arn:aws:kms:us-east-1:123456789012:key/")
    key = client("kms").describe_key(KeyId="alias/aws/dynamodb")["KeyMetadata"]
    assert key["Arn"] == arn


def test_create_validation(client, name):
    ddb = client("dynamodb")
    with pytest.raises(ClientError) as excinfo:
        ddb.create_table(TableName=name, BillingMode="PROVISIONED", **KEYS)
    assert error_code(excinfo) == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        ddb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
            **KEYS,
        )
    assert error_code(excinfo) == "ValidationException"


def test_billing_mode_switch_both_ways(client, name):
    ddb = client("dynamodb")
    create_provisioned(ddb, name)
    updated = ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")["TableDescription"]
    table = describe(ddb, name)
    for t in (updated, table):
        assert t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert "LastUpdateToPayPerRequestDateTime" in t["BillingModeSummary"]
        assert throughput(t) == (0, 0)
    ddb.update_table(
        TableName=name,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 7, "WriteCapacityUnits": 8},
    )
    table = describe(ddb, name)
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert throughput(table) == (7, 8)


def test_throughput_change(client, name):
    ddb = client("dynamodb")
    create_provisioned(ddb, name)
    ddb.update_table(TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 9, "WriteCapacityUnits": 10})
    assert throughput(describe(ddb, name)) == (9, 10)
    ddb.update_table(TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 2, "WriteCapacityUnits": 10})
    table = describe(ddb, name)
    assert throughput(table) == (2, 10)
    assert table["ProvisionedThroughput"]["NumberOfDecreasesToday"] == 1


def test_update_validation(client, name):
    ddb = client("dynamodb")
    create_provisioned(ddb, name)
    cases = [
        {},  # nothing to change
        {"ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 3}},  # unchanged
    ]
    for case in cases:
        with pytest.raises(ClientError) as excinfo:
            ddb.update_table(TableName=name, **case)
        assert error_code(excinfo) == "ValidationException", case
    ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
    for case in (
        {"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}},
        {"BillingMode": "PROVISIONED"},  # a switch needs the throughput
    ):
        with pytest.raises(ClientError) as excinfo:
            ddb.update_table(TableName=name, **case)
        assert error_code(excinfo) == "ValidationException", case
    assert describe(ddb, name)["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_sse_change_both_ways(client, name):
    ddb = client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **KEYS)
    assert "SSEDescription" not in describe(ddb, name)
    ddb.update_table(TableName=name, SSESpecification={"Enabled": True, "SSEType": "KMS"})
    sse = describe(ddb, name)["SSEDescription"]
    assert sse["Status"] == "ENABLED" and sse["SSEType"] == "KMS"
    assert sse["KMSMasterKeyArn"].startswith("arn:aws:kms:")
    ddb.update_table(TableName=name, SSESpecification={"Enabled": False})
    assert "SSEDescription" not in describe(ddb, name)


def test_tags(client, name):
    ddb = client("dynamodb")
    arn = create_provisioned(ddb, name, Tags=[{"Key": "a", "Value": "1"}])["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "10"}])
    ddb.untag_resource(ResourceArn=arn, TagKeys=["b"])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "a", "Value": "10"}]


def test_batch_write_and_scan(client, name):
    ddb = client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **KEYS)
    items = [{"pk": {"S": f"p{i}"}, "sk": {"S": "s"}, "n": {"N": str(i)}} for i in range(30)]
    for start in range(0, 30, 25):
        response = ddb.batch_write_item(
            RequestItems={name: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        )
        assert response["UnprocessedItems"] == {}
    scanned = ddb.scan(TableName=name)
    assert scanned["Count"] == 30
    assert sorted(int(i["n"]["N"]) for i in scanned["Items"]) == list(range(30))


def test_delete_table(client, name):
    ddb = client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **KEYS)
    assert ddb.delete_table(TableName=name)["TableDescription"]["TableStatus"] == "DELETING"
    with pytest.raises(ClientError) as excinfo:
        describe(ddb, name)
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_a_protected_table_is_deleted_only_once_its_protection_is_off(client, name):
    ddb = client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", DeletionProtectionEnabled=True, **KEYS)
    assert describe(ddb, name)["DeletionProtectionEnabled"] is True
    with pytest.raises(ClientError) as excinfo:
        ddb.delete_table(TableName=name)
    assert error_code(excinfo) == "ValidationException"
    assert excinfo.value.response["Error"]["Message"] == (
        "Resource cannot be deleted as it is currently protected against deletion. "
        "Disable deletion protection first."
    )
    ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
    assert describe(ddb, name)["DeletionProtectionEnabled"] is False
    assert ddb.delete_table(TableName=name)["TableDescription"]["TableStatus"] == "DELETING"


def test_conditional_writes_and_transactions_are_atomic(client, name):
    """DynamoDB applies each request atomically: a conditional write (or a transaction's
    checks and writes) cannot interleave with another request on the same item. Eight
    threads increment one counter by optimistic locking; every increment that DynamoDB
    accepted must be counted exactly once."""
    import threading

    ddb = client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **KEYS)
    key = {"pk": {"S": "counter"}, "sk": {"S": "-"}}
    ddb.put_item(TableName=name, Item={**key, "n": {"N": "0"}})
    accepted = []

    def increment(transactional: bool) -> None:
        own = client("dynamodb")
        done = 0
        while done < 15:
            current = own.get_item(TableName=name, Key=key, ConsistentRead=True)["Item"]["n"]["N"]
            new = {**key, "n": {"N": str(int(current) + 1)}}
            condition = {
                "ConditionExpression": "n = :old",
                "ExpressionAttributeValues": {":old": {"N": current}},
            }
            try:
                if transactional:
                    own.transact_write_items(TransactItems=[{"Put": {"TableName": name, "Item": new, **condition}}])
                else:
                    own.put_item(TableName=name, Item=new, **condition)
            except ClientError as err:
                code = error_code(pytest.ExceptionInfo.from_exc_info((type(err), err, err.__traceback__)))
                assert code in ("ConditionalCheckFailedException", "TransactionCanceledException"), code
                continue
            done += 1
        accepted.append(done)

    threads = [threading.Thread(target=increment, args=(i % 2 == 0,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = ddb.get_item(TableName=name, Key=key, ConsistentRead=True)["Item"]["n"]["N"]
    assert int(final) == sum(accepted) == 8 * 15


def test_a_cancelled_transaction_leaves_every_item_as_it_was(client, name):
    """A transaction whose last check fails writes nothing: the item it updated, the one it
    added and the one it deleted are as before, and the cancellation reasons name the check."""
    ddb = client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **KEYS)

    def key(pk: str) -> dict:
        return {"pk": {"S": pk}, "sk": {"S": "-"}}

    ddb.put_item(TableName=name, Item={**key("updated"), "n": {"N": "1"}})
    ddb.put_item(TableName=name, Item={**key("deleted"), "n": {"N": "2"}})
    ddb.put_item(TableName=name, Item={**key("checked"), "n": {"N": "3"}})
    before = sorted(map(str, ddb.scan(TableName=name)["Items"]))
    with pytest.raises(ClientError) as excinfo:
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": name, "Key": key("updated"), "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": {"N": "10"}}}},
            {"Put": {"TableName": name, "Item": {**key("added"), "n": {"N": "4"}}}},
            {"Delete": {"TableName": name, "Key": key("deleted")}},
            {"ConditionCheck": {"TableName": name, "Key": key("checked"),
                                "ConditionExpression": "n = :n",
                                "ExpressionAttributeValues": {":n": {"N": "99"}}}},
        ])
    assert error_code(excinfo) == "TransactionCanceledException"
    reasons = [r["Code"] for r in excinfo.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    assert sorted(map(str, ddb.scan(TableName=name)["Items"])) == before

    # The same transaction with a check that holds writes all three.
    ddb.transact_write_items(TransactItems=[
        {"Update": {"TableName": name, "Key": key("updated"), "UpdateExpression": "SET n = :n",
                    "ExpressionAttributeValues": {":n": {"N": "10"}}}},
        {"Put": {"TableName": name, "Item": {**key("added"), "n": {"N": "4"}}}},
        {"Delete": {"TableName": name, "Key": key("deleted")}},
        {"ConditionCheck": {"TableName": name, "Key": key("checked"), "ConditionExpression": "n = :n",
                            "ExpressionAttributeValues": {":n": {"N": "3"}}}},
    ])
    items = {i["pk"]["S"]: i["n"]["N"] for i in ddb.scan(TableName=name)["Items"]}
    assert items == {"updated": "10", "added": "4", "checked": "3"}


def test_an_invalid_transaction_leaves_nothing_written(client, name):
    """Two writes of one item, or two operations in one entry, refuse the whole request:
    the entries before the invalid one stay unwritten."""
    ddb = client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **KEYS)
    first = {"Put": {"TableName": name, "Item": {"pk": {"S": "a"}, "sk": {"S": "-"}}}}
    twice = {"Put": {"TableName": name, "Item": {"pk": {"S": "b"}, "sk": {"S": "-"}}}}
    both = {**twice, "Delete": {"TableName": name, "Key": {"pk": {"S": "c"}, "sk": {"S": "-"}}}}
    for items in ([first, twice, twice], [first, both]):
        with pytest.raises(ClientError) as excinfo:
            ddb.transact_write_items(TransactItems=items)
        assert error_code(excinfo) == "ValidationException"
        assert ddb.scan(TableName=name)["Items"] == []


def test_a_cancelled_transaction_leaves_no_stream_records(client, name):
    ddb = client("dynamodb")
    table = ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                             StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
                             **KEYS)["TableDescription"]
    streams = client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=table["LatestStreamArn"])["StreamDescription"]["Shards"][0]

    def records() -> list:
        iterator = streams.get_shard_iterator(StreamArn=table["LatestStreamArn"], ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return streams.get_records(ShardIterator=iterator)["Records"]

    ddb.put_item(TableName=name, Item={"pk": {"S": "kept"}, "sk": {"S": "-"}})
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": {"pk": {"S": "dropped"}, "sk": {"S": "-"}}}},
            {"ConditionCheck": {"TableName": name, "Key": {"pk": {"S": "kept"}, "sk": {"S": "-"}},
                                "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records()] == ["kept"]


def test_a_query_finds_its_partition_among_others_in_order_by_page_and_filter(client, name):
    ddb = client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **KEYS)
    for pk in ("a", "b", "c"):
        for n in range(7):
            ddb.put_item(TableName=name, Item={"pk": {"S": pk}, "sk": {"S": f"{pk}{n}"}, "n": {"N": str(n)}})

    def query(**extra) -> dict:
        condition = "pk = :pk" + (" AND " + extra.pop("range") if "range" in extra else "")
        return ddb.query(TableName=name, KeyConditionExpression=condition,
                         ExpressionAttributeValues={":pk": {"S": "b"}, **extra.pop("values", {})}, **extra)

    def sks(response: dict) -> list[str]:
        return [item["sk"]["S"] for item in response["Items"]]

    assert sks(query()) == [f"b{n}" for n in range(7)]
    assert sks(query(ScanIndexForward=False)) == [f"b{n}" for n in reversed(range(7))]
    assert sks(query(range="sk BETWEEN :lo AND :hi", values={":lo": {"S": "b2"}, ":hi": {"S": "b4"}})) == ["b2", "b3", "b4"]
    assert sks(query(range="begins_with(sk, :p)", values={":p": {"S": "b6"}})) == ["b6"]
    filtered = query(FilterExpression="n >= :three", values={":three": {"N": "3"}})
    assert (sks(filtered), filtered["Count"], filtered["ScannedCount"]) == (["b3", "b4", "b5", "b6"], 4, 7)
    projected = query(ProjectionExpression="sk")
    assert projected["Items"][0] == {"sk": {"S": "b0"}}

    assert [sks(page) for page in paged(query, Limit=3)] == [["b0", "b1", "b2"], ["b3", "b4", "b5"], ["b6"]]

    none = ddb.query(TableName=name, KeyConditionExpression="pk = :pk",
                     ExpressionAttributeValues={":pk": {"S": "nobody"}})
    assert (none["Items"], none["Count"]) == ([], 0)


def test_a_query_on_a_number_key_finds_the_number_written_another_way(client, name):
    ddb = client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}])
    for n in range(5):
        ddb.put_item(TableName=name, Item={"id": {"N": str(n)}, "v": {"S": f"v{n}"}})
    # DynamoDB compares numbers by value: 1.0 names the item written as 1.
    found = ddb.query(TableName=name, KeyConditionExpression="id = :id", ExpressionAttributeValues={":id": {"N": "1.0"}})
    assert [item["v"]["S"] for item in found["Items"]] == ["v1"]


def test_a_query_on_an_index_still_finds_items_across_partitions(client, name):
    ddb = client("dynamodb")
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=KEYS["KeySchema"],
        AttributeDefinitions=[*KEYS["AttributeDefinitions"], {"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}])
    for pk in ("a", "b", "c"):
        ddb.put_item(TableName=name, Item={"pk": {"S": pk}, "sk": {"S": "s"}, "g": {"S": "odd" if pk != "b" else "even"}})
    found = ddb.query(TableName=name, IndexName="by-g", KeyConditionExpression="g = :g",
                      ExpressionAttributeValues={":g": {"S": "odd"}})
    assert sorted(item["pk"]["S"] for item in found["Items"]) == ["a", "c"]


def test_a_paged_scan_reads_every_item_once_in_key_order_as_the_table_changes(client, name):
    ddb = client("dynamodb")
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "n", "AttributeType": "N"}],
    )
    for pk in ("b", "a", "c"):
        for n in (10, 9, 100, 1, 20):
            ddb.put_item(TableName=name, Item={"pk": {"S": pk}, "n": {"N": str(n)}, "even": {"BOOL": n % 2 == 0}})
    order = [(pk, n) for pk in ("a", "b", "c") for n in (1, 9, 10, 20, 100)]

    def keys(items: list[dict]) -> list[tuple[str, int]]:
        return [(item["pk"]["S"], int(item["n"]["N"])) for item in items]

    def pages(**extra) -> list[list[tuple[str, int]]]:
        return [keys(page["Items"]) for page in paged(ddb.scan, TableName=name, **extra)]

    assert keys(ddb.scan(TableName=name)["Items"]) == order
    assert pages(Limit=4) == [order[0:4], order[4:8], order[8:12], order[12:15]]
    even = pages(Limit=4, FilterExpression="even = :t", ExpressionAttributeValues={":t": {"BOOL": True}})
    assert even == [[k for k in order[i:i + 4] if k[1] % 2 == 0] for i in (0, 4, 8, 12)]
    halves = [sum(pages(Limit=3, Segment=s, TotalSegments=2), []) for s in (0, 1)]
    assert sorted(halves[0] + halves[1]) == sorted(order)

    # Between pages the table changes: a page starts after the previous page's last key
    # whatever was put or deleted meanwhile.
    first = ddb.scan(TableName=name, Limit=6)
    assert keys(first["Items"]) == order[:6]
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "n": {"N": "0"}})    # before the start
    ddb.put_item(TableName=name, Item={"pk": {"S": "b"}, "n": {"N": "5"}})    # after it
    ddb.delete_item(TableName=name, Key={"pk": {"S": "b"}, "n": {"N": "10"}})
    rest = ddb.scan(TableName=name, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert keys(rest["Items"]) == [("b", 5), ("b", 9), ("b", 20), ("b", 100)] + order[10:]
    assert "LastEvaluatedKey" not in rest
    gone = ddb.scan(TableName=name, ExclusiveStartKey={"pk": {"S": "c"}, "n": {"N": "100"}})
    assert (gone["Items"], gone["Count"]) == ([], 0)


def test_a_paged_scan_of_a_table_with_a_number_hash_key_only(client, name):
    ddb = client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}])
    for n in (30, 4, 200, 17, 5):
        ddb.put_item(TableName=name, Item={"id": {"N": str(n)}})
    first = ddb.scan(TableName=name, Limit=2)
    assert [int(i["id"]["N"]) for i in first["Items"]] == [4, 5]
    rest = ddb.scan(TableName=name, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert [int(i["id"]["N"]) for i in rest["Items"]] == [17, 30, 200]


def test_reads_return_every_attribute_type_as_written(client, name):
    ddb = client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **KEYS)
    item = {
        "pk": {"S": "p"}, "sk": {"S": "s"}, "text": {"S": "añ \"quoted\" \\ \u2028"}, "number": {"N": "-12.50"},
        "binary": {"B": b"\x00\xffbytes"}, "flag": {"BOOL": False}, "nothing": {"NULL": True},
        "map": {"M": {"inner": {"L": [{"N": "1"}, {"S": "two"}, {"M": {}}]}}},
        "strings": {"SS": ["a", "b"]}, "numbers": {"NS": ["1", "2.5"]}, "binaries": {"BS": [b"x", b"y"]},
    }
    ddb.put_item(TableName=name, Item=item)
    key = {"pk": item["pk"], "sk": item["sk"]}

    def same(found: dict) -> None:
        for attribute in ("strings", "numbers", "binaries"):  # sets have no order
            kind = next(iter(item[attribute]))
            assert sorted(found[attribute][kind]) == sorted(item[attribute][kind])
        plain = lambda i: {k: v for k, v in i.items() if k not in ("strings", "numbers", "binaries")}  # noqa: E731
        assert plain(found) == plain(item)

    got = ddb.get_item(TableName=name, Key=key, ReturnConsumedCapacity="TOTAL")
    same(got["Item"])
    assert got["ConsumedCapacity"] == {"TableName": name, "CapacityUnits": 0.5}
    same(ddb.query(TableName=name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}})["Items"][0])
    scanned = ddb.scan(TableName=name)
    assert (scanned["Count"], scanned["ScannedCount"]) == (1, 1)
    same(scanned["Items"][0])
    same(ddb.batch_get_item(RequestItems={name: {"Keys": [key]}})["Responses"][name][0])
    assert "Item" not in ddb.get_item(TableName=name, Key={"pk": {"S": "p"}, "sk": {"S": "none"}})
    with pytest.raises(ClientError) as excinfo:
        ddb.get_item(TableName=name, Key={"pk": {"S": "p"}})
    assert error_code(excinfo) == "ValidationException"


def test_a_query_reads_only_its_partition_even_after_the_extension_registers_twice(monkeypatch):
    """In-process: `register()` may run more than once; a Query on a table must still read
    only the partition it names, not fall back to looking at every item."""
    import boto3
    from moto import mock_aws

    from extensions import dynamodb

    dynamodb.register()
    dynamodb.register()
    read: list[str] = []
    partition = dynamodb._partition
    monkeypatch.setattr(dynamodb, "_partition", lambda table, key: read.append(key.value) or partition(table, key))
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST", **KEYS)
        for pk in ("a", "b"):
            ddb.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": "s"}})
        found = ddb.query(TableName="t", KeyConditionExpression="pk = :pk",
                          ExpressionAttributeValues={":pk": {"S": "a"}})
    assert [item["pk"]["S"] for item in found["Items"]] == ["a"]
    assert read == ["a"]


def test_a_paged_scan_sorts_the_table_once_not_once_a_page(monkeypatch):
    """In-process: paging through an unchanged table compares keys a few times a page, not
    all the table's keys on every page (moto sorted every item for each page)."""
    import boto3
    from moto import mock_aws
    from moto.dynamodb.models.dynamo_type import DynamoType

    from extensions import dynamodb

    dynamodb.register()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST", **KEYS)
        for n in range(300):
            ddb.put_item(TableName="t", Item={"pk": {"S": f"p{n % 30:02}"}, "sk": {"S": f"s{n:03}"}})
        comparisons = 0
        less = DynamoType.__lt__

        def counted(self, other):
            nonlocal comparisons
            comparisons += 1
            return less(self, other)

        monkeypatch.setattr(DynamoType, "__lt__", counted)
        seen = [(item["pk"]["S"], item["sk"]["S"])
                for page in paged(ddb.scan, TableName="t", Limit=10) for item in page["Items"]]
    assert seen == sorted(seen) and len(set(seen)) == 300
    # One sort of the 300 keys and a binary search a page: 542 here; moto's sort of every
    # item on each of the 30 pages made 13,320.
    assert comparisons < 1_500, comparisons
