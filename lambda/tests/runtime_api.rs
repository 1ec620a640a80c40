//! The real `bootstrap` binary, run as Lambda runs it: against a Runtime API (a small fake
//! implemented here) with DynamoDB served by the local emulator.
//!
//! Each test starts its own emulator and fake Runtime API on free ports of 127.0.0.1, queues
//! Kinesis events, and checks both what the function answered and what landed in the table.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use base64::Engine as _;
use harness::Emulator;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, Mutex};
use unifiedetl_lambda::decode::Decimal;

const TABLE: &str = "UnifiedOrderEnriched";
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
    let mut api = FakeRuntimeApi::start().await;
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
    let mut api = FakeRuntimeApi::start().await;
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
    let mut api = FakeRuntimeApi::start().await;
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
    let mut api = FakeRuntimeApi::start().await;
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

// ------------------------------------------------------------------------------ helpers

/// A record: sequence number and payload. Strings written `"<digits>"` in `row` become bare
/// JSON numbers with exactly that text, which `serde_json::Value` could not hold.
type Record = (String, Vec<u8>);

fn sequence_number(n: u64) -> String {
    format!("49590338271490256608559692538361571095921575989136588{n:03}")
}

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

fn kinesis_event(records: &[Record]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|(sequence, data)| {
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "orders",
                    "sequenceNumber": sequence,
                    "data": base64::engine::general_purpose::STANDARD.encode(data),
                    "approximateArrivalTimestamp": 1_700_000_000.123
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{sequence}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/persist",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/order-enriched"
            })
        })
        .collect();
    json!({ "Records": records })
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

/// The function running against its own emulator, which holds an empty orders table.
struct OnEmulator {
    dynamodb: aws_sdk_dynamodb::Client,
    api: FakeRuntimeApi,
    function: Function,
    /// Last, so that it outlives the function.
    _emulator: Emulator,
}

