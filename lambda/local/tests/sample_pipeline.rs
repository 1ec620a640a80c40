//! The whole local pipeline on the sample data set: `examples/quickstart` applied with the real
//! Terraform CLI on a private emulator, the sample's orders written to the CDC stream by the
//! load generator, the real function binary driven by the event-source runner with the
//! mapping's own settings, and the lake fork — then the sink compared, row by row and column by
//! column, with the rows the SQL file and the products file give.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use crate::quickstart;

use anyhow::{Context, Result};
use aws_sdk_cloudwatch::types::StateValue;
use testkit::dms::Value as Column;
use testkit::{repo_root, Emulator, Terraform};
use unifiedetl_local::lake::{self, LakeConfig};
use unifiedetl_local::load::{self, Dataset, LoadOptions, PartitionKey};
use unifiedetl_local::runner::{
    self, Fate, FunctionSpec, MappingConfig, RunnerOptions, StartingPosition,
};

/// The runner's failing function (`src/bin/failing_function.rs`).
const FAILING_FUNCTION: &str = env!("CARGO_BIN_EXE_unifiedetl-failing-function");

/// The sink row the SQL file and the reference data give for each live item, with the columns
/// the quickstart maps (sink attribute → table.column).
fn expected_rows(
    columns: &BTreeMap<&str, &str>,
) -> Result<BTreeMap<(String, String), BTreeMap<String, String>>> {
    let sql = std::fs::read_to_string(repo_root().join("sql/orders-data-setup.sql"))?;
    // The last image of every row, by table and key.
    let mut rows: HashMap<(String, String), BTreeMap<String, String>> = HashMap::new();
    for record in load::sample_records(&sql)? {
        let values: BTreeMap<String, String> = record
            .data
            .iter()
            .map(|(name, value)| {
                let text = match value {
                    Column::Number(n) | Column::Text(n) => n.clone(),
                };
                (name.clone(), text)
            })
            .collect();
        let key = match record.table.as_str() {
            "order" => values["orderId"].clone(),
            _ => format!("{}/{}", values["orderId"], values["itemId"]),
        };
        if record.operation == "delete" {
            rows.remove(&(record.table.clone(), key));
        } else {
            rows.insert((record.table.clone(), key), values);
        }
    }
    let products = quickstart::products()?;
    let mut expected = BTreeMap::new();
    for ((table, _), item) in rows.iter().filter(|((t, _), _)| t == "order_item") {
        let _ = table;
        let Some(order) = rows.get(&("order".to_string(), item["orderId"].clone())) else {
            continue; // an item of no live order is not a row
        };
        let product = products.get(&item["itemId"]);
        let mut row = BTreeMap::new();
        for (attribute, from) in columns {
            let (source, column) = from.split_once('.').unwrap();
            let value = match source {
                "order" => order.get(column).cloned(),
                "order_item" => item.get(column).cloned(),
                _ => product.and_then(|p| match &p[column] {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Null => None,
                    other => Some(other.to_string()),
                }),
            };
            if let Some(value) = value {
                row.insert(attribute.to_string(), value);
            }
        }
        expected.insert((item["orderId"].clone(), item["itemId"].clone()), row);
    }
    Ok(expected)
}

/// `examples/quickstart` applied on `emulator` with the real Terraform CLI.
fn applied_quickstart(emulator: &Emulator) -> Result<Terraform> {
    let tf = Terraform::example(emulator, "quickstart")?;
    tf.apply()?;
    Ok(tf)
}

