//! `unifiedetl-local`: the applied pipeline running on the local emulator.
//!
//! ```text
//! unifiedetl-local demo      [--endpoint-url URL] [--function NAME] [--delivery-stream NAME]
//!                            [--sink TABLE] [--sample PATH] [--binary PATH]
//! unifiedetl-local bench-e2e [--endpoint-url URL] [--function NAME] [--sink TABLE]
//!                            [--orders N] [--items M] [--rate R] [--binary PATH]
//! ```
//! Both start the event-source runner on the function's stream (with the function's own
//! mapping settings and environment, the function being the host build of the real binary)
//! and the data-lake fork, write CDC records into the CDC stream with the load generator, wait
//! until everything is processed, and report. `demo` streams the sample's orders and prints
//! the enriched rows, the lake objects and the latency percentiles; `bench-e2e` streams
//! synthetic orders at a target rate and prints throughput, latency beside the sample's
//! reported 900 ms, and an exactly-once count check.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use unifiedetl_local::lake::{self, LakeConfig};
use unifiedetl_local::load::{self, Dataset, LoadOptions, PartitionKey};
use unifiedetl_local::runner::{
    self, Fate, FunctionSpec, MappingConfig, RunnerOptions, StartingPosition,
};

/// The average ingestion → DynamoDB latency the AWS sample reports for its pipeline.
const SAMPLE_AVERAGE_MS: f64 = 900.0;

struct Options {
    command: String,
    endpoint: String,
    region: String,
    function: String,
    delivery_stream: Option<String>,
    sink: String,
    sample: PathBuf,
    binary: PathBuf,
    orders: u64,
    items: u32,
    rate: Option<f64>,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// The applied pipeline running on the local emulator: the event-source runner on the
/// function's stream, the data-lake fork, and the load generator, then a report.
#[derive(clap::Parser)]
#[command(name = "unifiedetl-local")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The AWS endpoint.
    #[arg(
        long,
        global = true,
        env = "AWS_ENDPOINT_URL",
        default_value = "http://127.0.0.1:4566"
    )]
    endpoint_url: String,
    /// The region.
    #[arg(
        long,
        global = true,
        env = "AWS_DEFAULT_REGION",
        default_value = "us-east-1"
    )]
    region: String,
    /// The persist function whose mapping and environment the runner uses.
    #[arg(long, global = true, default_value = "unified-orders-persist")]
    function: String,
    /// The data lake's delivery stream.
    #[arg(long, global = true, default_value = "unified-orders-lake")]
    delivery_stream: String,
    /// No data-lake fork.
    #[arg(long, global = true)]
    no_lake: bool,
    /// The sink table.
    #[arg(long, global = true, default_value = "unified-orders-sink")]
    sink: String,
    /// The sample's SQL file (default: sql/orders-data-setup.sql of the repository).
    #[arg(long, global = true)]
    sample: Option<PathBuf>,
    /// The function binary built for this machine (default: what `make build` built,
    /// <target>/host/unifiedetl-lambda/bootstrap).
    #[arg(long, global = true)]
    binary: Option<PathBuf>,
    /// bench-e2e: synthetic orders.
    #[arg(long, global = true, default_value_t = 200)]
    orders: u64,
    /// bench-e2e: items per order.
    #[arg(long, global = true, default_value_t = 5)]
    items: u32,
    /// bench-e2e: records per second (default: as fast as the stream takes them).
    #[arg(long, global = true)]
    rate: Option<f64>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Streams the sample's orders; prints the enriched rows, the lake objects and the latency.
    Demo,
    /// Streams synthetic orders at a rate; prints throughput, latency beside the sample's
    /// 900 ms, and an exactly-once count check.
    BenchE2e,
}

