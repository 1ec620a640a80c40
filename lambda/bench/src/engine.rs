//! The analytics engine's side of the benchmark: its input (DMS change records of orders and
//! their items, as DMS writes them to Kinesis), its resources on the emulator (state table,
//! sink, reference data) and the check that the sink ends as the join.

use std::collections::HashSet;

use anyhow::{ensure, Context, Result};
use aws_sdk_dynamodb::types::ScalarAttributeType;
use testkit::dms::{self, Value};
use testkit::function::kinesis_event;

pub const SINK: &str = "BenchEngineSink";
pub const STATE: &str = "BenchEngineState";
pub const REFERENCE_BUCKET: &str = "orders-reference-123456789012";
pub const REFERENCE_KEY: &str = "reference/products.json";
/// Items per order: each group is 1 order record + this many item records.
pub const ITEMS_PER_ORDER: usize = 4;
/// The reference data's productIds: 999900001 ..= 999900000 + PRODUCTS.
const PRODUCTS: u64 = 2000;
const FIRST_ORDER: u64 = 30_000_001;

/// The sample's enrichment as the engine's correlation (the one `lambda/tests/engine.rs` uses).
pub fn correlation() -> serde_json::Value {
    testkit::dms::sample_correlation(REFERENCE_BUCKET, REFERENCE_KEY)
}

/// One batch of DMS records for the engine, as the Kinesis event Lambda would hand out.
pub struct EngineBatch {
    pub records: usize,
    pub event: String,
}

/// Orders per batch for a batch of `size` records (each order comes with its items).
pub fn orders_per_batch(size: usize) -> usize {
    (size / (1 + ITEMS_PER_ORDER)).max(1)
}

/// `count` batches, each `orders_per_batch(size)` orders inserted with their items in one
/// transaction (order record first, then its items, as DMS writes a transaction), on one shard
/// with increasing sequence numbers and commit times. Every orderId is new, so every
/// (orderId, itemId) is distinct across batches; itemIds cycle through the reference data's
/// productIds, so every lookup finds its product.
pub fn batches(count: usize, size: usize) -> Vec<EngineBatch> {
    let orders = orders_per_batch(size);
    let mut n = 0u64; // records so far: sequence number and commit time
    (0..count)
        .map(|b| {
            let mut records = Vec::new();
            for o in 0..orders {
                let order = (b * orders + o) as u64;
                let order_id = FIRST_ORDER + order;
                let micros = n * 1000;
                let record = |table: &str, data: Vec<(&str, Value)>| dms::Record {
                    schema: "orders".into(),
                    table: table.into(),
                    operation: "insert".into(),
                    data: data.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                    micros,
                    transaction_id: 1 + order,
                };
                let number = |v: u64| Value::Number(v.to_string());
                let text = |v: &str| Value::Text(v.to_string());
                records.push(record(
                    "order",
                    vec![
                        ("orderId", number(order_id)),
                        (
                            "orderAmount",
                            Value::Number(format!("{}.{:02}", 100 + order % 900, order % 100)),
                        ),
                        ("orderStatus", text("New")),
                        ("orderDateTime", text(&dms::timestamp(micros))),
                        ("shipToName", text("Maria Lopez")),
                        (
                            "shipToAddress",
                            text(&format!("{} Alder Way", 1 + order % 2400)),
                        ),
                        ("shipToCity", text("Seattle")),
                        ("shipToState", text("WA")),
                        ("shipToZip", text("98101")),
                    ],
                ));
                for i in 0..ITEMS_PER_ORDER as u64 {
                    let item_id = item_id(order, i);
                    records.push(record(
                        "order_item",
                        vec![
                            ("orderId", number(order_id)),
                            ("itemId", number(item_id)),
                            ("itemQuantity", number(1 + (order + i) % 40)),
                            (
                                "itemAmount",
                                Value::Number(format!("{}.{:02}", 10 + i, order % 100)),
                            ),
                            ("itemStatus", text("New")),
                        ],
                    ));
                }
            }
            let kinesis: Vec<(String, Vec<u8>)> = records
                .iter()
                .map(|record| {
                    n += 1;
                    (
                        format!("49590338271490256608559692538361571096{n:018}"),
                        record.to_json().into_bytes(),
                    )
                })
                .collect();
            EngineBatch {
                records: kinesis.len(),
                event: kinesis_event(&kinesis).to_string(),
            }
        })
        .collect()
}

