//! The load generator against a private emulator (the sample's changes put on a 2-shard stream
//! and read back from every shard) and against a scripted Kinesis that throttles.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_kinesis::types::{ShardIteratorType, StreamStatus};
use base64::Engine;
use serde_json::Value as Json;
use testkit::Emulator;
use unifiedetl_local::load::{self, Dataset, LoadOptions, PartitionKey};

/// A record read back: its shard, partition key and JSON.
struct Read {
    shard: String,
    key: String,
    json: Json,
}

#[tokio::test(flavor = "multi_thread")]
async fn sample_lands_on_the_stream_keyed_by_primary_key_in_commit_order() {
    let records = load_sample(PartitionKey::PrimaryKey).await.unwrap();
    for read in &records {
        let data = &read.json["data"];
        let expected = match read.json["metadata"]["table-name"].as_str() {
            Some("order") => format!("orders.order.{}", data["orderId"]),
            Some("order_item") => {
                format!("orders.order_item.{}.{}", data["orderId"], data["itemId"])
            }
            other => panic!("unexpected table {other:?}"),
        };
        assert_eq!(read.key, expected);
        assert_eq!(read.json["metadata"]["partition-key-type"], "primary-key");
    }
    // 15 orders and 30 items: 45 rows, spread over both shards.
    let keys: HashMap<&str, &str> = records
        .iter()
        .map(|r| (r.key.as_str(), r.shard.as_str()))
        .collect();
    assert_eq!(keys.len(), 45);
    let mut shards: Vec<&str> = keys.values().copied().collect();
    shards.sort();
    shards.dedup();
    assert_eq!(shards.len(), 2, "records on one shard only");
}

#[tokio::test(flavor = "multi_thread")]
async fn sample_lands_on_the_stream_keyed_by_schema_table_in_commit_order() {
    let records = load_sample(PartitionKey::SchemaTable).await.unwrap();
    for read in &records {
        let table = read.json["metadata"]["table-name"].as_str().unwrap();
        assert_eq!(read.key, format!("orders.{table}"));
        assert_eq!(read.json["metadata"]["partition-key-type"], "schema-table");
    }
    let per_key = by_key(&records);
    assert_eq!(per_key["orders.order"].len(), 15);
    assert_eq!(per_key["orders.order_item"].len(), 60);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttled_records_are_put_again_so_each_keys_last_record_is_its_latest_change() {
    // A Kinesis that rejects the first record of each of the first 4 PutRecords calls, and
    // remembers what it accepted, in order.
    let calls = Arc::new(AtomicU64::new(0));
    let accepted: Arc<Mutex<Vec<(String, Json)>>> = Arc::default();
    let endpoint = testkit::http::serve({
        let (calls, accepted) = (calls.clone(), accepted.clone());
        move |request: testkit::http::Request| {
            let (calls, accepted) = (calls.clone(), accepted.clone());
            async move {
                assert_eq!(
                    request.header("x-amz-target"),
                    "Kinesis_20131202.PutRecords"
                );
                let call = calls.fetch_add(1, Ordering::SeqCst);
                let body = request.json();
                let mut results = Vec::new();
                let mut failed = 0;
                for (at, entry) in body["Records"].as_array().unwrap().iter().enumerate() {
                    if call < 4 && at == 0 {
                        failed += 1;
                        results.push(serde_json::json!({
                            "ErrorCode": "ProvisionedThroughputExceededException",
                            "ErrorMessage": "Rate exceeded for shard shardId-000000000000",
                        }));
                        continue;
                    }
                    let data = base64::engine::general_purpose::STANDARD
                        .decode(entry["Data"].as_str().unwrap())
                        .unwrap();
                    let key = entry["PartitionKey"].as_str().unwrap().to_string();
                    let mut accepted = accepted.lock().unwrap();
                    accepted.push((key, serde_json::from_slice(&data).unwrap()));
                    results.push(serde_json::json!({
                        "SequenceNumber": accepted.len().to_string(),
                        "ShardId": "shardId-000000000000",
                    }));
                }
                let body = serde_json::json!({"FailedRecordCount": failed, "Records": results});
                Some(testkit::http::http_response(
                    "200 OK",
                    &[("X-Amz-Target", "Kinesis_20131202.PutRecords")],
                    &body.to_string(),
                ))
            }
        }
    })
    .await
    .unwrap();
    let config = testkit::emulator::sdk_config_at(&format!("http://{endpoint}"), "us-east-1").await;
    let kinesis = aws_sdk_kinesis::Client::new(&config);

    let report = load::run(
        &kinesis,
        &LoadOptions {
            stream: "orders-cdc".to_string(),
            dataset: Dataset::Sample {
                sql: testkit::repo_root().join("sql/orders-data-setup.sql"),
            },
            rate: None,
            partition_key: PartitionKey::SchemaTable,
            progress: false,
        },
    )
    .await
    .unwrap();
    assert_eq!(report.records, 75);
    assert!(report.repeated >= 4, "{report:?}");

    // Per partition key, the last copy of each record, in stream order, is the key's changes
    // in commit order: a consumer applying the stream ends at each row's latest change.
    let accepted = accepted.lock().unwrap();
    assert_eq!(accepted.len() as u64, 75 + report.repeated - 4);
    let mut per_key: BTreeMap<&str, Vec<&Json>> = BTreeMap::new();
    for (at, (key, json)) in accepted.iter().enumerate() {
        let later = accepted[at + 1..]
            .iter()
            .any(|(k, j)| k == key && j == json);
        if !later {
            per_key.entry(key.as_str()).or_default().push(json);
        }
    }
    assert_eq!(per_key["orders.order"].len(), 15);
    assert_eq!(per_key["orders.order_item"].len(), 60);
    for (key, records) in per_key {
        let stamps: Vec<&str> = records
            .iter()
            .map(|r| r["metadata"]["timestamp"].as_str().unwrap())
            .collect();
        assert!(
            stamps.windows(2).all(|w| w[0] < w[1]),
            "{key} out of commit order: {stamps:?}"
        );
    }
}

/// Puts the sample on a fresh 2-shard stream of a private emulator, reads it back and checks
/// what holds whatever the partitioning: 75 DMS data records, each partition key's records in
/// commit order.
async fn load_sample(partition_key: PartitionKey) -> Result<Vec<Read>> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    let kinesis = aws_sdk_kinesis::Client::new(&emulator.sdk_config().await);
    let stream = "orders-cdc";
    kinesis
        .create_stream()
        .stream_name(stream)
        .shard_count(2)
        .send()
        .await
        .context("creating the stream")?;
    wait_stream_active(&kinesis, stream).await?;

    let sql = testkit::repo_root().join("sql/orders-data-setup.sql");
    let report = load::run(
        &kinesis,
        &LoadOptions {
            stream: stream.to_string(),
            dataset: Dataset::Sample { sql },
            rate: None,
            partition_key,
            progress: false,
        },
    )
    .await?;
    assert_eq!(report.records, 75);
    assert_eq!(
        report.per_table,
        BTreeMap::from([("order".to_string(), 15), ("order_item".to_string(), 60)])
    );
    assert_eq!(report.expected_items, 30);
    assert_eq!(report.repeated, 0);

    let records = read_stream(&kinesis, stream).await?;
    assert_eq!(records.len(), 75);
    for read in &records {
        let (data, metadata) = (&read.json["data"], &read.json["metadata"]);
        assert!(data.is_object(), "no data: {}", read.json);
        assert_eq!(metadata["record-type"], "data");
        assert_eq!(metadata["schema-name"], "orders");
        assert!(
            matches!(metadata["operation"].as_str(), Some("insert" | "update")),
            "{metadata}"
        );
        assert!(matches!(
            metadata["table-name"].as_str(),
            Some("order" | "order_item")
        ));
        assert!(metadata["transaction-id"].is_u64(), "{metadata}");
        assert!(metadata["timestamp"].is_string(), "{metadata}");
        assert!(metadata["partition-key-type"].is_string(), "{metadata}");
    }
    let operations = |table: &str, operation: &str| {
        records
            .iter()
            .filter(|r| {
                r.json["metadata"]["table-name"] == table
                    && r.json["metadata"]["operation"] == operation
            })
            .count()
    };
    assert_eq!(operations("order", "insert"), 15);
    assert_eq!(operations("order_item", "insert"), 30);
    assert_eq!(operations("order_item", "update"), 30);

    // Each partition key's records, in stream order, are that key's changes in commit order:
    // timestamps increase, and an item's update follows its insert.
    for (key, reads) in by_key(&records) {
        let shard = &reads[0].shard;
        assert!(
            reads.iter().all(|r| &r.shard == shard),
            "{key} on two shards"
        );
        let stamps: Vec<(&str, u64)> = reads
            .iter()
            .map(|r| {
                let metadata = &r.json["metadata"];
                (
                    metadata["timestamp"].as_str().unwrap(),
                    metadata["transaction-id"].as_u64().unwrap(),
                )
            })
            .collect();
        assert!(
            stamps.windows(2).all(|w| w[0] < w[1]),
            "{key} out of commit order: {stamps:?}"
        );
        if key.starts_with("orders.order_item.") {
            let operations: Vec<&str> = reads
                .iter()
                .map(|r| r.json["metadata"]["operation"].as_str().unwrap())
                .collect();
            assert_eq!(operations, ["insert", "update"], "{key}");
            assert_eq!(reads[0].json["data"]["itemStatus"], "Picked");
            assert_eq!(reads[1].json["data"]["itemStatus"], "New");
        }
    }
    drop(emulator);
    Ok(records)
}

