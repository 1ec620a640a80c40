//! Turning the analytics engine on in an applied pipeline while records flow. Before the switch
//! the persist function reads the enriched stream, which something else fills (here the test,
//! as an outside enrichment would); after it, the function joins the CDC records itself. The
//! apply makes the new mapping (on the CDC stream, invoking the function's new version) before
//! it deletes the old one (on the enriched stream, invoking the version it was made for), so
//! every order item reaches the sink exactly once — none skipped between the two mappings and
//! none handed to a configuration that cannot use it (nothing dead-lettered).
//!
//! The mappings run as Lambda runs them, each for as long as it exists, by the supervisor.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_smithy_types::Blob;
use testkit::dms::{Record, Value as Column};
use testkit::{Emulator, Terraform};
use unifiedetl_local::load::{self, PartitionKey};
use unifiedetl_local::runner::Fate;
use unifiedetl_local::supervisor::{self, SupervisorOptions};

use crate::quickstart;

const FUNCTION: &str = "unified-orders-persist";

/// Orders put per second (each with its items) while the apply runs.
const ORDERS_PER_SECOND: u64 = 8;
const ITEMS_PER_ORDER: u32 = 3;

/// `text` without the block that starts at the line `header` and ends at the first line after
/// it that is `close` (the block's closing brace at its indentation).
fn without_block(text: &str, header: &str, close: &str) -> String {
    let start = text.find(header).expect("the block is in the example");
    let end = start + text[start..].find(close).expect("the block closes") + close.len();
    format!("{}{}", &text[..start], &text[end..])
}

/// One order of the synthetic data set as it is inserted: the order's record, then its items'.
fn orders() -> impl Iterator<Item = Vec<Record>> {
    let mut inserts = load::synthetic_records(100_000, ITEMS_PER_ORDER, 7)
        .filter(|r| r.operation == "insert")
        .peekable();
    // Transactions of a few orders interleave: gather each order's records.
    let mut pending: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    std::iter::from_fn(move || loop {
        if let Some(id) = pending
            .iter()
            .find(|(_, records)| records.len() == 1 + ITEMS_PER_ORDER as usize)
            .map(|(id, _)| id.clone())
        {
            return pending.remove(&id);
        }
        let record = inserts.next()?;
        let id = text(record.get("orderId")?);
        pending.entry(id).or_default().push(record);
    })
}

fn text(value: &Column) -> String {
    match value {
        Column::Number(t) | Column::Text(t) => t.clone(),
    }
}

fn json(value: &Column) -> String {
    match value {
        Column::Number(t) => t.clone(),
        Column::Text(t) => serde_json::to_string(t).unwrap(),
    }
}

/// The sink rows of one order: what the outside enrichment puts on the enriched stream (a JSON
/// object per item, numbers in their exact text), and what the sink should hold (as text).
fn rows(
    order: &[Record],
    products: &HashMap<String, serde_json::Value>,
) -> Vec<(String, BTreeMap<String, String>)> {
    let parent = &order[0];
    order[1..]
        .iter()
        .map(|item| {
            let mut fields = Vec::new();
            let mut row = BTreeMap::new();
            for (attribute, from) in quickstart::COLUMNS {
                let (table, column) = from.split_once('.').unwrap();
                let value = match table {
                    "order" => parent.get(column).cloned(),
                    "order_item" => item.get(column).cloned(),
                    _ => products
                        .get(&text(item.get("itemId").unwrap()))
                        .and_then(|p| p[column].as_str())
                        .map(|name| Column::Text(name.to_string())),
                };
                if let Some(value) = value {
                    fields.push(format!("\"{attribute}\":{}", json(&value)));
                    row.insert(attribute.to_string(), text(&value));
                }
            }
            (format!("{{{}}}", fields.join(",")), row)
        })
        .collect()
}

