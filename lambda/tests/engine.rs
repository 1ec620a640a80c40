//! The `lambda` analytics engine through the real binary: DMS records in, the denormalised
//! sink out, against the local emulator (DynamoDB for the state and the sink, S3 for the
//! reference data and dead letters).
//!
//! - an oracle: the sample's SQL files run in a real MariaDB, the binary log read back as the
//!   DMS records it stands for, and the sink compared row for row with a SQL join;
//! - every interleaving class, by hand: items before their order, updates after, deletes,
//!   duplicates, an old batch replayed after newer ones;
//! - a property test: random changes over a few orders and items, delivered per shard in order
//!   but with two shards at once, duplicated and replayed; the sink always equals the join of
//!   the final rows.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{json, Value};
use testkit::dms::{self, Value as DmsValue};
use testkit::emulator::create_table;
use testkit::function::{kinesis_event, FunctionProcess, Record};
use testkit::mariadb::MariaDb;
use testkit::{repo_root, Emulator, RuntimeApi};
use unifiedetl_lambda::decode::Decimal;

const SINK: &str = "UnifiedOrderEnriched";
const STATE: &str = "orders-engine-state";
const REFERENCE_BUCKET: &str = "orders-reference-123456789012";
const REFERENCE_KEY: &str = "reference/products.json";
const DEAD_LETTER_BUCKET: &str = "orders-dlq-123456789012";

/// The sample's enrichment, as the engine's correlation.
fn correlation() -> Value {
    dms::sample_correlation(REFERENCE_BUCKET, REFERENCE_KEY)
}

/// The emulator with the sink, state, reference and dead-letter resources, and `functions`
/// processes of the engine polling one Runtime API (two give two invocations at once, as two
/// shards would).
struct Pipeline {
    api: RuntimeApi,
    functions: Vec<FunctionProcess>,
    dynamodb: aws_sdk_dynamodb::Client,
    _emulator: Emulator,
    invocations: u64,
}

impl Pipeline {
    async fn start(functions: usize) -> Pipeline {
        Pipeline::start_with(functions, &[]).await
    }