fn item_id(order: u64, i: u64) -> u64 {
    999_900_001 + (order * ITEMS_PER_ORDER as u64 + i) % PRODUCTS
}

/// Creates the state table, the sink and the reference bucket with `reference/products.json`
/// (the quickstart's, JSON lines).
pub async fn setup(sdk_config: &aws_config::SdkConfig) -> Result<()> {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk_config);
    create_tables(&dynamodb).await?;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk_config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket(REFERENCE_BUCKET)
        .send()
        .await
        .context("creating the reference bucket")?;
    let path = testkit::repo_root().join("examples/quickstart/reference/products.json");
    let products = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    s3.put_object()
        .bucket(REFERENCE_BUCKET)
        .key(REFERENCE_KEY)
        .body(products.into())
        .send()
        .await
        .context("uploading the reference data")?;
    Ok(())
}

async fn create_tables(dynamodb: &aws_sdk_dynamodb::Client) -> Result<()> {
    let (sink_keys, state_keys) = (("orderId", "itemId"), ("pk", "sk"));
    testkit::emulator::create_table(dynamodb, SINK, sink_keys, ScalarAttributeType::N).await?;
    testkit::emulator::create_table(dynamodb, STATE, state_keys, ScalarAttributeType::S).await
}

/// Empties the state table and the sink (deletes and re-creates them). The emulator (moto)
/// deep-copies every table a transaction touches, once per action of the transaction, so its
/// TransactWriteItems slows down in proportion to the tables' size; emptied between batches,
/// every batch meets the same emulator. Each batch has new orders only, so the engine's
/// requests do not change: it never reads a group of an earlier batch.
pub async fn reset(dynamodb: &aws_sdk_dynamodb::Client) -> Result<()> {
    for table in [SINK, STATE] {
        dynamodb
            .delete_table()
            .table_name(table)
            .send()
            .await
            .with_context(|| format!("deleting {table}"))?;
    }
    create_tables(dynamodb).await
}

/// Checks that the sink holds exactly one row per (order, item) of batch `batch` (of `size`
/// records), each with its productName, and nothing else; returns the number of rows.
pub async fn check_sink(
    client: &aws_sdk_dynamodb::Client,
    batch: usize,
    size: usize,
) -> Result<usize> {
    let orders = orders_per_batch(size) as u64;
    let first = batch as u64 * orders;
    let expected: HashSet<(u64, u64)> = (first..first + orders)
        .flat_map(|order| {
            (0..ITEMS_PER_ORDER as u64).map(move |i| (FIRST_ORDER + order, item_id(order, i)))
        })
        .collect();
    let mut found = HashSet::new();
    let mut without_product = 0;
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(SINK)
            .consistent_read(true)
            .projection_expression("orderId, itemId, productName")
            .set_exclusive_start_key(start)
            .send()
            .await?;
        for item in page.items() {
            let number = |name: &str| -> Result<u64> {
                let value = item.get(name).and_then(|v| v.as_n().ok());
                Ok(value.with_context(|| format!("{name} missing"))?.parse()?)
            };
            found.insert((number("orderId")?, number("itemId")?));
            if item
                .get("productName")
                .and_then(|v| v.as_s().ok())
                .is_none_or(|name| name.is_empty())
            {
                without_product += 1;
            }
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let missing = expected.difference(&found).count();
    let unexpected = found.difference(&expected).count();
    ensure!(
        missing == 0 && unexpected == 0 && without_product == 0,
        "the engine's sink holds {} rows, expected {}: {missing} missing, {unexpected} unexpected, \
         {without_product} without productName",
        found.len(),
        expected.len()
    );
    Ok(found.len())
}