async fn put(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    records: Vec<(String, String)>,
) -> Result<()> {
    let entries = records
        .into_iter()
        .map(|(key, data)| {
            PutRecordsRequestEntry::builder()
                .partition_key(key)
                .data(Blob::new(data))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let out = kinesis
        .put_records()
        .stream_name(stream)
        .set_records(Some(entries))
        .send()
        .await?;
    anyhow::ensure!(
        out.failed_record_count().unwrap_or(0) == 0,
        "Kinesis refused records: {out:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn turning_the_engine_on_while_records_flow_writes_every_item_exactly_once() -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    let tf = Terraform::example(&emulator, "quickstart")?;
    let with_engine = std::fs::read_to_string(tf.dir().join("main.tf"))?;
    // Before: no analytics block (and no outputs of it): the function reads the enriched stream.
    let without_engine = without_block(&with_engine, "  analytics {", "\n  }\n");
    let outputs_tf = tf.dir().join("outputs.tf");
    let with_outputs = std::fs::read_to_string(&outputs_tf)?;
    let mut outputs = with_outputs.clone();
    for output in ["output \"state_table\" {", "output \"reference_objects\" {"] {
        outputs = without_block(&outputs, output, "\n}\n");
    }
    std::fs::write(&outputs_tf, &outputs)?;
    tf.write(&without_engine)?;
    tf.apply()?;

    let sdk = emulator.sdk_config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let s3 = quickstart::s3_client(&sdk);
    let (cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let (fates_tx, mut fates) = tokio::sync::mpsc::unbounded_channel();
    let supervised = tokio::spawn({
        let (lambda, kinesis, s3) = (lambda.clone(), kinesis.clone(), s3.clone());
        let options = SupervisorOptions {
            function: FUNCTION.to_string(),
            binary: testkit::terraform::target_dir().join("debug/unifiedetl-lambda"),
            extra_env: emulator
                .env()
                .into_iter()
                .filter(|(k, _)| k.starts_with("AWS_"))
                .collect(),
            cloudwatch: None,
            since: SystemTime::now(),
        };
        async move { supervisor::supervise(&lambda, &kinesis, &s3, options, fates_tx, cancel).await }
    });

    // Orders flow from before the switch until after it: DMS's records on the CDC stream, and
    // the outside enrichment's rows on the enriched stream.
    let products = quickstart::products()?;
    let stop = Arc::new(AtomicBool::new(false));
    let producer = tokio::spawn({
        let (kinesis, stop) = (kinesis.clone(), stop.clone());
        async move {
            let mut expected = BTreeMap::new();
            let began = Instant::now();
            for (n, order) in orders().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let due = began + Duration::from_secs_f64(n as f64 / ORDERS_PER_SECOND as f64);
                tokio::time::sleep_until(due.into()).await;
                let cdc = order
                    .iter()
                    .map(|r| {
                        (
                            load::partition_key(r, PartitionKey::PrimaryKey),
                            load::record_json(r, PartitionKey::PrimaryKey),
                        )
                    })
                    .collect();
                put(&kinesis, "unified-orders-cdc", cdc).await?;
                let rows = rows(&order, &products);
                let enriched = rows
                    .iter()
                    .map(|(json, row)| (row["orderId"].clone(), json.clone()))
                    .collect();
                put(&kinesis, "unified-orders-enriched", enriched).await?;
                for (_, row) in rows {
                    expected.insert((row["orderId"].clone(), row["itemId"].clone()), row);
                }
            }
            anyhow::Ok(expected)
        }
    });
    // Records flow through the first mapping for a while, then the engine is turned on.
    tokio::time::sleep(Duration::from_secs(3)).await;
    tf.write(&with_engine)?;
    std::fs::write(&outputs_tf, &with_outputs)?;
    tokio::task::block_in_place(|| tf.apply())?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let expected = producer.await??;

    // Every item of every order reaches the sink.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut actual = quickstart::sink_rows(&dynamodb).await?;
    while actual.len() < expected.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        actual = quickstart::sink_rows(&dynamodb).await?;
    }
    // Whatever is still in flight lands before the count.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let actual = quickstart::sink_rows(&dynamodb).await?;
    let _ = cancel_tx.send(true);
    let runs = supervised.await??;

    let missing: BTreeSet<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: BTreeSet<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} of {} items missing ({missing:?}), {} not loaded ({extra:?})",
        missing.len(),
        expected.len(),
        extra.len()
    );
    assert_eq!(
        actual, expected,
        "every row as the source and the products give it"
    );

    // Nothing was given up on, and nothing was dead-lettered: neither mapping handed its
    // records to a configuration that could not use them.
    while let Ok(fate) = fates.try_recv() {
        if let Fate::Failed { reason, .. } = fate {
            panic!("a batch was given up on: {reason}");
        }
    }
    let config = lambda
        .get_function_configuration()
        .function_name(FUNCTION)
        .send()
        .await?;
    let dead_letters = config
        .environment()
        .and_then(|e| e.variables())
        .and_then(|v| v.get("DEAD_LETTER_BUCKET"))
        .context("the dead-letter bucket")?;
    let listed = s3.list_objects_v2().bucket(dead_letters).send().await?;
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert!(keys.is_empty(), "dead letters: {keys:?}");

    // Both mappings read records: the old one on the enriched stream invoking version 1, the new
    // one on the CDC stream invoking version 2; version 1 is gone with its mapping.
    let by_stream = |suffix: &str| {
        runs.iter()
            .find(|r| r.source.ends_with(suffix))
            .with_context(|| format!("a mapping on {suffix}: {runs:?}"))
    };
    let before = by_stream(":stream/unified-orders-enriched")?;
    let after = by_stream(":stream/unified-orders-cdc")?;
    assert!(
        before
            .function_arn
            .ends_with(":function:unified-orders-persist:1"),
        "{runs:?}"
    );
    assert!(
        after
            .function_arn
            .ends_with(":function:unified-orders-persist:2"),
        "{runs:?}"
    );
    assert!(
        before.stats.records > 0 && after.stats.records > 0,
        "{runs:?}"
    );
    let versions = lambda
        .list_versions_by_function()
        .function_name(FUNCTION)
        .send()
        .await?;
    let versions: Vec<&str> = versions
        .versions()
        .iter()
        .filter_map(|v| v.version())
        .collect();
    assert_eq!(versions, ["$LATEST", "2"]);
    assert_eq!(tf.plan()?.code, 0, "a second plan is empty");
    tf.destroy()?;
    Ok(())
}