/// The runner on its own task.
fn spawn_runner(
    kinesis: &aws_sdk_kinesis::Client,
    s3: &aws_sdk_s3::Client,
    options: RunnerOptions,
    fates: tokio::sync::mpsc::UnboundedSender<Fate>,
    cancel: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Result<runner::RunStats>> {
    let (kinesis, s3) = (kinesis.clone(), s3.clone());
    tokio::spawn(async move { runner::run(&kinesis, &s3, options, fates, cancel).await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sample_orders_flow_through_the_local_pipeline_into_the_sink_and_the_lake() -> Result<()>
{
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    // Builds the workspace (the provider and the host build of the function) on first use.
    let tf = applied_quickstart(&emulator)?;

    let sdk = emulator.sdk_config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let firehose = aws_sdk_firehose::Client::new(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let s3 = quickstart::s3_client(&sdk);
    let binary = testkit::terraform::target_dir().join("debug/unifiedetl-lambda");
    let (mut mapping, source) =
        MappingConfig::of_function(&lambda, "unified-orders-persist").await?;
    assert!(source.ends_with(":stream/unified-orders-cdc"), "{source}");
    assert_eq!(mapping.batch_size, 500, "the quickstart's mapping settings");
    assert_eq!(mapping.parallelization_factor, 5);
    let function = FunctionSpec::of_function(
        &lambda,
        "unified-orders-persist",
        binary,
        emulator
            .env()
            .into_iter()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .collect(),
    )
    .await?;

    // The mapping starts at LATEST: read from now on, with no race against the first write.
    let started = SystemTime::now();
    mapping.starting_position = StartingPosition::AtTimestamp(started);
    let (cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let (fates_tx, mut fates) = tokio::sync::mpsc::unbounded_channel();
    let idle = Some(Duration::from_secs(3));
    let run = spawn_runner(
        &kinesis,
        &s3,
        RunnerOptions {
            stream: source,
            mapping,
            function,
            cloudwatch: Some(aws_sdk_cloudwatch::Client::new(&sdk)),
            idle_exit: idle,
        },
        fates_tx,
        cancel.clone(),
    );
    let lake_config = LakeConfig::of_delivery_stream(&firehose, "unified-orders-lake").await?;
    let fork = tokio::spawn({
        let (kinesis, s3, config) = (kinesis.clone(), s3.clone(), lake_config.clone());
        async move { lake::fork(&kinesis, &s3, &config, Some(started), idle, cancel).await }
    });
    let loaded = load::run(
        &kinesis,
        &LoadOptions {
            stream: "unified-orders-cdc".to_string(),
            dataset: Dataset::Sample {
                sql: repo_root().join("sql/orders-data-setup.sql"),
            },
            rate: None,
            partition_key: PartitionKey::PrimaryKey,
            progress: false,
        },
    )
    .await?;
    let stats = run.await??;
    let _ = cancel_tx.send(true);
    let lake_stats = fork.await??;

    // Every record delivered, none given up on.
    let mut delivered = 0;
    while let Ok(fate) = fates.try_recv() {
        match fate {
            Fate::Delivered(_) => delivered += 1,
            Fate::Failed { reason, .. } => panic!("a batch was given up on: {reason}"),
        }
    }
    assert_eq!(delivered, loaded.records);
    assert_eq!(stats.sent_to_destination, 0);

    // The sink holds exactly the join of the SQL file's rows with the products.
    let expected = expected_rows(&quickstart::COLUMNS.into_iter().collect())?;
    let actual = quickstart::sink_rows(&dynamodb).await?;
    assert_eq!(actual.len(), 30, "the sample's 30 items");
    assert_eq!(actual, expected);

    // The lake holds every CDC record, under the date partition of its arrival.
    assert_eq!(lake_stats.records, loaded.records);
    let listed = s3
        .list_objects_v2()
        .bucket(&lake_config.bucket)
        .send()
        .await?;
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), lake_stats.objects.len());
    assert!(
        keys.iter()
            .all(|k| k.starts_with("cdc/year=") && k.ends_with(".gz")),
        "{keys:?}"
    );
    let object = s3
        .get_object()
        .bucket(&lake_config.bucket)
        .key(keys[0])
        .send()
        .await?
        .body
        .collect()
        .await?
        .into_bytes();
    let mut lines = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&object[..]), &mut lines)
        .context("the lake object is gzip")?;
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap())?;
    assert_eq!(first["metadata"]["schema-name"], "orders");

    // The monitoring block's alarms read what the run published: the function's own count of
    // records (its EMF documents) and Lambda's, and no alarm went off.
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let records_in = metric_sum(&cw, "unifiedetl", "RecordsIn", "unified-orders-persist").await?;
    assert_eq!(records_in, loaded.records as f64);
    let invocations =
        metric_sum(&cw, "AWS/Lambda", "Invocations", "unified-orders-persist").await?;
    assert_eq!(invocations, stats.invocations as f64);
    let alarms = cw
        .describe_alarms()
        .alarm_name_prefix("unified-orders-")
        .send()
        .await?;
    let not_ok: Vec<(&str, &str)> = alarms
        .metric_alarms()
        .iter()
        .filter(|a| a.state_value() != Some(&StateValue::Ok))
        .map(|a| {
            (
                a.alarm_name().unwrap_or_default(),
                a.state_reason().unwrap_or_default(),
            )
        })
        .collect();
    assert!(!alarms.metric_alarms().is_empty());
    assert!(
        not_ok.is_empty(),
        "alarms not OK after a clean run: {not_ok:?}"
    );

    tf.destroy()?;
    Ok(())
}

/// The sum of `metric` of `function` over the last ten minutes.
async fn metric_sum(
    cw: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    metric: &str,
    function: &str,
) -> Result<f64> {
    let now = SystemTime::now();
    let out = cw
        .get_metric_statistics()
        .namespace(namespace)
        .metric_name(metric)
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name("FunctionName")
                .value(function)
                .build(),
        )
        .start_time((now - Duration::from_secs(600)).into())
        .end_time((now + Duration::from_secs(60)).into())
        .period(3600)
        .statistics(aws_sdk_cloudwatch::types::Statistic::Sum)
        .send()
        .await?;
    Ok(out.datapoints().iter().filter_map(|d| d.sum()).sum())
}