async fn on_emulator(sink: &[(&str, &str)]) -> OnEmulator {
    let emulator = tokio::task::spawn_blocking(Emulator::start)
        .await
        .unwrap()
        .expect("starting the emulator");
    let dynamodb = create_orders_table(&emulator).await;
    let api = FakeRuntimeApi::start().await;
    let mut env = emulator.env();
    env.extend(sink.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let function = spawn_process(&api, &env);
    OnEmulator {
        dynamodb,
        api,
        function,
        _emulator: emulator,
    }
}

async fn create_orders_table(emulator: &Emulator) -> aws_sdk_dynamodb::Client {
    let client = aws_sdk_dynamodb::Client::new(&emulator.sdk_config().await);
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::N)
            .build()
            .unwrap()
    };
    let key = |name: &str, key_type| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(TABLE)
        .attribute_definitions(attribute("orderId"))
        .attribute_definitions(attribute("itemId"))
        .key_schema(key("orderId", KeyType::Hash))
        .key_schema(key("itemId", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
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

/// The function's process, killed on drop, with its output collected.
struct Function {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Function {
    /// Everything the function printed so far (stdout and stderr).
    async fn logs(&self) -> String {
        // Give the last lines a moment to cross the pipe.
        tokio::time::sleep(Duration::from_millis(200)).await;
        String::from_utf8_lossy(&self.output.lock().await).into_owned()
    }
}

fn spawn_with_fake(api: &FakeRuntimeApi, dynamodb: &FakeDynamoDb) -> Function {
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

fn spawn_process(api: &FakeRuntimeApi, env: &[(&str, &str)]) -> Function {
    let mut child = Command::new(env!("CARGO_BIN_EXE_unifiedetl-lambda"))
        // Nothing from the developer's environment (profiles, real credentials) leaks in.
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "persist")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the function binary");
    let output = Arc::new(Mutex::new(Vec::new()));
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    tokio::spawn(drain(stdout, output.clone()));
    tokio::spawn(drain(stderr, output.clone()));
    Function { child, output }
}

async fn drain(mut pipe: impl tokio::io::AsyncRead + Unpin, into: Arc<Mutex<Vec<u8>>>) {
    let mut buffer = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        into.lock().await.extend_from_slice(&buffer[..n]);
    }
}

// ------------------------------------------------------------------------------ fake Runtime API

/// What the function told the Runtime API.
#[derive(Debug)]
enum Outcome {
    Response { id: String, body: Value },
    Error { id: String, body: Value },
    InitError { error_type: String, body: Value },
}

/// An invocation waiting for `/invocation/next`: request id, event, time allowed.
type Invocation = (String, String, Duration);

/// A Lambda Runtime API serving queued events on `/invocation/next` and reporting every
/// response and error the function posts.
struct FakeRuntimeApi {
    /// `127.0.0.1:<port>`, the form of `AWS_LAMBDA_RUNTIME_API`.
    address: String,
    events: mpsc::UnboundedSender<Invocation>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
}

impl FakeRuntimeApi {
    async fn start() -> FakeRuntimeApi {
        let (events_tx, events_rx) = mpsc::unbounded_channel::<Invocation>();
        let (outcomes_tx, outcomes_rx) = mpsc::unbounded_channel();
        let events = Arc::new(Mutex::new(events_rx));
        let address = serve(move |request| {
            let events = events.clone();
            let outcomes = outcomes_tx.clone();
            async move { runtime_api(request, &events, &outcomes).await }
        })
        .await;
        FakeRuntimeApi {
            address,
            events: events_tx,
            outcomes: outcomes_rx,
        }
    }

    fn invoke(&self, id: &str, event: Value) {
        self.invoke_with_timeout(id, event, WAIT);
    }

    fn invoke_with_timeout(&self, id: &str, event: Value, timeout: Duration) {
        self.events
            .send((id.to_string(), event.to_string(), timeout))
            .unwrap();
    }

    async fn next_outcome(&mut self) -> Outcome {
        tokio::time::timeout(WAIT, self.outcomes.recv())
            .await
            .expect("the function did not report back in time")
            .expect("the fake Runtime API stopped")
    }

    async fn response(&mut self, expected_id: &str) -> Value {
        match self.next_outcome().await {
            Outcome::Response { id, body } if id == expected_id => body,
            Outcome::Error { id, body } => panic!("invocation {id} failed: {body}"),
            other => panic!("expected the response to {expected_id}, got {other:?}"),
        }
    }

    async fn init_error(&mut self) -> (String, Value) {
        match self.next_outcome().await {
            Outcome::InitError { error_type, body } => (error_type, body),
            other => panic!("expected an init error, got {other:?}"),
        }
    }
}

async fn runtime_api(
    request: Request,
    events: &Mutex<mpsc::UnboundedReceiver<Invocation>>,
    outcomes: &mpsc::UnboundedSender<Outcome>,
) -> Option<String> {
    let path = request
        .path
        .strip_prefix("/2018-06-01/runtime")
        .unwrap_or(&request.path);
    let accepted = || http_response("202 Accepted", &[], r#"{"status":"OK"}"#);
    Some(match (request.method.as_str(), path) {
        ("GET", "/invocation/next") => {
            // Long poll, as Lambda does: answer when an event is queued.
            let (id, event, timeout) = events.lock().await.recv().await?;
            let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + timeout;
            http_response(
                "200 OK",
                &[
                    ("Lambda-Runtime-Aws-Request-Id", id.as_str()),
                    (
                        "Lambda-Runtime-Deadline-Ms",
                        &deadline.as_millis().to_string(),
                    ),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:persist",
                    ),
                    (
                        "Lambda-Runtime-Trace-Id",
                        "Root=1-5759e988-bd862e3fe1be46a994272793",
                    ),
                ],
                &event,
            )
        }
        ("POST", "/init/error") => {
            let _ = outcomes.send(Outcome::InitError {
                error_type: request.header("lambda-runtime-function-error-type"),
                body: request.json(),
            });
            accepted()
        }
        ("POST", path) if path.starts_with("/invocation/") => {
            let mut parts = path.trim_start_matches("/invocation/").splitn(2, '/');
            let id = parts.next().unwrap_or_default().to_string();
            let body = request.json();
            let _ = outcomes.send(match parts.next() {
                Some("response") => Outcome::Response { id, body },
                _ => Outcome::Error { id, body },
            });
            accepted()
        }
        _ => http_response("404 Not Found", &[], r#"{"errorMessage":"unknown path"}"#),
    })
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
        .await;
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

fn dynamodb_reply(reply: Reply, request: &Value) -> String {
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

// ------------------------------------------------------------------------------ minimal HTTP/1.1

/// Serves HTTP/1.1 on a free port of 127.0.0.1 with `handler` (which returns the raw response,
/// or `None` to drop the connection); returns `127.0.0.1:<port>`.
async fn serve<H, F>(handler: H) -> String
where
    H: Fn(Request) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Option<String>> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut reader = BufReader::new(read);
                while let Some(request) = read_request(&mut reader).await {
                    let Some(reply) = handler(request).await else {
                        return;
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    address
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> String {
        self.headers.get(name).cloned().unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
    }
}

/// Reads one HTTP/1.1 request (Content-Length or chunked body); `None` at end of stream.
async fn read_request(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).await.ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2]; // data + CRLF
            reader.read_exact(&mut chunk).await.ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = headers.get("content-length") {
        body.resize(length.parse().ok()?, 0);
        reader.read_exact(&mut body).await.ok()?;
    }
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn http_response(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out
}
