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
//! synthetic orders at a target rate with a progress bar and prints throughput, latency beside
//! the sample's reported 900 ms, the function's CPU and DynamoDB requests per record (its calls
//! go through a counting proxy), and an exactly-once check: every live order item in the sink
//! once, at its latest version.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use testkit::dms::Value;
use testkit::http::{Call, CountingProxy};
use unifiedetl_local::lake::{self, LakeConfig};
use unifiedetl_local::load::{self, Dataset, LoadOptions, PartitionKey};
use unifiedetl_local::progress::Progress;
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

/// Milliseconds from `from` to `to` (none when the clock went back).
fn ms_between(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from).unwrap_or_default().as_secs_f64() * 1000.0
}

struct Latency {
    sorted_ms: Vec<f64>,
    /// Per record, sorted: from arrival until the mapping read it, from then until the
    /// invocation that wrote it was sent, and that invocation's time.
    legs_ms: [Vec<f64>; 3],
    first_arrival: Option<SystemTime>,
    last_done: Option<SystemTime>,
    failed: u64,
}

impl Latency {
    fn of(fates: &[Fate]) -> Latency {
        let mut sorted_ms = Vec::new();
        let mut legs_ms: [Vec<f64>; 3] = Default::default();
        let mut first_arrival: Option<SystemTime> = None;
        let mut last_done: Option<SystemTime> = None;
        let mut failed = 0;
        for fate in fates {
            match fate {
                Fate::Delivered(d) => {
                    sorted_ms.push(ms_between(d.arrival, d.done));
                    legs_ms[0].push(ms_between(d.arrival, d.read));
                    legs_ms[1].push(ms_between(d.read, d.invoked));
                    legs_ms[2].push(ms_between(d.invoked, d.done));
                    first_arrival = Some(first_arrival.map_or(d.arrival, |f| f.min(d.arrival)));
                    last_done = Some(last_done.map_or(d.done, |l| l.max(d.done)));
                }
                Fate::Failed { .. } => failed += 1,
            }
        }
        sorted_ms.sort_by(f64::total_cmp);
        for leg in &mut legs_ms {
            leg.sort_by(f64::total_cmp);
        }
        Latency {
            sorted_ms,
            legs_ms,
            first_arrival,
            last_done,
            failed,
        }
    }

    fn mean(&self) -> f64 {
        self.sorted_ms.iter().sum::<f64>() / self.sorted_ms.len().max(1) as f64
    }