fn parse() -> Result<Options> {
    let cli = <Cli as clap::Parser>::parse();
    let root = repo_root();
    let o = Options {
        command: match cli.command {
            Command::Demo => "demo",
            Command::BenchE2e => "bench-e2e",
        }
        .to_string(),
        endpoint: cli.endpoint_url,
        region: cli.region,
        function: cli.function,
        delivery_stream: (!cli.no_lake).then_some(cli.delivery_stream),
        sink: cli.sink,
        sample: cli
            .sample
            .unwrap_or_else(|| root.join("sql/orders-data-setup.sql")),
        binary: cli.binary.unwrap_or_else(|| {
            testkit::terraform::target_dir().join("host/unifiedetl-lambda/bootstrap")
        }),
        orders: cli.orders,
        items: cli.items,
        rate: cli.rate,
    };
    if !o.binary.is_file() {
        bail!(
            "{} is missing: build the function for this machine with `make build` (make demo does)",
            o.binary.display()
        );
    }
    Ok(o)
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Latency {
    sorted_ms: Vec<f64>,
    first_arrival: Option<SystemTime>,
    last_done: Option<SystemTime>,
    failed: u64,
}

impl Latency {
    fn of(fates: &[Fate]) -> Latency {
        let mut sorted_ms = Vec::new();
        let mut first_arrival: Option<SystemTime> = None;
        let mut last_done: Option<SystemTime> = None;
        let mut failed = 0;
        for fate in fates {
            match fate {
                Fate::Delivered(d) => {
                    let ms = d
                        .done
                        .duration_since(d.arrival)
                        .unwrap_or_default()
                        .as_secs_f64()
                        * 1000.0;
                    sorted_ms.push(ms);
                    first_arrival = Some(first_arrival.map_or(d.arrival, |f| f.min(d.arrival)));
                    last_done = Some(last_done.map_or(d.done, |l| l.max(d.done)));
                }
                Fate::Failed { .. } => failed += 1,
            }
        }
        sorted_ms.sort_by(f64::total_cmp);
        Latency {
            sorted_ms,
            first_arrival,
            last_done,
            failed,
        }
    }

    fn mean(&self) -> f64 {
        self.sorted_ms.iter().sum::<f64>() / self.sorted_ms.len().max(1) as f64
    }

    fn line(&self) -> String {
        format!(
            "p50 {:.0} ms · p95 {:.0} ms · p99 {:.0} ms · mean {:.0} ms over {} records",
            percentile(&self.sorted_ms, 50.0),
            percentile(&self.sorted_ms, 95.0),
            percentile(&self.sorted_ms, 99.0),
            self.mean(),
            self.sorted_ms.len()
        )
    }
}

/// Every item of the sink table (a full scan).
async fn scan(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = dynamodb
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .with_context(|| format!("scanning {table}"))?;
        items.extend(out.items().iter().cloned());
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(items);
        }
    }
}