/// A function failing every batch (the runner's failing function in the quickstart's place):
/// the Errors Lambda reports reach the `function-errors` alarm of the monitoring block, which
/// goes to ALARM, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_function_failing_every_batch_drives_its_errors_alarm_into_alarm() -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    let tf = applied_quickstart(&emulator)?;
    let sdk = emulator.sdk_config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let s3 = quickstart::s3_client(&sdk);
    let alarm = "unified-orders-function-errors";
    let state = |cw: aws_sdk_cloudwatch::Client| async move {
        let out = cw.describe_alarms().alarm_names(alarm).send().await?;
        let a = out.metric_alarms().first().context("the alarm")?;
        Ok::<_, anyhow::Error>((
            a.state_value().cloned(),
            a.state_reason().unwrap_or_default().to_string(),
        ))
    };
    assert_eq!(state(cw.clone()).await?.0, Some(StateValue::Ok));

    let (mut mapping, source) =
        MappingConfig::of_function(&lambda, "unified-orders-persist").await?;
    mapping.starting_position = StartingPosition::AtTimestamp(SystemTime::now());
    let function = FunctionSpec::of_function(
        &lambda,
        "unified-orders-persist",
        FAILING_FUNCTION.into(),
        emulator
            .env()
            .into_iter()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .collect(),
    )
    .await?;
    let (cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let (fates_tx, _fates) = tokio::sync::mpsc::unbounded_channel();
    let run = spawn_runner(
        &kinesis,
        &s3,
        RunnerOptions {
            stream: source,
            mapping,
            function,
            cloudwatch: Some(cw.clone()),
            idle_exit: None,
        },
        fates_tx,
        cancel,
    );
    for i in 0..3 {
        kinesis
            .put_record()
            .stream_name("unified-orders-cdc")
            .partition_key(format!("order-{i}"))
            .data(aws_smithy_types::Blob::new(r#"{"fail": "batch"}"#))
            .send()
            .await?;
    }
    // The runner retries the batch (10 attempts) and publishes each failure as Lambda would.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (value, reason) = loop {
        let (value, reason) = state(cw.clone()).await?;
        if value == Some(StateValue::Alarm) || std::time::Instant::now() > deadline {
            break (value, reason);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let _ = cancel_tx.send(true);
    run.await??;
    assert_eq!(value, Some(StateValue::Alarm), "{reason}");
    assert!(
        reason.starts_with("Threshold Crossed: 1 out of the last 1 datapoints")
            && reason.contains("was greater than or equal to the threshold (1.0)"),
        "{reason}"
    );
    let errors = metric_sum(&cw, "AWS/Lambda", "Errors", "unified-orders-persist").await?;
    assert!(errors >= 1.0, "{errors}");
    tf.destroy()?;
    Ok(())
}