    /// Where a record's latency goes, as medians of each leg.
    fn legs(&self) -> String {
        format!(
            "medians: {:.0} ms until read from the shard, {:.0} ms more until its invocation was sent, {:.0} ms in the invocation",
            percentile(&self.legs_ms[0], 50.0),
            percentile(&self.legs_ms[1], 50.0),
            percentile(&self.legs_ms[2], 50.0)
        )
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

/// What the sink should hold of one live order item at the end: its latest quantity and
/// status, and its order's latest status.
type Final = (String, String, String);

/// Every order item the data set leaves alive with a live order, as the sink should end:
/// replayed from the data set's records in commit order.
fn expected_rows(dataset: &Dataset) -> Result<BTreeMap<(u64, u64), Final>> {
    let mut orders: BTreeMap<u64, String> = BTreeMap::new();
    let mut items: BTreeMap<(u64, u64), (String, String)> = BTreeMap::new();
    for record in dataset.records()? {
        let column = |name: &str| {
            record
                .data
                .iter()
                .find(|(column, _)| column == name)
                .map(|(_, value)| match value {
                    Value::Number(text) | Value::Text(text) => text.clone(),
                })
                .unwrap_or_default()
        };
        let id = |name: &str| column(name).parse::<u64>().unwrap_or_default();
        let deleted = record.operation == "delete";
        match record.table.as_str() {
            "order" if deleted => {
                orders.remove(&id("orderId"));
            }
            "order" => {
                orders.insert(id("orderId"), column("orderStatus"));
            }
            "order_item" if deleted => {
                items.remove(&(id("orderId"), id("itemId")));
            }
            "order_item" => {
                items.insert(
                    (id("orderId"), id("itemId")),
                    (column("itemQuantity"), column("itemStatus")),
                );
            }
            _ => {}
        }
    }
    Ok(items
        .into_iter()
        .filter_map(|(key, (quantity, status))| {
            let order_status = orders.get(&key.0)?.clone();
            Some((key, (quantity, status, order_status)))
        })
        .collect())
}

/// The sink against the expected rows: how many rows are missing, how many the data set does
/// not leave alive, and how many hold an older version.
fn exactly_once(
    rows: &[std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>],
    expected: &BTreeMap<(u64, u64), Final>,
    orders: std::ops::Range<u64>,
) -> (usize, usize, usize) {
    let mut seen = 0;
    let (mut unexpected, mut stale) = (0, 0);
    for row in rows {
        let id = |name: &str| show(row.get(name)).parse::<u64>().ok();
        let (Some(order), Some(item)) = (id("orderId"), id("itemId")) else {
            continue;
        };
        if !orders.contains(&order) {
            continue; // the demo's rows
        }
        match expected.get(&(order, item)) {
            None => unexpected += 1,
            Some((quantity, status, order_status)) => {
                seen += 1;
                let now = (
                    show(row.get("itemQuantity")),
                    show(row.get("itemStatus")),
                    show(row.get("orderStatus")),
                );
                if now != (quantity.clone(), status.clone(), order_status.clone()) {
                    stale += 1;
                }
            }
        }
    }
    (expected.len() - seen, unexpected, stale)
}

/// How the DynamoDB requests' `X-Amz-Target` starts.
const DYNAMODB_TARGET: &str = "DynamoDB_20120810.";

/// CPU time (user + system) of this process's children that have ended and been waited for
/// (`/proc/self/stat` fields 16 and 17, in the kernel's 100 Hz clock ticks): the function
/// processes, once the runner has stopped them.
fn children_cpu() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let after = &stat[stat.rfind(')').context("malformed /proc/self/stat")? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |field: usize| -> Result<u64> {
        fields
            .get(field - 3)
            .context("short /proc/self/stat")?
            .parse::<u64>()
            .context("malformed /proc/self/stat")
    };
    Ok(Duration::from_millis(10 * (ticks(16)? + ticks(17)?)))
}

/// How long at least one DynamoDB request was outstanding (the union of their intervals), and
/// the mean time of one, from the proxy's log.
fn dynamodb_busy(log: &[Call]) -> (Duration, Duration) {
    let mut calls: Vec<(Duration, Duration)> = log
        .iter()
        .filter(|call| call.operation.starts_with("dynamodb:"))
        .map(|call| (call.start, call.end))
        .collect();
    if calls.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    let total: Duration = calls
        .iter()
        .map(|(start, end)| end.saturating_sub(*start))
        .sum();
    let mean = total / calls.len() as u32;
    calls.sort();
    let mut busy = Duration::ZERO;
    let (mut from, mut to) = calls[0];
    for &(start, end) in &calls[1..] {
        if start > to {
            busy += to - from;
            (from, to) = (start, end);
        } else {
            to = to.max(end);
        }
    }
    busy += to - from;
    (busy, mean)
}

/// Receives every record's fate until the runner ends, counting them on `progress` with the
/// latency so far.
async fn collect(
    mut fates: tokio::sync::mpsc::UnboundedReceiver<Fate>,
    progress: Progress,
) -> Vec<Fate> {
    let mut all = Vec::new();
    let mut recent_ms: Vec<f64> = Vec::new();
    while let Some(fate) = fates.recv().await {
        if let Fate::Delivered(d) = &fate {
            recent_ms.push(ms_between(d.arrival, d.done));
        }
        all.push(fate);
        progress.add(1);
        if recent_ms.len() >= 1000 {
            recent_ms.sort_by(f64::total_cmp);
            progress.set_message(format!(
                "latency of the last {} p50 {:.0} ms, p99 {:.0} ms",
                recent_ms.len(),
                percentile(&recent_ms, 50.0),
                percentile(&recent_ms, 99.0)
            ));
            recent_ms.clear();
        }
    }
    progress.finish();
    all
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

    // bench-e2e: the function's AWS calls go through a proxy that counts them and logs when
    // each was answered.
    let proxy = if o.command == "bench-e2e" {
        Some(
            CountingProxy::start(&o.endpoint)
                .await
                .context("starting the proxy that counts the function's AWS requests")?,
        )
    } else {
        None
    };
    let function_endpoint = proxy
        .as_ref()
        .map_or_else(|| o.endpoint.clone(), CountingProxy::endpoint);
    let (mut mapping, source_arn) = MappingConfig::of_function(&lambda, &o.function)
        .await
        .with_context(|| format!("reading the event source mapping of {}", o.function))?;
    let function = FunctionSpec::of_function(
        &lambda,
        &o.function,
        o.binary.clone(),
        vec![
            ("AWS_ENDPOINT_URL".to_string(), function_endpoint),
            ("AWS_ACCESS_KEY_ID".to_string(), "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), "testing".to_string()),
            ("AWS_REGION".to_string(), o.region.clone()),
        ],
    )
    .await?;
    let stream_name = source_arn
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    // Records written from now on (the mapping's LATEST, without racing the first write).
    let started = SystemTime::now();
    mapping.starting_position = StartingPosition::AtTimestamp(started);
    let (cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let (fates_tx, fates_rx) = tokio::sync::mpsc::unbounded_channel();
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
    // bench-e2e: one bar (or a line every 10 s) of the records processed, with the latency so
    // far; the load generator's own is for `demo`.
    let bench = o.command == "bench-e2e";
    let progress = Progress::new(
        bench,
        || Ok(dataset.records()?.count() as u64),
        "bench-e2e",
        "records processed",
    )?;
    let collector = tokio::spawn(collect(fates_rx, progress));
    let cpu_before = children_cpu()?;
    let loaded = load::run(
        &kinesis,
        &LoadOptions {
            stream: stream_name.clone(),
            dataset: dataset.clone(),
            rate: o.rate,
            partition_key: PartitionKey::PrimaryKey,
            progress: !bench,
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
    let fates = collector.await.context("collecting the records' fates")?;
    // The function processes have all been stopped and waited for: their CPU is counted.
    let function_cpu = children_cpu()?.saturating_sub(cpu_before);
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
        println!("  where it goes ({})", latency.legs());
        print_alarms(&alarms_client).await?;
        return Ok(());
    }

    // bench-e2e: throughput, latency beside the sample's, exactly-once count (of this run's
    // synthetic orders: the sink may hold the demo's rows too).
    let synthetic = load::FIRST_SYNTHETIC_ORDER_ID..load::FIRST_SYNTHETIC_ORDER_ID + o.orders;
    let expected = expected_rows(&dataset)?;
    let (missing, unexpected, stale) = exactly_once(&items, &expected, synthetic);
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
    table.insert("latency, where it goes", latency.legs());
    table.insert(
        "sample's reported average (ms)",
        format!("{SAMPLE_AVERAGE_MS:.0}"),
    );
    table.insert(
        "sink rows",
        format!(
            "{} expected: {missing} missing, {unexpected} unexpected, {stale} not at their latest version",
            expected.len()
        ),
    );
    table.insert("records given up on", format!("{}", latency.failed));
    let delivered = latency.sorted_ms.len().max(1) as f64;
    table.insert(
        "function CPU per record (us)",
        format!(
            "{:.0} ({:.1} s of CPU in all the function's processes)",
            function_cpu.as_secs_f64() * 1e6 / delivered,
            function_cpu.as_secs_f64()
        ),
    );
    if let Some(proxy) = &proxy {
        let requests: BTreeMap<String, u64> = proxy
            .counts()
            .into_iter()
            .filter_map(|(target, n)| Some((target.strip_prefix(DYNAMODB_TARGET)?.to_string(), n)))
            .collect();
        let total: u64 = requests.values().sum();
        let mix: Vec<String> = requests
            .iter()
            .map(|(operation, n)| format!("{operation} {:.2}", *n as f64 / delivered))
            .collect();
        table.insert(
            "DynamoDB requests per record",
            format!("{:.2} ({})", total as f64 / delivered, mix.join(" · ")),
        );
        let (busy, mean) = dynamodb_busy(&proxy.take_log());
        table.insert(
            "DynamoDB requests outstanding",
            format!(
                "{:.0} % of the run ({:.1} of {:.1} s; {:.1} ms per request on the emulator)",
                100.0 * busy.as_secs_f64() / span.as_secs_f64().max(f64::EPSILON),
                busy.as_secs_f64(),
                span.as_secs_f64(),
                mean.as_secs_f64() * 1000.0
            ),
        );
    }
    println!();
    for (k, v) in &table {
        println!("{k:<34} {v}");
    }
    if missing + unexpected + stale > 0 || latency.failed > 0 {
        bail!(
            "exactly-once check failed: of {} expected rows in {}, {missing} missing, \
             {unexpected} unexpected, {stale} not at their latest version ({} records given up on)",
            expected.len(),
            o.sink,
            latency.failed
        );
    }
    println!(
        "exactly-once check: each of the {} live order items is in {} once, at its latest version",
        expected.len(),
        o.sink
    );
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