fn show(value: Option<&aws_sdk_dynamodb::types::AttributeValue>) -> String {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    match value {
        Some(A::S(s)) => s.clone(),
        Some(A::N(n)) => n.clone(),
        Some(A::Bool(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn print_table(
    items: &[std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>],
) {
    let columns = [
        "orderId",
        "itemId",
        "productName",
        "itemQuantity",
        "itemAmount",
        "itemStatus",
        "orderStatus",
        "shipToCity",
    ];
    let mut rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| columns.iter().map(|c| show(item.get(*c))).collect())
        .collect();
    rows.sort();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].len())
                .max()
                .unwrap_or(0)
                .max(c.len())
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!("{}", line(columns.iter().map(|c| c.to_string()).collect()));
    println!("{}", line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for row in rows {
        println!("{}", line(row));
    }
}

/// Medians of 9 timed TransactWriteItems (one put and one condition check, as the engine
/// writes) and of 9 GetItem calls against the state table, and its size: what one request
/// costs on the emulator at the end of the run.
async fn probe_emulator(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(f64, f64, usize)> {
    use aws_sdk_dynamodb::types::{AttributeValue as A, ConditionCheck, Put, TransactWriteItem};
    let key = |sk: &str| {
        std::collections::HashMap::from([
            ("pk".to_string(), A::S("bench-probe".to_string())),
            ("sk".to_string(), A::S(sk.to_string())),
        ])
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut transactions = Vec::new();
    let mut gets = Vec::new();
    for i in 0..9 {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(key(&format!("put-{i}"))))
            .build()?;
        let check = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key("absent")))
            .condition_expression("attribute_not_exists(pk)")
            .build()?;
        let start = std::time::Instant::now();
        dynamodb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().condition_check(check).build())
            .send()
            .await
            .context("probing the emulator with TransactWriteItems")?;
        transactions.push(start.elapsed().as_secs_f64() * 1000.0);
        let start = std::time::Instant::now();
        dynamodb
            .get_item()
            .table_name(table)
            .set_key(Some(key(&format!("put-{i}"))))
            .send()
            .await?;
        gets.push(start.elapsed().as_secs_f64() * 1000.0);
        dynamodb
            .delete_item()
            .table_name(table)
            .set_key(Some(key(&format!("put-{i}"))))
            .send()
            .await?;
    }
    let items = scan(dynamodb, table).await?.len();
    Ok((median(transactions), median(gets), items))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let o = parse()?;
    let config = testkit::emulator::sdk_config_at(&o.endpoint, &o.region).await;
    let kinesis = aws_sdk_kinesis::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let firehose = aws_sdk_firehose::Client::new(&config);
    // The function's metrics, as Lambda and CloudWatch Logs publish them: the pipeline's
    // alarms and dashboard read them.
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
    let alarms_client = cloudwatch.clone();

    let (mut mapping, source_arn) = MappingConfig::of_function(&lambda, &o.function)
        .await
        .with_context(|| format!("reading the event source mapping of {}", o.function))?;
    let function = FunctionSpec::of_function(
        &lambda,
        &o.function,
        o.binary.clone(),
        vec![
            ("AWS_ENDPOINT_URL".to_string(), o.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID".to_string(), "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), "testing".to_string()),
            ("AWS_REGION".to_string(), o.region.clone()),
        ],
    )
    .await?;
    let state_table = function
        .env
        .iter()
        .find(|(k, _)| k == "STATE_TABLE")
        .map(|(_, v)| v.clone());
    let stream_name = source_arn
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    // Records written from now on (the mapping's LATEST, without racing the first write).
    let started = SystemTime::now();
    mapping.starting_position = StartingPosition::AtTimestamp(started);
    let (cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let (fates_tx, mut fates_rx) = tokio::sync::mpsc::unbounded_channel();
    // The processing stops once nothing new has arrived for this long after the load.
    let idle = Duration::from_secs(5);
    let runner = tokio::spawn({
        let kinesis = kinesis.clone();
        let s3 = s3.clone();
        let cancel = cancel.clone();
        async move {
            runner::run(
                &kinesis,
                &s3,
                RunnerOptions {
                    stream: source_arn,
                    mapping,
                    function,
                    cloudwatch: Some(cloudwatch),
                    idle_exit: Some(idle),
                },
                fates_tx,
                cancel,
            )
            .await
        }
    });
    let lake_task = match &o.delivery_stream {
        Some(name) => {
            let config = LakeConfig::of_delivery_stream(&firehose, name).await?;
            let kinesis = kinesis.clone();
            let s3 = s3.clone();
            let cancel = cancel.clone();
            Some(tokio::spawn(async move {
                let stats =
                    lake::fork(&kinesis, &s3, &config, Some(started), Some(idle), cancel).await;
                stats.map(|s| (config, s))
            }))
        }
        None => None,
    };

    let dataset = if o.command == "demo" {
        Dataset::Sample {
            sql: o.sample.clone(),
        }
    } else {
        Dataset::Synthetic {
            orders: o.orders,
            items_per_order: o.items,
            seed: 7,
        }
    };
    let loaded = load::run(
        &kinesis,
        &LoadOptions {
            stream: stream_name.clone(),
            dataset,
            rate: o.rate,
            partition_key: PartitionKey::PrimaryKey,
            progress: true,
        },
    )
    .await?;
    eprintln!(
        "wrote {} CDC records to {stream_name} in {:.1} s; processing…",
        loaded.records,
        loaded.elapsed.as_secs_f64()
    );
    let stats = runner.await.context("the runner panicked")??;
    let _ = cancel_tx.send(true);
    let lake = match lake_task {
        Some(task) => Some(task.await.context("the lake fork panicked")??),
        None => None,
    };
    let mut fates = Vec::new();
    while let Ok(fate) = fates_rx.try_recv() {
        fates.push(fate);
    }
    let latency = Latency::of(&fates);
    let items = scan(&dynamodb, &o.sink).await?;

    if o.command == "demo" {
        println!();
        println!(
            "Enriched rows in DynamoDB ({}): {} rows",
            o.sink,
            items.len()
        );
        println!();
        print_table(&items);
        if let Some((config, stats)) = &lake {
            println!();
            println!(
                "Data lake: {} records in {} objects in s3://{}/",
                stats.records,
                stats.objects.len(),
                config.bucket
            );
            for key in &stats.objects {
                println!("  {key}");
            }
        }
        println!();
        println!(
            "{} CDC records, {} invocations of {} ({} retried, {} to the dead-letter destination)",
            loaded.records, stats.invocations, o.function, stats.retries, stats.sent_to_destination
        );
        println!(
            "End-to-end latency, Kinesis arrival → DynamoDB write: {}",
            latency.line()
        );
        print_alarms(&alarms_client).await?;
        return Ok(());
    }

    // bench-e2e: throughput, latency beside the sample's, exactly-once count (of this run's
    // synthetic orders: the sink may hold the demo's rows too).
    let synthetic = load::FIRST_SYNTHETIC_ORDER_ID..load::FIRST_SYNTHETIC_ORDER_ID + o.orders;
    let item_rows = items
        .iter()
        .filter(|item| {
            show(item.get("orderId"))
                .parse::<u64>()
                .is_ok_and(|id| synthetic.contains(&id))
        })
        .count() as u64;
    let span = match (latency.first_arrival, latency.last_done) {
        (Some(first), Some(last)) => last.duration_since(first).unwrap_or_default(),
        _ => Duration::ZERO,
    };
    let throughput = loaded.per_table.get("order_item").copied().unwrap_or(0) as f64
        / span.as_secs_f64().max(f64::EPSILON);
    let mut table = BTreeMap::new();
    table.insert(
        "order items written (CDC)",
        format!(
            "{}",
            loaded.per_table.get("order_item").copied().unwrap_or(0)
        ),
    );
    table.insert("CDC records in all", format!("{}", loaded.records));
    table.insert(
        "load rate (records/s)",
        format!(
            "{:.0}",
            loaded.records as f64 / loaded.elapsed.as_secs_f64().max(f64::EPSILON)
        ),
    );
    table.insert("throughput (order items/s)", format!("{throughput:.0}"));
    table.insert("latency", latency.line());
    table.insert(
        "sample's reported average (ms)",
        format!("{SAMPLE_AVERAGE_MS:.0}"),
    );
    table.insert(
        "sink rows / expected",
        format!("{item_rows} / {}", loaded.expected_items),
    );
    table.insert("records given up on", format!("{}", latency.failed));
    println!();
    for (k, v) in &table {
        println!("{k:<34} {v}");
    }
    if let Some(state_table) = &state_table {
        let (transaction, get, items) = probe_emulator(&dynamodb, state_table).await?;
        println!();
        println!("Where the time goes: the engine makes about 1.4 DynamoDB requests per record, most of them TransactWriteItems.");
        println!(
            "On the emulator now (state table at {items} items), one TransactWriteItems takes {transaction:.1} ms and one GetItem {get:.1} ms (median of 9):"
        );
        println!(
            "the emulator applies DynamoDB requests one at a time, so it alone caps the engine near {:.0} records/s.",
            1000.0 / (1.4 * transaction).max(f64::EPSILON)
        );
    }
    if item_rows != loaded.expected_items || latency.failed > 0 {
        bail!(
            "count check failed: {item_rows} rows in {} for {} expected items ({} records given up on)",
            o.sink,
            loaded.expected_items,
            latency.failed
        );
    }
    println!("count check: every item arrived exactly once");
    let _ = started;
    Ok(())
}

/// The monitoring block's alarms after the run, as CloudWatch judges them on the metrics the
/// run published: how many are OK, and each one that is not.
async fn print_alarms(cloudwatch: &aws_sdk_cloudwatch::Client) -> Result<()> {
    let out = cloudwatch
        .describe_alarms()
        .send()
        .await
        .context("reading the pipeline's CloudWatch alarms")?;
    let alarms = out.metric_alarms();
    if alarms.is_empty() {
        return Ok(());
    }
    let ok = alarms
        .iter()
        .filter(|a| a.state_value() == Some(&aws_sdk_cloudwatch::types::StateValue::Ok))
        .count();
    println!("CloudWatch alarms: {ok} of {} OK", alarms.len());
    for a in alarms
        .iter()
        .filter(|a| a.state_value() != Some(&aws_sdk_cloudwatch::types::StateValue::Ok))
    {
        println!(
            "  {} {}: {}",
            a.state_value().map_or("?", |s| s.as_str()),
            a.alarm_name().unwrap_or_default(),
            a.state_reason().unwrap_or_default()
        );
    }
    Ok(())
}