    /// With extra environment for the function.
    async fn start_with(functions: usize, extra: &[(&str, &str)]) -> Pipeline {
        let emulator = tokio::task::spawn_blocking(Emulator::start)
            .await
            .unwrap()
            .expect("starting the emulator");
        let sdk_config = emulator.sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk_config);
        create_table(
            &dynamodb,
            SINK,
            ("orderId", "itemId"),
            ScalarAttributeType::N,
        )
        .await
        .unwrap();
        create_table(&dynamodb, STATE, ("pk", "sk"), ScalarAttributeType::S)
            .await
            .unwrap();
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk_config)
                .force_path_style(true)
                .build(),
        );
        for bucket in [REFERENCE_BUCKET, DEAD_LETTER_BUCKET] {
            s3.create_bucket().bucket(bucket).send().await.unwrap();
        }
        let products =
            std::fs::read(repo_root().join("examples/quickstart/reference/products.json")).unwrap();
        s3.put_object()
            .bucket(REFERENCE_BUCKET)
            .key(REFERENCE_KEY)
            .body(products.into())
            .send()
            .await
            .unwrap();

        let api = RuntimeApi::start().await.unwrap();
        let correlation = correlation().to_string();
        let mut env = emulator.env();
        env.extend(
            [
                ("SINK_TABLE", SINK),
                ("SINK_PARTITION_KEY", "orderId:N"),
                ("SINK_SORT_KEY", "itemId:N"),
                ("STATE_TABLE", STATE),
                ("CORRELATION", correlation.as_str()),
                ("DEAD_LETTER_BUCKET", DEAD_LETTER_BUCKET),
                ("WRITE_CONCURRENCY", "4"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let binary = Path::new(env!("CARGO_BIN_EXE_unifiedetl-lambda"));
        let functions = (0..functions)
            .map(|_| FunctionProcess::spawn(binary, &api, &env))
            .collect();
        Pipeline {
            api,
            functions,
            dynamodb,
            _emulator: emulator,
            invocations: 0,
        }
    }

    /// Invokes the engine with each batch at once (one invocation per batch) and checks that
    /// every record was handled (no batch item failures).
    async fn deliver(&mut self, batches: &[Vec<Record>]) {
        let mut ids = Vec::new();
        for batch in batches {
            self.invocations += 1;
            let id = format!("invocation-{}", self.invocations);
            self.api.invoke(&id, kinesis_event(batch));
            ids.push(id);
        }
        for _ in &ids {
            let outcome = self
                .api
                .next_outcome(testkit::runtime_api::WAIT)
                .await
                .expect("the engine did not answer");
            assert_eq!(
                outcome.report,
                testkit::runtime_api::Report::Response,
                "{}: {}\n{}",
                outcome.id,
                outcome.body,
                self.functions[0].logs().await
            );
            assert_eq!(
                outcome.body,
                json!({"batchItemFailures": []}),
                "{}",
                outcome.id
            );
        }
    }

    /// The sink, keyed by (orderId, itemId), every value as text (numbers canonical).
    async fn sink(&self) -> BTreeMap<(String, String), BTreeMap<String, String>> {
        let mut rows = BTreeMap::new();
        let mut start = None;
        loop {
            let page = self
                .dynamodb
                .scan()
                .table_name(SINK)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .unwrap();
            for item in page.items.unwrap_or_default() {
                let row: BTreeMap<String, String> = item
                    .iter()
                    .map(|(name, value)| (name.clone(), text(value)))
                    .collect();
                rows.insert((row["orderId"].clone(), row["itemId"].clone()), row);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return rows,
            }
        }
    }
}

/// A value as comparable text: numbers in canonical form (`300.00` = `300`).
fn text(value: &AttributeValue) -> String {
    match value {
        AttributeValue::N(n) => canonical(n),
        AttributeValue::S(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn canonical(number: &str) -> String {
    Decimal::parse(number)
        .unwrap_or_else(|| panic!("{number} is not a number"))
        .canonical()
}

/// Kinesis records of one shard: sequence numbers increasing from `first`.
fn shard_records(shard: u32, first: u64, records: &[dms::Record]) -> Vec<Record> {
    records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            (
                format!("4959{shard:04}{:030}", first + i as u64),
                record.to_json().into_bytes(),
            )
        })
        .collect()
}

// ------------------------------------------------------------------------------ the oracle

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_orders_match_a_sql_join_in_mariadb() {
    let db = tokio::task::spawn_blocking(MariaDb::start)
        .await
        .unwrap()
        .expect("starting MariaDB");
    let root = repo_root();
    db.run_file(&root.join("sql/orderdb-setup.sql")).unwrap();
    // The reference data, as a table to join in SQL.
    db.query(
        "CREATE TABLE orders.products (productId INT PRIMARY KEY, productName VARCHAR(100), \
         productPrice DECIMAL(6,2))",
    )
    .unwrap();
    let products =
        std::fs::read_to_string(root.join("examples/quickstart/reference/products.json")).unwrap();
    let values: Vec<String> = products
        .lines()
        .map(|line| {
            let row: Value = serde_json::from_str(line).unwrap();
            format!(
                "({}, '{}', {})",
                row["productId"],
                row["productName"].as_str().unwrap(),
                row["productPrice"]
            )
        })
        .collect();
    db.query(&format!(
        "INSERT INTO orders.products VALUES {}",
        values.join(",")
    ))
    .unwrap();
    db.run_file(&root.join("sql/orders-data-setup.sql"))
        .unwrap();

    let columns = |table: &str| -> Vec<String> {
        db.query(&format!(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'orders' \
             AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION"
        ))
        .unwrap()
        .into_iter()
        .map(|row| row[0].clone().unwrap())
        .collect()
    };
    let tables: HashMap<String, Vec<String>> = ["order", "order_item", "order_detail"]
        .iter()
        .map(|t| (t.to_string(), columns(t)))
        .collect();
    let expected_join = |db: &MariaDb| -> BTreeMap<(String, String), BTreeMap<String, String>> {
        let names = [
            "orderId",
            "orderAmount",
            "orderStatus",
            "orderDateTime",
            "shipToName",
            "shipToAddress",
            "shipToCity",
            "shipToState",
            "shipToZip",
            "itemId",
            "itemAmount",
            "itemQuantity",
            "itemStatus",
            "productName",
        ];
        let rows = db
            .query(
                "SELECT o.orderId, o.orderAmount, o.orderStatus, o.orderDateTime, o.shipToName, \
                 o.shipToAddress, o.shipToCity, o.shipToState, o.shipToZip, i.itemId, \
                 i.itemAmount, i.itemQuantity, i.itemStatus, p.productName \
                 FROM orders.`order` o JOIN orders.order_item i ON i.orderId = o.orderId \
                 LEFT JOIN orders.products p ON p.productId = i.itemId",
            )
            .unwrap();
        rows.into_iter()
            .map(|row| {
                let row: BTreeMap<String, String> = names
                    .iter()
                    .zip(row)
                    .filter_map(|(name, value)| {
                        let value = value?;
                        let numeric = matches!(
                            *name,
                            "orderId" | "orderAmount" | "itemId" | "itemAmount" | "itemQuantity"
                        );
                        Some((
                            name.to_string(),
                            if numeric { canonical(&value) } else { value },
                        ))
                    })
                    .collect();
                ((row["orderId"].clone(), row["itemId"].clone()), row)
            })
            .collect()
    };

    // DMS with `schema-table` partitioning: each table on its own shard. The items' shard is
    // delivered first, so every item arrives before its order.
    let changes = dms::from_binlog(&db.binlog_rows().unwrap(), "orders", &tables, 0);
    assert_eq!(
        changes.len(),
        15 + 30 + 30,
        "inserts of orders and items, updates of items"
    );
    let (orders, items): (Vec<dms::Record>, Vec<dms::Record>) =
        changes.iter().cloned().partition(|r| r.table == "order");
    let mut pipeline = Pipeline::start(1).await;
    let item_records = shard_records(1, 1, &items);
    let order_records = shard_records(0, 1, &orders);
    for batch in item_records.chunks(25) {
        pipeline.deliver(&[batch.to_vec()]).await;
    }
    assert!(
        pipeline.sink().await.is_empty(),
        "no order yet: nothing to join"
    );
    pipeline.deliver(&[order_records]).await;
    let expected = expected_join(&db);
    assert_eq!(expected.len(), 30);
    assert_eq!(pipeline.sink().await, expected);
    // Exact text survives: 300.00 is stored as written.
    let stored = pipeline
        .dynamodb
        .get_item()
        .table_name(SINK)
        .key("orderId", AttributeValue::N("10000001".into()))
        .key("itemId", AttributeValue::N("999900001".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(stored["orderAmount"], AttributeValue::N("300.00".into()));
    assert_eq!(
        stored["productName"],
        AttributeValue::S("Oiled Teak Bench".into())
    );

    // More changes in MariaDB: an order updated, an item deleted, an order deleted with its
    // items, an item added. Both shards at once this time.
    let before = changes.len();
    for sql in [
        "UPDATE orders.`order` SET orderStatus = 'Shipped' WHERE orderId = 10000002",
        "DELETE FROM orders.order_item WHERE orderId = 10000003 AND itemId = 999900005",
        "DELETE FROM orders.order_item WHERE orderId = 10000004",
        "DELETE FROM orders.`order` WHERE orderId = 10000004",
        "INSERT INTO orders.order_item VALUES (10000005, 999900031, 3, 42.50, 'New')",
        "UPDATE orders.order_item SET itemQuantity = 11 WHERE orderId = 10000001 AND itemId = 999900001",
    ] {
        db.query(sql).unwrap();
    }
    let changes = dms::from_binlog(&db.binlog_rows().unwrap(), "orders", &tables, 0);
    let (orders, items): (Vec<dms::Record>, Vec<dms::Record>) = changes[before..]
        .iter()
        .cloned()
        .map(|mut r| {
            r.micros += 60_000_000;
            r
        })
        .partition(|r| r.table == "order");
    pipeline
        .deliver(&[
            shard_records(1, 1000, &items),
            shard_records(0, 1000, &orders),
        ])
        .await;
    let expected = expected_join(&db);
    assert_eq!(expected.len(), 30 - 1 - 2 + 1);
    assert_eq!(pipeline.sink().await, expected);
}

// ------------------------------------------------------------------------------ interleavings

/// A change built by hand: `table`, operation, the row (numbers as bare text), commit time.
fn change(table: &str, operation: &str, row: &[(&str, &str)], micros: u64) -> dms::Record {
    dms::Record {
        schema: "orders".into(),
        table: table.into(),
        operation: operation.into(),
        data: row
            .iter()
            .map(|(name, value)| {
                let value = match value.strip_prefix('\'') {
                    Some(text) => DmsValue::Text(text.to_string()),
                    None => DmsValue::Number(value.to_string()),
                };
                (name.to_string(), value)
            })
            .collect(),
        micros,
        transaction_id: micros,
    }
}

fn order(operation: &str, id: u32, status: &str, micros: u64) -> dms::Record {
    let id = id.to_string();
    let status = format!("'{status}");
    change(
        "order",
        operation,
        &[
            ("orderId", &id),
            ("orderAmount", "300.00"),
            ("orderStatus", &status),
            ("orderDateTime", "'2024-05-01T09:00:13.137Z"),
            ("shipToName", "'Maria Lopez"),
            ("shipToAddress", "'1420 Alder Way"),
            ("shipToCity", "'Seattle"),
            ("shipToState", "'WA"),
            ("shipToZip", "'98101"),
        ],
        micros,
    )
}

fn item(operation: &str, order: u32, item: u32, quantity: u32, micros: u64) -> dms::Record {
    let (order, item, quantity) = (order.to_string(), item.to_string(), quantity.to_string());
    change(
        "order_item",
        operation,
        &[
            ("orderId", &order),
            ("itemId", &item),
            ("itemQuantity", &quantity),
            ("itemAmount", "100.00"),
            ("itemStatus", "'Picked"),
        ],
        micros,
    )
}

/// The sink as (orderId, itemId) → (orderStatus, itemQuantity).
async fn summary(pipeline: &Pipeline) -> BTreeMap<(u32, u32), (String, String)> {
    pipeline
        .sink()
        .await
        .into_values()
        .map(|row| {
            let number = |name: &str| parse_canonical(&row[name]);
            (
                (number("orderId"), number("itemId")),
                (row["orderStatus"].clone(), row["itemQuantity"].clone()),
            )
        })
        .collect()
}

/// `10000001E7` → 10000001.
fn parse_canonical(text: &str) -> u32 {
    let (digits, exponent) = text.split_once('E').unwrap();
    let exponent: i32 = exponent.parse().unwrap();
    let mut value: u64 = digits.parse().unwrap();
    for _ in 0..(exponent + 1 - digits.len() as i32) {
        value *= 10;
    }
    value as u32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_delivery_order_gives_the_join_of_the_latest_rows() {
    let mut p = Pipeline::start(1).await;
    let q = |n: u32| canonical(&n.to_string());
    let mut seq = 0u64;
    let mut next = |records: Vec<dms::Record>| {
        let batch = shard_records(0, seq, &records);
        seq += records.len() as u64;
        batch
    };

    // Items first: nothing to join until their order arrives.
    let items_first = next(vec![
        item("insert", 1, 11, 10, 1_000),
        item("insert", 1, 12, 20, 1_001),
    ]);
    p.deliver(&[items_first]).await;
    assert!(summary(&p).await.is_empty());
    p.deliver(&[next(vec![order("insert", 1, "New", 900)])])
        .await;
    let expect_new = |qty: &[(u32, &str)]| -> BTreeMap<(u32, u32), (String, String)> {
        qty.iter()
            .map(|(i, n)| ((1, *i), ("New".to_string(), q(n.parse().unwrap()))))
            .collect()
    };
    assert_eq!(summary(&p).await, expect_new(&[(11, "10"), (12, "20")]));

    // The order changes after its items: every item's row follows.
    let update = next(vec![order("update", 1, "Shipped", 2_000)]);
    p.deliver(&[update]).await;
    let shipped: Vec<(String, String)> = summary(&p).await.into_values().collect();
    assert!(
        shipped.iter().all(|(status, _)| status == "Shipped"),
        "{shipped:?}"
    );

    // A replay of the first batches (older versions) changes nothing.
    let replay_order = next(vec![order("insert", 1, "New", 900)]);
    p.deliver(&[replay_order]).await;
    let after_replay: Vec<(String, String)> = summary(&p).await.into_values().collect();
    assert!(after_replay.iter().all(|(status, _)| status == "Shipped"));

    // Duplicates in one batch and an item update; then an item delete.
    let dupes = next(vec![
        item("update", 1, 11, 15, 3_000),
        item("update", 1, 11, 15, 3_000),
        item("update", 1, 12, 25, 3_001),
        item("update", 1, 12, 25, 3_001),
    ]);
    p.deliver(&[dupes]).await;
    let rows = summary(&p).await;
    assert_eq!(rows[&(1, 11)].1, q(15));
    assert_eq!(rows[&(1, 12)].1, q(25));
    p.deliver(&[next(vec![item("delete", 1, 12, 25, 4_000)])])
        .await;
    assert_eq!(summary(&p).await.len(), 1);
    // The deleted item's old insert replayed: it stays deleted.
    p.deliver(&[next(vec![item("insert", 1, 12, 20, 1_001)])])
        .await;
    assert_eq!(summary(&p).await.len(), 1);

    // The order deleted: its rows go; re-inserted later: they come back.
    p.deliver(&[next(vec![order("delete", 1, "Shipped", 5_000)])])
        .await;
    assert!(summary(&p).await.is_empty());
    p.deliver(&[next(vec![order("insert", 1, "Reopened", 6_000)])])
        .await;
    let rows = summary(&p).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[&(1, 11)].0, "Reopened");

    // Control records, other tables and unknown operations are skipped; poison is
    // dead-lettered and the good records beside it are written.
    let mut mixed = next(vec![
        item("insert", 2, 21, 1, 7_000),
        change("order_detail", "insert", &[("orderId", "2")], 7_001),
        change("order", "add-column", &[("orderId", "2")], 7_002),
        order("insert", 2, "New", 7_003),
    ]);
    mixed.push((
        "49590000999".into(),
        br#"{"data": {"orderId": 2}}"#.to_vec(),
    ));
    mixed.push(("49590001000".into(), b"not json".to_vec()));
    p.deliver(&[mixed]).await;
    let rows = summary(&p).await;
    assert_eq!(rows[&(2, 21)], ("New".to_string(), q(1)));
    let logs = p.functions[0].logs().await;
    assert!(
        logs.contains("not_cdc") && logs.contains("not_json"),
        "{logs}"
    );
    let metrics = p.functions[0].metrics().await;
    let last = metrics.last().expect("metrics of the last batch");
    assert_eq!(last["RecordsIn"], 6);
    assert_eq!(
        last["RecordsIgnored"], 2,
        "order_detail and add-column: {last}"
    );
    assert_eq!(last["RecordsDeadLettered"], 2);
    assert_eq!(last["RecordsFailed"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_rows_are_also_published_to_the_enriched_stream() {
    let mut p = Pipeline::start_with(1, &[("ENRICHED_STREAM", "orders-enriched")]).await;
    // The stream is created after the function started: it is only used per batch.
    let kinesis = aws_sdk_kinesis::Client::new(&p._emulator.sdk_config().await);
    kinesis
        .create_stream()
        .stream_name("orders-enriched")
        .shard_count(1)
        .send()
        .await
        .unwrap();
    p.deliver(&[shard_records(
        0,
        1,
        &[
            order("insert", 7, "New", 1_000),
            item("insert", 7, 71, 3, 1_001),
            item("insert", 7, 72, 4, 1_002),
        ],
    )])
    .await;
    p.deliver(&[shard_records(0, 10, &[item("delete", 7, 72, 4, 2_000)])])
        .await;
    let shard = kinesis
        .list_shards()
        .stream_name("orders-enriched")
        .send()
        .await
        .unwrap()
        .shards()[0]
        .shard_id()
        .to_string();
    let iterator = kinesis
        .get_shard_iterator()
        .stream_name("orders-enriched")
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let records = kinesis
        .get_records()
        .shard_iterator(iterator)
        .send()
        .await
        .unwrap();
    let published: Vec<Value> = records
        .records()
        .iter()
        .map(|r| serde_json::from_slice(r.data().as_ref()).unwrap())
        .collect();
    assert_eq!(published.len(), 3, "{published:?}");
    let raw = std::str::from_utf8(records.records()[0].data().as_ref()).unwrap();
    assert!(
        raw.contains("\"orderAmount\":300.00"),
        "numbers keep their text: {raw}"
    );
    let mut items: Vec<i64> = published[..2]
        .iter()
        .map(|row| {
            assert_eq!(row["orderStatus"], "New");
            row["itemId"].as_i64().unwrap()
        })
        .collect();
    items.sort();
    assert_eq!(items, [71, 72]);
    assert_eq!(
        published[2],
        json!({"orderId": 7, "itemId": 72, "_deleted": true})
    );
    assert_eq!(records.records()[2].partition_key(), Some("7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_with_more_items_than_one_transaction_holds_is_written_whole() {
    // 60 items: more than the 49 outputs one TransactWriteItems (100 actions) holds.
    let mut p = Pipeline::start(1).await;
    let items: Vec<dms::Record> = (1..=60)
        .map(|i| item("insert", 5, i, i, 1_000 + i as u64))
        .collect();
    p.deliver(&[shard_records(0, 1, &items)]).await;
    p.deliver(&[shard_records(0, 100, &[order("insert", 5, "New", 5_000)])])
        .await;
    let rows = summary(&p).await;
    assert_eq!(rows.len(), 60);
    p.deliver(&[shard_records(
        0,
        200,
        &[order("update", 5, "Shipped", 6_000)],
    )])
    .await;
    let rows = summary(&p).await;
    assert_eq!(rows.len(), 60);
    assert!(rows.values().all(|(status, _)| status == "Shipped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_reference_object_is_reloaded() {
    // Checked on every invocation here (the default is every 60 s).
    let mut p = Pipeline::start_with(1, &[("REFERENCE_REFRESH_SECONDS", "0")]).await;
    let product = |p: &Pipeline| {
        let dynamodb = p.dynamodb.clone();
        async move {
            dynamodb
                .get_item()
                .table_name(SINK)
                .key("orderId", AttributeValue::N("9".into()))
                .key("itemId", AttributeValue::N("999900001".into()))
                .send()
                .await
                .unwrap()
                .item
                .and_then(|item| item.get("productName").cloned())
        }
    };
    p.deliver(&[shard_records(
        0,
        1,
        &[
            order("insert", 9, "New", 1_000),
            item("insert", 9, 999900001, 1, 1_001),
        ],
    )])
    .await;
    assert_eq!(
        product(&p).await,
        Some(AttributeValue::S("Oiled Teak Bench".into()))
    );
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&p._emulator.sdk_config().await)
            .force_path_style(true)
            .build(),
    );
    s3.put_object()
        .bucket(REFERENCE_BUCKET)
        .key(REFERENCE_KEY)
        .body(
            br#"{"productId": 999900001, "productName": "Renamed Bench"}"#
                .to_vec()
                .into(),
        )
        .send()
        .await
        .unwrap();
    // The item changes again: its row is joined with the reloaded product.
    p.deliver(&[shard_records(
        0,
        10,
        &[item("update", 9, 999900001, 2, 2_000)],
    )])
    .await;
    assert_eq!(
        product(&p).await,
        Some(AttributeValue::S("Renamed Bench".into()))
    );
}

// ------------------------------------------------------------------------------ property

/// One random change: which row, what happens, and a value that changes with it.
#[derive(Clone, Debug)]
enum Op {
    Order {
        id: u32,
        delete: bool,
        status: u8,
    },
    Item {
        order: u32,
        item: u32,
        delete: bool,
        quantity: u8,
    },
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        (1..4u32, any::<bool>(), 0..4u8).prop_map(|(id, delete, status)| Op::Order {
            id,
            delete: delete && status == 0,
            status
        }),
        (1..4u32, 1..4u32, any::<bool>(), 0..50u8).prop_map(|(order, item, delete, quantity)| {
            Op::Item {
                order,
                item,
                delete: delete && quantity < 10,
                quantity,
            }
        }),
    ];
    prop::collection::vec(op, 1..40)
}

/// A delivery plan: per step, how many records to take from each shard, whether to
/// re-deliver an earlier batch of each shard afterwards (a replay, possibly of changes older
/// than ones already delivered), and whether to duplicate a record.
fn plan() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (1..6u8, 1..6u8, prop::option::of(any::<u8>()), any::<bool>()),
        40,
    )
}

/// Records from shard 0, from shard 1, which earlier batch to replay, duplicate or not.
type Step = (u8, u8, Option<u8>, bool);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_changes_over_two_shards_always_give_the_join() {
    let pipeline = std::cell::RefCell::new(Pipeline::start(2).await);
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 24,
        max_shrink_iters: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    // Every case (shrinking included) gets its own key space in the same tables.
    let cases = std::cell::Cell::new(0u32);
    let result = runner.run(&(ops(), plan()), |(ops, plan)| {
        cases.set(cases.get() + 1);
        let base = cases.get() * 100;
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(run_case(
                &mut pipeline.borrow_mut(),
                base,
                &ops,
                &plan,
            ))
        })
        .map_err(TestCaseError::fail)
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

/// One case: `ops` committed in list order, each row's records on its shard (by primary key),
/// delivered by `plan`; then the sink's rows of this case's key space must be the join of the
/// final rows.
async fn run_case(
    pipeline: &mut Pipeline,
    base: u32,
    ops: &[Op],
    plan: &[Step],
) -> Result<(), String> {
    let statuses = ["New", "Picked", "Shipped", "Done"];
    let mut shards: [Vec<dms::Record>; 2] = [Vec::new(), Vec::new()];
    let mut orders: HashMap<u32, Option<u8>> = HashMap::new();
    let mut items: HashMap<(u32, u32), Option<u8>> = HashMap::new();
    for (n, op) in ops.iter().enumerate() {
        let micros = 1_000_000 + n as u64 * 1000;
        match *op {
            Op::Order { id, delete, status } => {
                let id = base + id;
                let operation = if delete { "delete" } else { "update" };
                shards[(id % 2) as usize].push(order(
                    operation,
                    id,
                    statuses[status as usize],
                    micros,
                ));
                orders.insert(id, (!delete).then_some(status));
            }
            Op::Item {
                order: o,
                item: i,
                delete,
                quantity,
            } => {
                let o = base + o;
                let operation = if delete { "delete" } else { "update" };
                shards[((o + i) % 2) as usize].push(item(operation, o, i, quantity as u32, micros));
                items.insert((o, i), (!delete).then_some(quantity));
            }
        }
    }
    let expected: BTreeMap<(u32, u32), (String, String)> = items
        .iter()
        .filter_map(|(&(o, i), quantity)| {
            let status = orders.get(&o).copied().flatten()?;
            Some((
                (o, i),
                (
                    statuses[status as usize].to_string(),
                    canonical(&quantity.as_ref()?.to_string()),
                ),
            ))
        })
        .collect();

    // Both shards at once, in order within each, with replays and duplicates.
    let records = [
        shard_records(0, base as u64 * 1000, &shards[0]),
        shard_records(1, base as u64 * 1000, &shards[1]),
    ];
    let mut at = [0usize, 0usize];
    let mut delivered: [Vec<Vec<Record>>; 2] = [Vec::new(), Vec::new()];
    for &(take_a, take_b, replay, duplicate) in plan {
        let mut batches = Vec::new();
        for (shard, take) in [(0, take_a), (1, take_b)] {
            let end = (at[shard] + take as usize).min(records[shard].len());
            if at[shard] == end {
                continue;
            }
            let mut batch = records[shard][at[shard]..end].to_vec();
            if duplicate {
                // A producer retry: the same data again under a later sequence number.
                let (seq, data) = batch[0].clone();
                batch.push((format!("{seq}9"), data));
            }
            at[shard] = end;
            delivered[shard].push(batch.clone());
            batches.push(batch);
        }
        if batches.is_empty() {
            break;
        }
        pipeline.deliver(&batches).await;
        if let Some(pick) = replay {
            let replays: Vec<Vec<Record>> = delivered
                .iter()
                .filter(|history| !history.is_empty())
                .map(|history| history[pick as usize % history.len()].clone())
                .collect();
            pipeline.deliver(&replays).await;
        }
    }
    for shard in 0..2 {
        if at[shard] < records[shard].len() {
            pipeline
                .deliver(&[records[shard][at[shard]..].to_vec()])
                .await;
        }
    }

    let actual: BTreeMap<(u32, u32), (String, String)> = summary(pipeline)
        .await
        .into_iter()
        .filter(|((o, _), _)| *o > base && *o < base + 100)
        .collect();
    if actual == expected {
        Ok(())
    } else {
        Err(format!("sink {actual:?}\nexpected {expected:?}"))
    }
}