fn by_key(records: &[Read]) -> BTreeMap<&str, Vec<&Read>> {
    let mut keys: BTreeMap<&str, Vec<&Read>> = BTreeMap::new();
    for read in records {
        keys.entry(read.key.as_str()).or_default().push(read);
    }
    keys
}

async fn wait_stream_active(kinesis: &aws_sdk_kinesis::Client, stream: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let summary = kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await?;
        let status = summary
            .stream_description_summary()
            .map(|s| s.stream_status().clone());
        if status == Some(StreamStatus::Active) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("stream {stream} is not active after 30 s: {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every record of every shard, from TRIM_HORIZON, each shard's in sequence order.
async fn read_stream(kinesis: &aws_sdk_kinesis::Client, stream: &str) -> Result<Vec<Read>> {
    let shards = kinesis.list_shards().stream_name(stream).send().await?;
    let mut reads = Vec::new();
    for shard in shards.shards() {
        let shard_id = shard.shard_id();
        let mut iterator = kinesis
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard_id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await?
            .shard_iterator()
            .map(str::to_string);
        while let Some(current) = iterator {
            let output = kinesis
                .get_records()
                .shard_iterator(current)
                .limit(1000)
                .send()
                .await?;
            if output.records().is_empty() {
                break;
            }
            for record in output.records() {
                let json: Json =
                    serde_json::from_slice(record.data().as_ref()).with_context(|| {
                        format!("record {:?} is not JSON", record.sequence_number())
                    })?;
                reads.push(Read {
                    shard: shard_id.to_string(),
                    key: record.partition_key().unwrap_or_default().to_string(),
                    json,
                });
            }
            iterator = output.next_shard_iterator().map(str::to_string);
        }
    }
    Ok(reads)
}
