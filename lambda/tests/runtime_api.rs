//! The real `bootstrap` binary, run as Lambda runs it: against a Runtime API (a small fake
//! implemented here) with DynamoDB and S3 served by the local emulator.
//!
//! Each test starts its own emulator and fake Runtime API on free ports of 127.0.0.1, queues
//! Kinesis events, and checks what the function answered, what landed in the table and the
//! dead-letter bucket, and the metrics it printed. The retry paths the emulator cannot provoke
//! run against a scripted fake DynamoDB, or through a fault-injecting proxy in front of the
//! emulator ([`FaultProxy`]) with the batches re-driven as Lambda does ([`redrive`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};
use base64::Engine as _;
use serde_json::{json, Value};
use testkit::emulator::create_table;
use testkit::function::{kinesis_event, FunctionProcess as Function, Record, STREAM_ARN};
use testkit::http::{self, http_response, send, serve, Request};
use testkit::{Emulator, RuntimeApi};
use unifiedetl_lambda::decode::Decimal;

const TABLE: &str = "UnifiedOrderEnriched";
const DEAD_LETTER_BUCKET: &str = "orders-dlq-123456789012";
const WAIT: Duration = Duration::from_secs(60);

// ------------------------------------------------------------------------------ the tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_writes_exact_values() {
    let mut test = on_emulator(&sink_env_with_keys()).await;

    let mut records = vec![row(
        1,
        json!({
            "orderId": 10000001, "itemId": 999900001,
            "orderAmount": "<300.10>", "itemAmount": "<12345678901234567.89>",
            "big": "<123456789012345678901234567890>", "tiny": "<-1.5E-7>",
            "orderStatus": "New", "orderDateTime": "2020-05-01T17:11:49.973Z",
            "itemQuantity": null, "gift": false,
            "shipTo": {"name": "Ana", "zip": "98101", "geo": ["<47.60>", "<-122.33>"],
                       "notes": {"floor": 3, "tags": ["front", "side"]}},
        }),
    )];
    // 60 more distinct items: three BatchWriteItem calls in flight together.
    records.extend((0..60).map(|n| {
        row(
            2 + n,
            json!({"orderId": 10000002, "itemId": 999900100 + n, "itemAmount": "<100.50>"}),
        )
    }));
    test.api.invoke("happy", kinesis_event(&records));

    let response = test.api.response("happy").await;
    assert_eq!(response, json!({"batchItemFailures": []}));

    let item = get_item(&test.dynamodb, "10000001", "999900001").await;
    assert_number(&item["orderAmount"], "300.10");
    assert_number(&item["itemAmount"], "12345678901234567.89");
    assert_number(&item["big"], "123456789012345678901234567890");
    assert_number(&item["tiny"], "-1.5E-7");
    assert_eq!(item["orderStatus"], AttributeValue::S("New".into()));
    assert_eq!(item["itemQuantity"], AttributeValue::Null(true));
    assert_eq!(item["gift"], AttributeValue::Bool(false));
    let ship_to = item["shipTo"].as_m().expect("shipTo is a map");
    assert_eq!(ship_to["zip"], AttributeValue::S("98101".into()));
    let geo = ship_to["geo"].as_l().expect("geo is a list");
    assert_number(&geo[0], "47.60");
    assert_number(&geo[1], "-122.33");
    let notes = ship_to["notes"].as_m().expect("notes is a map");
    assert_number(&notes["floor"], "3");
    assert_eq!(
        notes["tags"],
        AttributeValue::L(vec![
            AttributeValue::S("front".into()),
            AttributeValue::S("side".into())
        ])
    );
    for n in 0..60u64 {
        let item = get_item(&test.dynamodb, "10000002", &(999900100 + n).to_string()).await;
        assert_number(&item["itemAmount"], "100.50");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_keys_in_one_batch_last_wins() {
    let mut test = on_emulator(&sink_env_with_keys()).await;

    let item =
        |status: &str| json!({"orderId": 10000001, "itemId": 999900001, "itemStatus": status});
    let records = vec![
        row(1, item("New")),
        row(
            2,
            json!({"orderId": 10000001, "itemId": 999900002, "itemStatus": "New"}),
        ),
        row(3, item("Picked")),
        // The same key spelled differently is still the same key.
        row(
            4,
            json!({"orderId": "<10000001.0>", "itemId": 999900001, "itemStatus": "Shipped"}),
        ),
    ];
    test.api.invoke("dupes", kinesis_event(&records));

    assert_eq!(
        test.api.response("dupes").await,
        json!({"batchItemFailures": []})
    );
    let first = get_item(&test.dynamodb, "10000001", "999900001").await;
    assert_eq!(first["itemStatus"], AttributeValue::S("Shipped".into()));
    let second = get_item(&test.dynamodb, "10000001", "999900002").await;
    assert_eq!(second["itemStatus"], AttributeValue::S("New".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_are_reported_by_sequence_number_and_good_ones_written() {
    let mut test = on_emulator(&sink_env_with_keys()).await;

    let records = vec![
        row(1, json!({"orderId": 1, "itemId": 1, "itemStatus": "New"})),
        (sequence_number(2), b"{not json".to_vec()),
        row(3, json!({"orderId": 3, "itemId": 3, "itemStatus": "New"})),
        // A number sent as a string for a number key.
        row(4, json!({"orderId": "4", "itemId": 4, "itemStatus": "New"})),
        row(5, json!({"orderId": 5, "itemStatus": "New"})),
    ];
    test.api.invoke("bad", kinesis_event(&records));

    assert_eq!(
        test.api.response("bad").await,
        json!({"batchItemFailures": [
            {"itemIdentifier": sequence_number(2)},
            {"itemIdentifier": sequence_number(4)},
            {"itemIdentifier": sequence_number(5)},
        ]})
    );
    get_item(&test.dynamodb, "1", "1").await;
    get_item(&test.dynamodb, "3", "3").await;

    let logs = test.function.logs().await;
    assert!(logs.contains("key_wrong_type"), "{logs}");
    assert!(logs.contains(&sequence_number(2)), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_schema_is_learned_from_the_table_when_not_configured() {
    let mut test = on_emulator(&[("SINK_TABLE", TABLE)]).await;

    let records = vec![
        row(
            1,
            json!({"orderId": 7, "itemId": 8, "itemAmount": "<200.00>"}),
        ),
        // DescribeTable says N, so a string key is caught before the write.
        row(2, json!({"orderId": "7", "itemId": 9})),
    ];
    test.api.invoke("learned", kinesis_event(&records));

    assert_eq!(
        test.api.response("learned").await,
        json!({"batchItemFailures": [{"itemIdentifier": sequence_number(2)}]})
    );
    let item = get_item(&test.dynamodb, "7", "8").await;
    assert_number(&item["itemAmount"], "200.00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_sink_table_fails_at_init_with_a_clear_message() {
    let mut api = RuntimeApi::start().await.unwrap();
    // No emulator: the function must fail before it calls anything.
    let mut function = spawn_process(&api, &[("SINK_PARTITION_KEY", "orderId")]);

    let (error_type, body) = api.init_error().await;
    assert_eq!(error_type, "UnifiedEtl.ConfigError");
    assert_eq!(body["errorType"], "UnifiedEtl.ConfigError");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(message.contains("SINK_TABLE"), "{message}");

    let status = tokio::time::timeout(WAIT, function.child.wait())
        .await
        .expect("the function exits after a failed init")
        .unwrap();
    assert!(!status.success());
    let logs = function.logs().await;
    assert!(logs.contains("SINK_TABLE"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unprocessed_items_and_server_errors_are_retried_until_written() {
    let dynamodb =
        FakeDynamoDb::start(&[Reply::Unprocessed(2), Reply::ServerError, Reply::Written]).await;
    let mut api = RuntimeApi::start().await.unwrap();
    let _function = spawn_with_fake(&api, &dynamodb);

    let records: Vec<Record> = (1..=3)
        .map(|n| row(n, json!({"orderId": n, "itemId": n})))
        .collect();
    api.invoke("retry", kinesis_event(&records));

    assert_eq!(
        api.response("retry").await,
        json!({"batchItemFailures": []})
    );
    // All three, then only the two unprocessed ones, twice (the 500 is retried too).
    assert_eq!(dynamodb.request_counts(), vec![3, 2, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_still_failing_at_the_deadline_are_reported_at_their_earliest_record() {
    let dynamodb = FakeDynamoDb::start(&[Reply::Throttled]).await;
    let mut api = RuntimeApi::start().await.unwrap();
    let _function = spawn_with_fake(&api, &dynamodb);

    let records = vec![
        row(1, json!({"orderId": 1, "itemId": 1, "v": "a"})),
        row(2, json!({"orderId": 2, "itemId": 2})),
        row(3, json!({"orderId": 1, "itemId": 1, "v": "b"})),
    ];
    let started = std::time::Instant::now();
    // 3 s to run, 1 s of margin (DEADLINE_MARGIN_MS): retries stop after about 2 s.
    api.invoke_with_timeout("throttled", kinesis_event(&records), Duration::from_secs(3));

    assert_eq!(
        api.response("throttled").await,
        json!({"batchItemFailures": [
            {"itemIdentifier": sequence_number(1)},
            {"itemIdentifier": sequence_number(2)},
        ]})
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(3),
        "answered after {elapsed:?}"
    );
    let calls = dynamodb.request_counts();
    assert!(calls.len() > 1, "throttling is retried: {calls:?}");
    assert!(
        calls.iter().all(|&n| n == 2),
        "one write per key: {calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_writes_are_not_retried_and_are_reported() {
    let dynamodb = FakeDynamoDb::start(&[Reply::NotFound]).await;
    let mut api = RuntimeApi::start().await.unwrap();
    let _function = spawn_with_fake(&api, &dynamodb);

    api.invoke(
        "rejected",
        kinesis_event(&[row(7, json!({"orderId": 1, "itemId": 1}))]),
    );

    assert_eq!(
        api.response("rejected").await,
        json!({"batchItemFailures": [{"itemIdentifier": sequence_number(7)}]})
    );
    assert_eq!(dynamodb.request_counts(), vec![1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_are_dead_lettered_and_good_ones_written() {
    let mut env = sink_env_with_keys();
    env.push(("DEAD_LETTER_BUCKET", DEAD_LETTER_BUCKET));
    let mut test = on_emulator_with_bucket(&env, Some(DEAD_LETTER_BUCKET)).await;

    let too_large = "x".repeat(410 * 1024);
    let records = vec![
        row(1, json!({"orderId": 1, "itemId": 1, "itemStatus": "New"})),
        (sequence_number(2), b"{not json".to_vec()),
        row(3, json!({"orderId": 3, "itemId": 3, "itemStatus": "New"})),
        row(4, json!({"orderId": "4", "itemId": 4})),
        row(5, json!({"orderId": 5})),
        row(6, json!({"orderId": 6, "itemId": 6, "amount": "<1e200>"})),
        row(7, json!({"orderId": 7, "itemId": 7, "blob": too_large})),
        (sequence_number(8), b"\xff\xfe\x00".to_vec()),
        row(9, json!({"orderId": 9, "itemId": 9, "itemStatus": "New"})),
    ];
    test.api.invoke("dlq", kinesis_event(&records));

    assert_eq!(
        test.api.response("dlq").await,
        json!({"batchItemFailures": []}),
        "dead-lettered records are done"
    );
    for id in ["1", "3", "9"] {
        get_item(&test.dynamodb, id, id).await;
    }

    let expected = [
        (2, "not_json"),
        (4, "key_wrong_type"),
        (5, "key_missing"),
        (6, "number_out_of_range"),
        (7, "item_too_large"),
        (8, "not_json"),
    ];
    let keys = list_keys(&test.s3, DEAD_LETTER_BUCKET).await;
    assert_eq!(keys.len(), expected.len(), "{keys:?}");
    for (n, kind) in expected {
        let sequence = sequence_number(n);
        // Dated by the records' arrival (1700000000.123 is 2023-11-14T22:13:20.123Z).
        let key = format!("dead-letter/2023/11/14/shardId-000000000000/{sequence}.json");
        let letter = get_json(&test.s3, DEAD_LETTER_BUCKET, &key).await;
        assert_eq!(letter["reason"]["kind"], kind, "{letter}");
        assert!(letter["reason"]["message"].as_str().unwrap().len() > 10);
        assert_eq!(letter["sequence_number"], sequence);
        assert_eq!(letter["partition_key"], "orders");
        assert_eq!(letter["shard_id"], "shardId-000000000000");
        assert_eq!(letter["event_source_arn"], STREAM_ARN);
        assert_eq!(
            letter["approximate_arrival_timestamp"],
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(letter["request_id"], "dlq");
        let original = &records.iter().find(|(s, _)| *s == sequence).unwrap().1;
        let payload = base64::engine::general_purpose::STANDARD
            .decode(letter["payload"].as_str().unwrap())
            .unwrap();
        assert_eq!(&payload, original, "{sequence}");
        match std::str::from_utf8(original) {
            Ok(text) => assert_eq!(letter["payload_text"], text),
            Err(_) => assert!(letter.get("payload_text").is_none()),
        }
    }

    let metrics = test.function.metrics_of("dlq").await;
    assert_eq!(metrics["RecordsIn"], 9);
    assert_eq!(metrics["RecordsWritten"], 3);
    assert_eq!(metrics["RecordsDeadLettered"], 6);
    assert_eq!(metrics["RecordsFailed"], 0);
    // The payloads are in the bucket, never in the logs.
    let logs = test.function.logs().await;
    assert!(!logs.contains("not json"), "{logs}");
    assert!(logs.contains("number_out_of_range"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_whose_dead_letter_cannot_be_stored_are_reported() {
    let mut env = sink_env_with_keys();
    // Never created.
    env.push(("DEAD_LETTER_BUCKET", "no-such-bucket"));
    env.push(("DEAD_LETTER_PREFIX", "poison/"));
    let mut test = on_emulator(&env).await;

    let records = vec![
        row(1, json!({"orderId": 1, "itemId": 1})),
        (sequence_number(2), b"[]".to_vec()),
        row(3, json!({"orderId": 3, "itemId": 3})),
        row(4, json!({"itemId": 4})),
    ];
    test.api.invoke("no-bucket", kinesis_event(&records));

    assert_eq!(
        test.api.response("no-bucket").await,
        json!({"batchItemFailures": [
            {"itemIdentifier": sequence_number(2)},
            {"itemIdentifier": sequence_number(4)},
        ]})
    );
    get_item(&test.dynamodb, "1", "1").await;
    get_item(&test.dynamodb, "3", "3").await;
    let metrics = test.function.metrics_of("no-bucket").await;
    assert_eq!(metrics["RecordsDeadLettered"], 0);
    assert_eq!(metrics["RecordsFailed"], 2);
    let logs = test.function.logs().await;
    assert!(
        logs.contains("s3://no-such-bucket/poison/2023/11/14/"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_dead_letter_bucket_fails_at_init_naming_the_variable() {
    let mut api = RuntimeApi::start().await.unwrap();
    let _function = spawn_process(
        &api,
        &[
            ("SINK_TABLE", TABLE),
            ("SINK_PARTITION_KEY", "orderId:N"),
            ("DEAD_LETTER_BUCKET", "Orders_DLQ"),
        ],
    );

    let (error_type, body) = api.init_error().await;
    assert_eq!(error_type, "UnifiedEtl.ConfigError");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(message.contains("DEAD_LETTER_BUCKET"), "{message}");
    assert!(message.contains("Orders_DLQ"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_replay_leaves_the_newer_version() {
    let mut env = sink_env_with_keys();
    // A DynamoDB reserved word: the condition must use placeholders.
    env.push(("VERSION_ATTRIBUTE", "version"));
    let mut test = on_emulator(&env).await;

    let versioned = |n, item: u64, version: Value, status: &str| {
        row(
            n,
            json!({"orderId": 1, "itemId": item, "version": version, "itemStatus": status}),
        )
    };
    test.api.invoke(
        "newer",
        kinesis_event(&[
            versioned(1, 1, json!(5), "Shipped"),
            versioned(2, 2, json!(1), "New"),
            versioned(3, 3, json!("2024-05-02T08:00:00Z"), "Shipped"),
        ]),
    );
    assert_eq!(
        test.api.response("newer").await,
        json!({"batchItemFailures": []})
    );

    // Lambda replays older changes (a re-driven batch, a producer retry), plus one newer one
    // and one without a version.
    test.api.invoke(
        "replay",
        kinesis_event(&[
            versioned(11, 1, json!("<3.0>"), "New"),
            versioned(12, 2, json!(2), "Picked"),
            versioned(13, 3, json!("2024-05-01T23:59:59Z"), "New"),
            row(14, json!({"orderId": 1, "itemId": 4, "itemStatus": "New"})),
        ]),
    );
    assert_eq!(
        test.api.response("replay").await,
        json!({"batchItemFailures": [{"itemIdentifier": sequence_number(14)}]}),
        "a record without a version is poison"
    );

    assert_eq!(item_status(&test.dynamodb, "1", "1").await, "Shipped");
    assert_number(&get_item(&test.dynamodb, "1", "1").await["version"], "5");
    assert_eq!(item_status(&test.dynamodb, "1", "2").await, "Picked");
    assert_eq!(item_status(&test.dynamodb, "1", "3").await, "Shipped");

    let metrics = test.function.metrics_of("replay").await;
    assert_eq!(metrics["RecordsWritten"], 1);
    assert_eq!(metrics["RecordsStale"], 2);
    assert_eq!(metrics["RecordsFailed"], 1);
    let logs = test.function.logs().await;
    assert!(logs.contains("version_missing"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_keep_the_highest_version_and_equal_versions_are_idempotent() {
    let mut env = sink_env_with_keys();
    env.push(("VERSION_ATTRIBUTE", "event_ts:N"));
    let mut test = on_emulator(&env).await;

    let versioned = |n, item: u64, version: &str, status: &str| {
        row(
            n,
            json!({"orderId": 1, "itemId": item, "event_ts": format!("<{version}>"), "itemStatus": status}),
        )
    };
    let batch = vec![
        versioned(1, 1, "2", "b"),
        versioned(2, 1, "10", "j"),
        versioned(3, 2, "7", "x"),
        versioned(4, 1, "9.5", "i"),
        // Equal to 7: ties go to the later record.
        versioned(5, 2, "7.0", "y"),
    ];
    test.api.invoke("dupes", kinesis_event(&batch));
    assert_eq!(
        test.api.response("dupes").await,
        json!({"batchItemFailures": []})
    );
    assert_eq!(item_status(&test.dynamodb, "1", "1").await, "j");
    assert_eq!(item_status(&test.dynamodb, "1", "2").await, "y");
    let metrics = test.function.metrics_of("dupes").await;
    assert_eq!(metrics["RecordsWritten"], 5);
    assert_eq!(metrics["RecordsStale"], 0);

    // The same batch again (Lambda re-delivers after a lost response): nothing changes.
    test.api.invoke("again", kinesis_event(&batch));
    assert_eq!(
        test.api.response("again").await,
        json!({"batchItemFailures": []})
    );
    // An equal version with other content is not newer either.
    test.api
        .invoke("equal", kinesis_event(&[versioned(6, 2, "7", "z")]));
    assert_eq!(
        test.api.response("equal").await,
        json!({"batchItemFailures": []})
    );
    assert_eq!(item_status(&test.dynamodb, "1", "1").await, "j");
    assert_eq!(item_status(&test.dynamodb, "1", "2").await, "y");
    let again = test.function.metrics_of("again").await;
    assert_eq!(again["RecordsWritten"], 0);
    assert_eq!(
        again["RecordsStale"], 5,
        "every record of the replay is stale"
    );
    let equal = test.function.metrics_of("equal").await;
    assert_eq!(equal["RecordsStale"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_between_the_function_and_dynamodb_lose_and_duplicate_nothing() {
    let stream = generated_stream(3000, 400, false);
    let faults = run_through_fault_proxy(
        &stream,
        &[("WRITE_CONCURRENCY", "4")],
        250,
        Duration::from_secs(4),
        60,
    )
    .await;
    assert!(faults.partial > 0, "{faults:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioned_writes_survive_the_same_faults() {
    let stream = generated_stream(1500, 300, true);
    let faults = run_through_fault_proxy(
        &stream,
        &[
            ("WRITE_CONCURRENCY", "8"),
            ("VERSION_ATTRIBUTE", "event_ts"),
        ],
        250,
        Duration::from_secs(6),
        400,
    )
    .await;
    assert_eq!(faults.partial, 0, "PutItem has no unprocessed items");
}

/// `count` records over `keys` keys (orderId × itemId), keys drawn with a fixed seed; record `n`
/// carries `seq = n`, and with `versioned` also `event_ts = n`.
fn generated_stream(count: u64, keys: u32, versioned: bool) -> Vec<Record> {
    let mut rng = fastrand::Rng::with_seed(0x0123_4567);
    (1..=count)
        .map(|n| {
            let key = rng.u32(0..keys);
            let mut value = json!({
                "orderId": 10_000_000 + key / 10,
                "itemId": 999_900_000 + key % 10,
                "seq": n,
                "itemStatus": format!("status-{n}"),
                "itemAmount": "<100.10>",
            });
            if versioned {
                value["event_ts"] = json!(n);
            }
            row(n, value)
        })
        .collect()
}

/// Runs `stream` through the function, whose DynamoDB traffic crosses a [`FaultProxy`],
/// re-driving failures as Lambda does; then checks that the table holds exactly the last
/// value of every key. Returns the faults injected.
async fn run_through_fault_proxy(
    stream: &[Record],
    env: &[(&str, &str)],
    batch_size: usize,
    timeout: Duration,
    storm_at: usize,
) -> FaultCounts {
    let started = std::time::Instant::now();
    let (emulator, dynamodb, _s3) = start_emulator().await;
    let storm = Storm {
        at: storm_at,
        lasting: timeout + Duration::from_secs(1),
    };
    let proxy = FaultProxy::start(emulator.port, 0x5EED, storm).await;
    let mut api = RuntimeApi::start().await.unwrap();
    let mut all = sink_env_with_keys();
    all.retain(|(k, _)| *k != "WRITE_CONCURRENCY");
    all.extend_from_slice(env);
    all.push(("AWS_ENDPOINT_URL_DYNAMODB", &proxy.endpoint));
    all.push(("DEADLINE_MARGIN_MS", "1000"));
    let function = spawn_on_emulator(&emulator, &api, &all);

    let invocations = redrive(&mut api, stream, batch_size, timeout).await;

    // The table: one item per key, holding the key's last record.
    let mut expected: HashMap<(String, String), u64> = HashMap::new();
    for (_, data) in stream {
        let value: Value = serde_json::from_slice(data).unwrap();
        expected.insert(
            (value["orderId"].to_string(), value["itemId"].to_string()),
            value["seq"].as_u64().unwrap(),
        );
    }
    let items = scan(&dynamodb).await;
    assert_eq!(
        items.len(),
        expected.len(),
        "one item per key, no more, no less"
    );
    for item in &items {
        let key = (number(&item["orderId"]), number(&item["itemId"]));
        let seq: u64 = number(&item["seq"]).parse().unwrap();
        assert_eq!(Some(&seq), expected.get(&key), "last value of {key:?}");
        assert_eq!(
            item["itemStatus"],
            AttributeValue::S(format!("status-{seq}"))
        );
        assert_number(&item["itemAmount"], "100.10");
    }

    let faults = proxy.counts();
    let metrics = function.metrics().await;
    let sum = |name: &str| -> u64 { metrics.iter().map(|m| m[name].as_u64().unwrap()).sum() };
    eprintln!(
        "{} records, {} keys, {invocations} invocations in {:?}; faults {faults:?}; \
         RecordsIn {} Written {} Stale {} Retried {} Failed {}",
        stream.len(),
        expected.len(),
        started.elapsed(),
        sum("RecordsIn"),
        sum("RecordsWritten"),
        sum("RecordsStale"),
        sum("RecordsRetried"),
        sum("RecordsFailed"),
    );
    assert_eq!(
        metrics.len(),
        invocations,
        "one metrics line per invocation"
    );
    assert!(sum("RecordsRetried") > 0);
    // The storm outlasts an invocation: some writes ran out of time, were reported, and their
    // records were sent again.
    assert!(faults.storm > 0, "{faults:?}");
    assert!(sum("RecordsFailed") > 0);
    assert!(invocations > stream.len().div_ceil(batch_size), "re-driven");
    assert!(sum("RecordsIn") > stream.len() as u64);
    assert!(faults.throttled > 0, "{faults:?}");
    assert!(faults.server_errors > 0, "{faults:?}");
    assert!(faults.dropped_before > 0, "{faults:?}");
    assert!(faults.dropped_after > 0, "{faults:?}");
    assert!(faults.slow > 0, "{faults:?}");
    faults
}

/// Feeds `stream` to the function in batches as one shard's event source mapping does: a
/// response listing failures makes the next batch start at the lowest reported sequence number
/// (Lambda's checkpoint); an empty one moves past the batch. Returns the number of invocations.
async fn redrive(
    api: &mut RuntimeApi,
    stream: &[Record],
    batch_size: usize,
    timeout: Duration,
) -> usize {
    let mut position = 0;
    let mut invocations = 0;
    while position < stream.len() {
        invocations += 1;
        assert!(
            invocations <= 10 * stream.len().div_ceil(batch_size),
            "no progress"
        );
        let batch = &stream[position..(position + batch_size).min(stream.len())];
        let id = format!("batch-{invocations}");
        api.invoke_with_timeout(&id, kinesis_event(batch), timeout);
        let response = api.response(&id).await;
        let failures: Vec<&str> = response["batchItemFailures"]
            .as_array()
            .expect("a partial batch response")
            .iter()
            .map(|failure| failure["itemIdentifier"].as_str().unwrap())
            .collect();
        let Some(lowest) = failures
            .iter()
            .min_by_key(|sequence| (sequence.len(), **sequence))
        else {
            position += batch.len();
            continue;
        };
        position += batch
            .iter()
            .position(|(sequence, _)| sequence == lowest)
            .expect("a reported sequence number belongs to the batch");
    }
    invocations
}

async fn scan(client: &aws_sdk_dynamodb::Client) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(TABLE)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("Scan");
        items.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return items,
        }
    }
}

async fn item_status(client: &aws_sdk_dynamodb::Client, order_id: &str, item_id: &str) -> String {
    let item = get_item(client, order_id, item_id).await;
    item["itemStatus"]
        .as_s()
        .expect("itemStatus is a string")
        .clone()
}

fn number(value: &AttributeValue) -> String {
    value.as_n().expect("a number").clone()
}

async fn list_keys(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    client
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("ListObjectsV2")
        .contents
        .unwrap_or_default()
        .into_iter()
        .filter_map(|object| object.key)
        .collect()
}

async fn get_json(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Value {
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|err| panic!("GetObject {key}: {err:?}"));
    let bytes = object.body.collect().await.unwrap().into_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

// ------------------------------------------------------------------------------ helpers

fn sequence_number(n: u64) -> String {
    format!("49590338271490256608559692538361571095921575989136588{n:03}")
}

/// A record with sequence number `n`. Strings written `"<digits>"` in `value` become bare JSON
/// numbers with exactly that text, which `serde_json::Value` could not hold.
fn row(n: u64, value: Value) -> Record {
    let text = serde_json::to_string(&value).unwrap();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find("\"<") {
        let end = start + rest[start..].find(">\"").expect("closing >\"");
        out.push_str(&rest[..start]);
        out.push_str(&rest[start + 2..end]);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    (sequence_number(n), out.into_bytes())
}

fn sink_env_with_keys() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SINK_TABLE", TABLE),
        ("SINK_PARTITION_KEY", "orderId:N"),
        ("SINK_SORT_KEY", "itemId:N"),
        ("WRITE_CONCURRENCY", "3"),
    ]
}

fn assert_number(value: &AttributeValue, expected: &str) {
    let AttributeValue::N(text) = value else {
        panic!("expected N {expected}, got {value:?}");
    };
    // DynamoDB itself may drop trailing zeros (300.10 → 300.1); the value must be exact.
    let canonical = |text: &str| Decimal::parse(text).unwrap().canonical();
    assert_eq!(canonical(text), canonical(expected), "{text} vs {expected}");
}

/// The function running against its own emulator, which holds an empty orders table (and, if
/// asked for, an empty dead-letter bucket).
struct OnEmulator {
    dynamodb: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    api: RuntimeApi,
    function: Function,
    /// Last, so that it outlives the function.
    _emulator: Emulator,
}

async fn on_emulator(sink: &[(&str, &str)]) -> OnEmulator {
    on_emulator_with_bucket(sink, None).await
}

/// Like [`on_emulator`], creating `bucket` first.
async fn on_emulator_with_bucket(sink: &[(&str, &str)], bucket: Option<&str>) -> OnEmulator {
    let (emulator, dynamodb, s3) = start_emulator().await;
    if let Some(bucket) = bucket {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("creating the dead-letter bucket");
    }
    let api = RuntimeApi::start().await.unwrap();
    let function = spawn_on_emulator(&emulator, &api, sink);
    OnEmulator {
        dynamodb,
        s3,
        api,
        function,
        _emulator: emulator,
    }
}

/// A fresh emulator with the orders table, and clients for it.
async fn start_emulator() -> (Emulator, aws_sdk_dynamodb::Client, aws_sdk_s3::Client) {
    let emulator = tokio::task::spawn_blocking(Emulator::start)
        .await
        .unwrap()
        .expect("starting the emulator");
    let dynamodb = create_orders_table(&emulator).await;
    let sdk_config = emulator.sdk_config().await;
    // The emulator serves every bucket on one host: path-style addressing.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk_config)
            .force_path_style(true)
            .build(),
    );
    (emulator, dynamodb, s3)
}

/// The function binary, talking to `emulator` unless `env` says otherwise.
fn spawn_on_emulator(emulator: &Emulator, api: &RuntimeApi, env: &[(&str, &str)]) -> Function {
    let mut all = emulator.env();
    all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn_process(api, &all)
}

async fn create_orders_table(emulator: &Emulator) -> aws_sdk_dynamodb::Client {
    let client = aws_sdk_dynamodb::Client::new(&emulator.sdk_config().await);
    create_table(
        &client,
        TABLE,
        ("orderId", "itemId"),
        ScalarAttributeType::N,
    )
    .await
    .expect("creating the table");
    client
}

async fn get_item(
    client: &aws_sdk_dynamodb::Client,
    order_id: &str,
    item_id: &str,
) -> HashMap<String, AttributeValue> {
    client
        .get_item()
        .table_name(TABLE)
        .key("orderId", AttributeValue::N(order_id.into()))
        .key("itemId", AttributeValue::N(item_id.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .unwrap_or_else(|| panic!("item ({order_id}, {item_id}) was not written"))
}

fn spawn_with_fake(api: &RuntimeApi, dynamodb: &FakeDynamoDb) -> Function {
    let mut env = dynamodb.env();
    env.extend(
        sink_env_with_keys()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    env.push(("DEADLINE_MARGIN_MS".to_string(), "1000".to_string()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn_process(api, &env)
}

fn spawn_process(api: &RuntimeApi, env: &[(&str, &str)]) -> Function {
    Function::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_unifiedetl-lambda")),
        api,
        env,
    )
}

// ------------------------------------------------------------------------------ fake DynamoDB

/// How the fake DynamoDB answers one BatchWriteItem call.
#[derive(Clone, Copy, Debug)]
enum Reply {
    /// Everything written.
    Written,
    /// The first `n` requests come back in UnprocessedItems.
    Unprocessed(usize),
    /// HTTP 500 InternalServerError.
    ServerError,
    /// HTTP 400 ProvisionedThroughputExceededException.
    Throttled,
    /// HTTP 400 ResourceNotFoundException.
    NotFound,
}

/// A DynamoDB endpoint that answers BatchWriteItem from a script (the last reply repeats) and
/// records every call, for the retry paths the emulator cannot provoke.
struct FakeDynamoDb {
    endpoint: String,
    calls: Arc<std::sync::Mutex<Vec<Value>>>,
}

impl FakeDynamoDb {
    async fn start(script: &[Reply]) -> FakeDynamoDb {
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let script = Arc::new(script.to_vec());
        let recorded = calls.clone();
        let address = serve(move |request| {
            let calls = recorded.clone();
            let script = script.clone();
            async move {
                let body = request.json();
                let reply = {
                    let mut calls = calls.lock().unwrap();
                    calls.push(body.clone());
                    script[(calls.len() - 1).min(script.len() - 1)]
                };
                Some(dynamodb_reply(reply, &body))
            }
        })
        .await
        .unwrap();
        FakeDynamoDb {
            endpoint: format!("http://{address}"),
            calls,
        }
    }

    /// The number of write requests in each BatchWriteItem call so far.
    fn request_counts(&self) -> Vec<usize> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|call| call["RequestItems"][TABLE].as_array().map_or(0, Vec::len))
            .collect()
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

fn dynamodb_reply(reply: Reply, request: &Value) -> http::Reply {
    let error = |status: &str, kind: &str| {
        let body =
            json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": kind});
        http_response(status, &[], &body.to_string())
    };
    match reply {
        Reply::Written => http_response("200 OK", &[], r#"{"UnprocessedItems":{}}"#),
        Reply::Unprocessed(n) => {
            let requests = request["RequestItems"][TABLE]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let unprocessed: Vec<Value> = requests.into_iter().take(n).collect();
            let body = json!({"UnprocessedItems": {TABLE: unprocessed}});
            http_response("200 OK", &[], &body.to_string())
        }
        Reply::ServerError => error("500 Internal Server Error", "InternalServerError"),
        Reply::Throttled => error("400 Bad Request", "ProvisionedThroughputExceededException"),
        Reply::NotFound => error("400 Bad Request", "ResourceNotFoundException"),
    }
}

// ------------------------------------------------------------------------------ fault proxy

/// What the fault proxy did, by kind.
#[derive(Debug, Default)]
struct FaultCounts {
    /// Answered 400 ProvisionedThroughputExceededException without forwarding.
    throttled: usize,
    /// Answered 500 InternalServerError without forwarding.
    server_errors: usize,
    /// Closed the connection without forwarding or answering.
    dropped_before: usize,
    /// Forwarded (the write happened), then closed the connection without answering.
    dropped_after: usize,
    /// Forwarded, then answered 300 ms late.
    slow: usize,
    /// Forwarded part of a BatchWriteItem; answered the rest as UnprocessedItems.
    partial: usize,
    /// Forwarded untouched.
    clean: usize,
    /// Throttled during the storm.
    storm: usize,
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    Throttle,
    ServerError,
    DropBefore,
    DropAfter,
    Slow,
    Partial,
    None,
}

/// An HTTP/1.1 proxy on 127.0.0.1 in front of the emulator's DynamoDB that injects faults into
/// writes (BatchWriteItem and PutItem) on a schedule drawn from a seeded PRNG: the sequence of
/// faults is fixed; which request gets which depends on the order concurrent requests arrive.
/// Other calls pass untouched.
///
/// On top of that, a throttling storm: from the [`Storm::at`]th write on, every write is
/// throttled for [`Storm::lasting`] — longer than an invocation, so that some writes surely run
/// out of time and are reported, and Lambda's re-driving is exercised too.
struct FaultProxy {
    endpoint: String,
    counts: Arc<std::sync::Mutex<FaultCounts>>,
}

/// See [`FaultProxy`].
struct Storm {
    at: usize,
    lasting: Duration,
}

/// The proxy's schedule: the PRNG, and the storm's progress.
struct Schedule {
    rng: fastrand::Rng,
    writes: usize,
    storm: Storm,
    storm_started: Option<std::time::Instant>,
}

impl FaultProxy {
    async fn start(upstream_port: u16, seed: u64, storm: Storm) -> FaultProxy {
        let counts = Arc::new(std::sync::Mutex::new(FaultCounts::default()));
        let schedule = Arc::new(std::sync::Mutex::new(Schedule {
            rng: fastrand::Rng::with_seed(seed),
            writes: 0,
            storm,
            storm_started: None,
        }));
        let recorded = counts.clone();
        let address = serve(move |request| {
            let counts = recorded.clone();
            let schedule = schedule.clone();
            async move { fault_proxy(request, upstream_port, &schedule, &counts).await }
        })
        .await
        .unwrap();
        FaultProxy {
            endpoint: format!("http://{address}"),
            counts,
        }
    }

    fn counts(&self) -> FaultCounts {
        std::mem::take(&mut *self.counts.lock().unwrap())
    }
}

async fn fault_proxy(
    request: Request,
    upstream_port: u16,
    schedule: &std::sync::Mutex<Schedule>,
    counts: &std::sync::Mutex<FaultCounts>,
) -> Option<http::Reply> {
    let target = request.header("x-amz-target");
    let operation = target.rsplit('.').next().unwrap_or_default().to_string();
    let is_write = matches!(operation.as_str(), "BatchWriteItem" | "PutItem");
    let (fault, split, in_storm) = {
        let mut schedule = schedule.lock().unwrap();
        let roll = schedule.rng.u32(0..100);
        let split = schedule.rng.f64();
        let mut in_storm = false;
        if is_write {
            schedule.writes += 1;
            if schedule.writes >= schedule.storm.at {
                let started = *schedule
                    .storm_started
                    .get_or_insert_with(std::time::Instant::now);
                in_storm = started.elapsed() < schedule.storm.lasting;
            }
        }
        let fault = match roll {
            _ if !is_write => Fault::None,
            _ if in_storm => Fault::Throttle,
            0..=9 => Fault::Throttle,
            10..=17 => Fault::ServerError,
            18..=22 => Fault::DropBefore,
            23..=27 => Fault::DropAfter,
            28..=35 => Fault::Slow,
            36..=55 if operation == "BatchWriteItem" => Fault::Partial,
            _ => Fault::None,
        };
        (fault, split, in_storm)
    };
    let error = |status: &str, kind: &str, message: &str| {
        let body = json!({
            "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
            "message": message,
        });
        http_response(status, &[("x-amzn-ErrorType", kind)], &body.to_string())
    };
    let counts_of = || counts.lock().unwrap();
    match fault {
        Fault::Throttle => {
            if in_storm {
                counts_of().storm += 1;
            } else {
                counts_of().throttled += 1;
            }
            Some(error(
                "400 Bad Request",
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
            ))
        }
        Fault::ServerError => {
            counts_of().server_errors += 1;
            Some(error(
                "500 Internal Server Error",
                "InternalServerError",
                "Internal server error",
            ))
        }
        Fault::DropBefore => {
            counts_of().dropped_before += 1;
            None
        }
        Fault::DropAfter => {
            forward(upstream_port, &request, &request.body).await?;
            counts_of().dropped_after += 1;
            None
        }
        Fault::Slow => {
            let response = forward(upstream_port, &request, &request.body).await?;
            counts_of().slow += 1;
            tokio::time::sleep(Duration::from_millis(300)).await;
            Some(response.render())
        }
        Fault::Partial => {
            let mut body = request.json();
            let requests = body["RequestItems"][TABLE]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if requests.len() < 2 {
                counts_of().clean += 1;
                return Some(
                    forward(upstream_port, &request, &request.body)
                        .await?
                        .render(),
                );
            }
            // Forward 1..n-1 of the n writes; the others come back unprocessed.
            let forwarded = 1 + (split * (requests.len() - 1) as f64) as usize;
            let (sent, kept) = requests.split_at(forwarded.min(requests.len() - 1));
            body["RequestItems"][TABLE] = json!(sent);
            let response = forward(upstream_port, &request, body.to_string().as_bytes()).await?;
            if response.status != 200 {
                return Some(response.render());
            }
            counts_of().partial += 1;
            let answer = json!({"UnprocessedItems": {TABLE: kept}});
            Some(http_response("200 OK", &[], &answer.to_string()))
        }
        Fault::None => {
            counts_of().clean += usize::from(is_write);
            Some(
                forward(upstream_port, &request, &request.body)
                    .await?
                    .render(),
            )
        }
    }
}

/// A response read back from the emulator.
struct Upstream {
    status: u16,
    status_line: String,
    request_id: String,
    body: String,
}

impl Upstream {
    /// The response for the function. The CRC32 header is left out: the body may have been
    /// rewritten.
    fn render(&self) -> http::Reply {
        http_response(
            &self.status_line,
            &[("x-amzn-RequestId", &self.request_id)],
            &self.body,
        )
    }
}

/// Sends the request (with `body`) to the emulator on a fresh connection and reads the answer.
async fn forward(port: u16, request: &Request, body: &[u8]) -> Option<Upstream> {
    let response = send(&format!("127.0.0.1:{port}"), request, body).await?;
    Some(Upstream {
        status: response.status,
        request_id: response
            .header("x-amzn-requestid")
            .unwrap_or_default()
            .to_string(),
        body: String::from_utf8(response.body).ok()?,
        status_line: response.status_line,
    })
}
