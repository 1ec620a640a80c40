//! `make bench`: the persist function measured against its targets, side by side in one run on
//! one emulator, with the same generated batches for every contender; and, in the same run and
//! interleaved with it, the analytics engine's throughput and DynamoDB requests per record.
//!
//! ```text
//! unifiedetl-lambda-bench [--batches N] [--records N] [--cold-starts N] [--cpu-passes N]
//!                         [--binary PATH] [--node-sink DIR] [--check]
//! ```
//!
//! What runs, in order (see README.md for the reasoning behind each method):
//!
//! 1. `--batches` + 1 batches of `--records` rows shaped like the sample's enriched order items,
//!    all keys distinct. The first batch warms every contender up and is not counted.
//! 2. Pure CPU per record, in this process, before anything else starts: decode + collapse +
//!    chunk of the measured batches, `--cpu-passes` times, timed with the thread's CPU clock.
//! 3. One emulator (`tests/emulator/launcher.py`) and four empty tables of the sample's key
//!    schema (`orderId` N, `itemId` N): one per contender, so each writes only fresh items.
//! 4. Per batch, the three contenders one after another (rotating who goes first):
//!    - **ours**: the release binary, warm, driven through a Runtime API served here; wall time
//!      from the invocation being handed out to its response being received;
//!    - **floor**: the batch's items as ceil(N/25) BatchWriteItem calls of 25 issued one at a
//!      time with the Rust SDK; the floor is ceil(N/25) × the median latency of those calls;
//!    - **node**: `node-sink/sink.mjs`, one PutItem per record, all concurrently (AWS SDK v3);
//!    - **persist, counted**: a second warm instance of the release binary (persist function)
//!      whose `AWS_ENDPOINT_URL` is a counting proxy in front of the emulator: records/s per
//!      invocation and DynamoDB requests per record, by `X-Amz-Target`;
//!    - **engine**: a third warm instance, the analytics engine (`CORRELATION` set), behind a
//!      counting proxy of its own, fed DMS records of orders arriving with their items.
//! 5. The warm function's peak RSS (`VmHWM`) and its total CPU time over the measured batches;
//!    every table is checked to hold every item, the engine's sink to hold the join.
//! 6. Cold starts: exec of the binary → its first response, repeated.

mod data;
mod engine;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_sdk_dynamodb::types::{PutRequest, ScalarAttributeType, WriteRequest};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Mutex;
use unifiedetl_lambda::decode::{KeyAttribute, KeySchema, KeyType};
use unifiedetl_lambda::plan;

use crate::data::Batch;
use testkit::http::CountingProxy;
use testkit::{Emulator, RuntimeApi};

const TABLE_OURS: &str = "BenchOurs";
const TABLE_FLOOR: &str = "BenchFloor";
const TABLE_NODE: &str = "BenchNode";
const TABLE_COLD: &str = "BenchColdStart";
/// The persist function's second instance, the one behind the counting proxy.
const TABLE_COUNTED: &str = "BenchPersistCounted";
/// How the DynamoDB requests' `X-Amz-Target` starts.
const DYNAMODB_TARGET: &str = "DynamoDB_20120810.";
const BATCH_TIMEOUT: Duration = Duration::from_secs(120);

/// The persist function against its targets, beside the engine and a Node.js sink, on a
/// private emulator: throughput, DynamoDB requests per record, CPU per record, cold starts.
#[derive(clap::Parser)]
#[command(name = "unifiedetl-lambda-bench")]
struct Options {
    /// Measured batches (one more warms up).
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..))]
    batches: u64,
    /// Records per batch.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    records: u64,
    /// Cold starts measured.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    cold_starts: u64,
    /// Passes of the in-process CPU measurement.
    #[arg(long, default_value_t = 20)]
    cpu_passes: u64,
    /// The function binary (default: the one `make build` makes for this machine,
    /// <target>/host/unifiedetl-lambda/bootstrap).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// The Node.js sink's directory (default: lambda/bench/node-sink).
    #[arg(long)]
    node_sink: Option<PathBuf>,
    /// Exit 1 if a target is missed.
    #[arg(long)]
    check: bool,
    /// Only the in-process CPU measurement, no emulator.
    #[arg(long)]
    cpu_only: bool,
}

/// The options with every path resolved.
struct Settings {
    batches: usize,
    records: usize,
    cold_starts: usize,
    cpu_passes: usize,
    binary: PathBuf,
    node_sink: PathBuf,
    check: bool,
    cpu_only: bool,
}

impl Settings {
    fn parse() -> Result<Settings> {
        let root = testkit::repo_root();
        let o = <Options as clap::Parser>::parse();
        let options = Settings {
            batches: o.batches as usize,
            records: o.records as usize,
            cold_starts: o.cold_starts as usize,
            cpu_passes: o.cpu_passes as usize,
            binary: o.binary.unwrap_or_else(|| {
                testkit::terraform::target_dir().join("host/unifiedetl-lambda/bootstrap")
            }),
            node_sink: o
                .node_sink
                .unwrap_or_else(|| root.join("lambda/bench/node-sink")),
            check: o.check,
            cpu_only: o.cpu_only,
        };
        if !options.cpu_only {
            ensure!(
                options.binary.is_file(),
                "{} is missing: run `cargo build --release -p unifiedetl-lambda` first",
                options.binary.display()
            );
            ensure!(
                options
                    .node_sink
                    .join("node_modules/@aws-sdk/client-dynamodb")
                    .is_dir(),
                "the Node.js sink is not installed: run `npm ci --prefix {}`",
                options.node_sink.display()
            );
        }
        Ok(options)
    }
}

fn keys() -> KeySchema {
    KeySchema {
        partition: KeyAttribute {
            name: "orderId".into(),
            key_type: KeyType::N,
        },
        sort: Some(KeyAttribute {
            name: "itemId".into(),
            key_type: KeyType::N,
        }),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let options = Settings::parse()?;
    let total = options.batches + 1;
    eprintln!(
        "generating {total} batches of {} records (the first one warms up)",
        options.records
    );
    let batches = data::batches(total, options.records);
    // First, before anything else runs: the process's heap holds only the batches, as the
    // function's holds only its event.
    eprintln!(
        "measuring the pure CPU part in-process: {} passes over the batches",
        options.cpu_passes
    );
    let pure = {
        let events: Vec<String> = batches[1..].iter().map(|b| b.event.clone()).collect();
        pure_cpu(&events, options.cpu_passes)?
    };
    if options.cpu_only {
        for (name, samples) in [
            ("decode + collapse + chunk", &pure.total),
            ("  decode", &pure.decode),
            ("  collapse", &pure.collapse),
            ("  chunk + free", &pure.chunk_and_free),
            ("event JSON parse", &pure.event_parse),
        ] {
            println!(
                "{name:<28} min {:6.2} us/record   median {:6.2} us/record",
                min(samples),
                median(samples)
            );
        }
        for (cpu, samples) in &pure.by_cpu {
            let name = format!("  pinned to cpu {cpu}");
            println!(
                "{name:<28} min {:6.2} us/record   median {:6.2} us/record",
                min(samples),
                median(samples)
            );
        }
        return Ok(());
    }

    eprintln!("starting the emulator");
    let emulator = tokio::task::spawn_blocking(Emulator::start)
        .await?
        .context("starting the emulator (run `make setup` first)")?;
    let sdk_config = emulator.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk_config);
    for table in [
        TABLE_OURS,
        TABLE_FLOOR,
        TABLE_NODE,
        TABLE_COLD,
        TABLE_COUNTED,
    ] {
        create_table(
            &dynamodb,
            table,
            ("orderId", "itemId"),
            ScalarAttributeType::N,
        )
        .await?;
    }
    engine::setup(&sdk_config).await?;
    let engine_batches = engine::batches(total, options.records);

    let mut ours = WarmFunction::start(
        &options.binary,
        function_env(&emulator, None, &persist_env(TABLE_OURS)),
    )
    .await?;
    let counted_proxy = CountingProxy::start(&emulator.endpoint).await?;
    let mut counted = WarmFunction::start(
        &options.binary,
        function_env(
            &emulator,
            Some(&counted_proxy.endpoint()),
            &persist_env(TABLE_COUNTED),
        ),
    )
    .await?;
    let engine_proxy = CountingProxy::start(&emulator.endpoint).await?;
    let correlation = engine::correlation().to_string();
    let mut engine_function = WarmFunction::start(
        &options.binary,
        function_env(
            &emulator,
            Some(&engine_proxy.endpoint()),
            &[
                ("SINK_TABLE", engine::SINK),
                ("SINK_PARTITION_KEY", "orderId:N"),
                ("SINK_SORT_KEY", "itemId:N"),
                ("STATE_TABLE", engine::STATE),
                ("CORRELATION", &correlation),
            ],
        ),
    )
    .await?;
    let mut node = NodeSink::start(&options.node_sink, &emulator).await?;
    let floor_requests: Vec<Vec<Vec<WriteRequest>>> =
        batches.iter().map(floor_requests).collect::<Result<_>>()?;

    eprintln!(
        "running {} measured batches: ours, floor, node, persist (counted) and engine side by side",
        options.batches
    );
    let mut ours_ms = Vec::new();
    let mut node_ms = Vec::new();
    let mut floor_ms = Vec::new(); // per batch: calls × median call
    let mut floor_calls_ms = Vec::new(); // every 25-item call
    let mut sequential_ms = Vec::new(); // per batch: the direct calls' actual total
    let mut counted_runs = Vec::new(); // per batch: (records, wall ms, requests by target)
    let mut engine_runs = Vec::new();
    let mut engine_rows = 0; // sink rows checked, all batches
    let mut cpu_before = 0;
    let mut engine_cpu_before = 0;
    let mut ticks_before = (0, 0);
    for (i, batch) in batches.iter().enumerate() {
        if i == 1 {
            cpu_before = process_cpu_ns(ours.pid)?;
            ticks_before = user_system_ticks(ours.pid)?;
            engine_cpu_before = process_cpu_ns(engine_function.pid)?;
        }
        let mut results = [0.0; CONTENDERS];
        let mut calls = Vec::new();
        let mut counted_run = None;
        let mut engine_run = None;
        for turn in 0..CONTENDERS {
            let contender = (turn + i) % CONTENDERS;
            if std::env::var_os("STRESS").is_some() && contender != 0 {
                continue;
            }
            results[contender] = match contender {
                0 => ours.run(i, &batch.event).await?,
                1 => {
                    calls = run_floor(&dynamodb, &floor_requests[i]).await?;
                    calls.iter().sum()
                }
                2 => node.run(batch).await?,
                3 => {
                    let run = Counted::run(
                        &mut counted,
                        &counted_proxy,
                        i,
                        &batch.event,
                        batch.records.len(),
                    )
                    .await?;
                    counted_run.insert(run).wall_ms
                }
                _ => {
                    let run = Counted::run(
                        &mut engine_function,
                        &engine_proxy,
                        i,
                        &engine_batches[i].event,
                        engine_batches[i].records,
                    )
                    .await?;
                    // Outside the timing: the batch's join is checked, then the tables emptied.
                    match engine::check_sink(&dynamodb, i, options.records).await {
                        Ok(rows) => engine_rows += rows,
                        Err(err) => bail!(
                            "batch {i}: {err:#}\nthe engine's last log lines:\n{}",
                            tail(&engine_function.logs).await
                        ),
                    }
                    engine::reset(&dynamodb).await?;
                    engine_run.insert(run).wall_ms
                }
            };
        }
        if i == 0 {
            continue; // warm-up
        }
        counted_runs.extend(counted_run);
        engine_runs.extend(engine_run);
        ours_ms.push(results[0]);
        sequential_ms.push(results[1]);
        floor_ms.push(calls.len() as f64 * median(&calls));
        floor_calls_ms.extend(calls);
        node_ms.push(results[2]);
        eprintln!(
            "  batch {i:>2}: ours {:7.1} ms   floor {:7.1} ms   node {:7.1} ms   \
             persist (counted) {:7.1} ms   engine {:7.1} ms",
            results[0],
            floor_ms.last().unwrap(),
            results[2],
            results[3],
            results[4]
        );
    }
    let engine_cpu_ns = process_cpu_ns(engine_function.pid)? - engine_cpu_before;
    let engine_peak_rss_kib = vm_hwm_kib(engine_function.pid)?;
    let function_cpu_ns = process_cpu_ns(ours.pid)? - cpu_before;
    let ticks_after = user_system_ticks(ours.pid)?;
    let (user, system) = (
        ticks_after.0 - ticks_before.0,
        ticks_after.1 - ticks_before.1,
    );
    let function_system_share = system as f64 / (user + system).max(1) as f64;
    let peak_rss_kib = vm_hwm_kib(ours.pid)?;
    drop(node);

    eprintln!("checking that every contender wrote every item");
    let mut problems = Vec::new();
    for table in [TABLE_OURS, TABLE_COUNTED] {
        let keys = scan_keys(&dynamodb, table).await?;
        let missing: Vec<String> = (0..(total * options.records) as u64)
            .filter(|&n| !keys.contains(&data::key(n)))
            .map(|n| {
                let (order_id, item_id) = data::key(n);
                let (batch, record) = (n as usize / options.records, n as usize % options.records);
                format!("({order_id}, {item_id}) of batch {batch}, record {record}")
            })
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "table {table} lacks {} of {} items: {}",
                missing.len(),
                total * options.records,
                missing.join(", ")
            ));
        }
    }
    if !problems.is_empty() {
        bail!(
            "{}\nour function's last log lines:\n{}",
            problems.join("\n"),
            tail(&ours.logs).await
        );
    }
    let expected_rows = total * engine::orders_per_batch(options.records) * engine::ITEMS_PER_ORDER;
    ensure!(
        engine_rows == expected_rows || std::env::var_os("STRESS").is_some(),
        "the engine's sinks held {engine_rows} rows in all, expected {expected_rows}"
    );
    eprintln!(
        "requests through the proxies, whole run (warm-up and start-up included):\n  \
         persist (counted): {:?}\n  engine: {:?}",
        counted_proxy.counts(),
        engine_proxy.counts()
    );
    ours.stop().await;
    counted.stop().await;
    engine_function.stop().await;

    eprintln!("measuring {} cold starts", options.cold_starts);
    let cold = cold_starts(&options.binary, &emulator, options.cold_starts).await?;

    let measured_records = (options.batches * options.records) as f64;
    let engine_records: usize = engine_runs.iter().map(|run| run.records).sum();
    let report = Report {
        records: options.records,
        batches: options.batches,
        ours_ms,
        floor_ms,
        floor_calls_ms,
        sequential_ms,
        node_ms,
        pure,
        function_cpu_us_per_record: function_cpu_ns as f64 / 1e3 / measured_records,
        function_system_share,
        cold,
        peak_rss_kib,
        counted: counted_runs,
        engine: engine_runs,
        engine_orders: engine::orders_per_batch(options.records),
        engine_cpu_us_per_record: engine_cpu_ns as f64 / 1e3 / engine_records.max(1) as f64,
        engine_peak_rss_kib,
    };
    let missed = report.print();
    drop(emulator);
    if options.check && missed > 0 {
        bail!("{missed} target(s) missed");
    }
    Ok(())
}

// ------------------------------------------------------------------------------ contenders

/// Our function, warm: one process that serves every measured batch.
struct WarmFunction {
    api: RuntimeApi,
    child: Child,
    pid: u32,
    logs: Arc<Mutex<Vec<u8>>>,
}

impl WarmFunction {
    /// Starts `binary` with `env` (see [`function_env`]).
    async fn start(binary: &Path, env: Vec<(String, String)>) -> Result<WarmFunction> {
        let api = RuntimeApi::start().await?;
        let child = spawn_function(binary, &api, &env)?;
        let pid = child.child.id().context("the function exited at once")?;
        Ok(WarmFunction {
            api,
            child: child.child,
            pid,
            logs: child.logs,
        })
    }

    /// Runs one batch (a Kinesis event); returns its wall time in ms.
    async fn run(&mut self, i: usize, event: &str) -> Result<f64> {
        let id = format!("batch-{i}");
        self.api.invoke_with_timeout(&id, event, BATCH_TIMEOUT);
        let outcome = match self.api.outcome(&id, BATCH_TIMEOUT).await {
            Ok(outcome) => outcome,
            Err(err) => bail!("{err:#}\nfunction logs:\n{}", tail(&self.logs).await),
        };
        ensure!(
            outcome.body == serde_json::json!({"batchItemFailures": []}),
            "our function reported failures: {}\nfunction logs:\n{}",
            outcome.body,
            tail(&self.logs).await
        );
        Ok(ms(outcome.wall()))
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The contenders of each batch: ours, floor, node, persist (counted), engine.
const CONTENDERS: usize = 5;

/// One batch of a warm function behind a counting proxy.
struct Counted {
    records: usize,
    wall_ms: f64,
    /// The DynamoDB requests made during the batch, by operation (`PutItem`, …).
    requests: BTreeMap<String, u64>,
}

impl Counted {
    /// Runs one batch of `records` records and counts the DynamoDB requests the proxy forwarded
    /// meanwhile (the function answers only after its last request has been answered, so every
    /// request of the batch has been counted by then).
    async fn run(
        function: &mut WarmFunction,
        proxy: &CountingProxy,
        i: usize,
        event: &str,
        records: usize,
    ) -> Result<Counted> {
        let before = proxy.counts();
        let wall_ms = function.run(i, event).await?;
        let requests = proxy
            .counts()
            .into_iter()
            .filter_map(|(target, count)| {
                let operation = target.strip_prefix(DYNAMODB_TARGET)?.to_string();
                let count = count - before.get(&target).copied().unwrap_or(0);
                (count > 0).then_some((operation, count))
            })
            .collect();
        Ok(Counted {
            records,
            wall_ms,
            requests,
        })
    }

    fn records_per_second(&self) -> f64 {
        self.records as f64 / (self.wall_ms / 1e3)
    }

    /// Requests of `operation` (all DynamoDB requests when `None`) per record.
    fn per_record(&self, operation: Option<&str>) -> f64 {
        let count: u64 = match operation {
            Some(operation) => self.requests.get(operation).copied().unwrap_or(0),
            None => self.requests.values().sum(),
        };
        count as f64 / self.records as f64
    }
}

struct Spawned {
    child: Child,
    logs: Arc<Mutex<Vec<u8>>>,
}

/// The environment of the function: the emulator's (its `AWS_ENDPOINT_URL` replaced by
/// `endpoint` when given, e.g. a counting proxy) plus `extra`.
fn function_env(
    emulator: &Emulator,
    endpoint: Option<&str>,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env = emulator.env();
    if let Some(endpoint) = endpoint {
        for (name, value) in &mut env {
            if name == "AWS_ENDPOINT_URL" {
                *value = endpoint.to_string();
            }
        }
    }
    env.extend(
        extra
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string())),
    );
    env
}

/// The persist function's own variables, writing to `table` (the sample's key schema).
fn persist_env(table: &str) -> [(&str, &str); 3] {
    [
        ("SINK_TABLE", table),
        ("SINK_PARTITION_KEY", "orderId:N"),
        ("SINK_SORT_KEY", "itemId:N"),
    ]
}

/// Starts the function binary as Lambda would, against `api`, with `env` (see
/// [`function_env`]); its output (one JSON log line per batch) is read and the last 64 KiB
/// kept.
fn spawn_function(binary: &Path, api: &RuntimeApi, env: &[(String, String)]) -> Result<Spawned> {
    let mut child = Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "persist")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let logs = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(drain(child.stdout.take().unwrap(), logs.clone()));
    tokio::spawn(drain(child.stderr.take().unwrap(), logs.clone()));
    Ok(Spawned { child, logs })
}

async fn drain(mut pipe: impl tokio::io::AsyncRead + Unpin, into: Arc<Mutex<Vec<u8>>>) {
    const KEEP: usize = 64 * 1024;
    let mut buffer = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        let mut logs = into.lock().await;
        logs.extend_from_slice(&buffer[..n]);
        if logs.len() > 2 * KEEP {
            let cut = logs.len() - KEEP;
            logs.drain(..cut);
        }
    }
}

async fn tail(logs: &Mutex<Vec<u8>>) -> String {
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = logs.lock().await;
    let text = String::from_utf8_lossy(&logs);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The batch's items as the floor's BatchWriteItem calls: the decoder's own items (so the
/// floor writes exactly what we write), 25 per call.
fn floor_requests(batch: &Batch) -> Result<Vec<Vec<WriteRequest>>> {
    let keys = keys();
    let requests: Vec<WriteRequest> = batch
        .records
        .iter()
        .map(|record| {
            let row = unifiedetl_lambda::decode::decode(&record.data, &keys)
                .map_err(|reason| anyhow::anyhow!("generated a poison row: {reason}"))?;
            let put = PutRequest::builder().set_item(Some(row.item)).build()?;
            Ok(WriteRequest::builder().put_request(put).build())
        })
        .collect::<Result<_>>()?;
    Ok(requests
        .chunks(plan::BATCH_WRITE_LIMIT)
        .map(<[WriteRequest]>::to_vec)
        .collect())
}

/// Issues the calls one at a time; returns each call's latency in ms.
async fn run_floor(
    client: &aws_sdk_dynamodb::Client,
    calls: &[Vec<WriteRequest>],
) -> Result<Vec<f64>> {
    let mut latencies = Vec::with_capacity(calls.len());
    for requests in calls {
        let request = client
            .batch_write_item()
            .request_items(TABLE_FLOOR, requests.clone());
        let started = Instant::now();
        let output = request.send().await.context("floor BatchWriteItem")?;
        latencies.push(ms(started.elapsed()));
        ensure!(
            output.unprocessed_items().is_none_or(|u| u.is_empty()),
            "the emulator left items unprocessed"
        );
    }
    Ok(latencies)
}

/// The Node.js reference sink, one long-lived process fed one event per line.
struct NodeSink {
    _child: Child,
    stdin: ChildStdin,
    stdout: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl NodeSink {
    async fn start(dir: &Path, emulator: &Emulator) -> Result<NodeSink> {
        let mut child = Command::new("node")
            .arg("sink.mjs")
            .arg("--serve")
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(emulator.env())
            .env("SINK_TABLE", TABLE_NODE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting node (Node.js 20 or later must be on PATH)")?;
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Ok(NodeSink {
            _child: child,
            stdin,
            stdout,
        })
    }

    async fn run(&mut self, batch: &Batch) -> Result<f64> {
        self.stdin.write_all(batch.event.as_bytes()).await?;
        self.stdin.write_all(b"\n").await?;
        self.stdin.flush().await?;
        let line = tokio::time::timeout(BATCH_TIMEOUT, self.stdout.next_line())
            .await
            .context("the Node.js sink did not answer in time")??
            .context("the Node.js sink exited")?;
        let answer: serde_json::Value = serde_json::from_str(&line)?;
        match answer["ms"].as_f64() {
            Some(ms) => Ok(ms),
            None => bail!("the Node.js sink failed: {}", answer["error"]),
        }
    }
}

// ------------------------------------------------------------------------------ CPU, memory

/// Per-record CPU samples (µs) of the handler's pure part, one per batch and pass.
#[derive(Default)]
struct PureCpu {
    /// decode + collapse + chunk (+ freeing the result): the number held against the target.
    total: Vec<f64>,
    decode: Vec<f64>,
    collapse: Vec<f64>,
    /// chunk, then free the chunks (items included) as the handler does after writing.
    chunk_and_free: Vec<f64>,
    /// Deserialising the Kinesis event JSON (base64 data included), as lambda_runtime does
    /// before the handler runs: not part of the pure part, reported beside it.
    event_parse: Vec<f64>,
    /// `total`'s samples by the CPU the thread was pinned to.
    by_cpu: Vec<(usize, Vec<f64>)>,
}

/// The pure part of the handler — decode every record, collapse, chunk — on the measured
/// batches, `passes` times on each CPU the process may use (pinned to one after the other: on a
/// shared virtual machine one vCPU can run the same code markedly slower than another, and the
/// split shows it), each batch timed with this thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`),
/// so that time the scheduler gives other processes does not count. Each batch's event is parsed
/// first (timed apart), then the pure part runs on its records, as `Function::handle` does.
fn pure_cpu(events: &[String], passes: usize) -> Result<PureCpu> {
    let keys = keys();
    let mut samples = PureCpu::default();
    let original = affinity()?;
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `original` is an initialised cpu_set_t and the index is within CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &original) })
        .collect();
    for &cpu in &cpus {
        pin(cpu)?;
        let mut on_this_cpu = Vec::new();
        for _ in 0..passes {
            for event in events {
                let t0 = thread_cpu_ns();
                let event: KinesisEvent = serde_json::from_str(event)?;
                let t1 = thread_cpu_ns();
                let (rows, poison) = unifiedetl_lambda::decode_records(&event.records, &keys);
                let t2 = thread_cpu_ns();
                let writes = plan::collapse(rows);
                let t3 = thread_cpu_ns();
                let chunks = plan::chunk(writes, plan::BATCH_WRITE_LIMIT);
                std::hint::black_box(&chunks);
                drop(chunks);
                let t4 = thread_cpu_ns();
                ensure!(poison.is_empty(), "poison in generated data");
                let per_record =
                    |from: u64, to: u64| (to - from) as f64 / 1e3 / event.records.len() as f64;
                samples.event_parse.push(per_record(t0, t1));
                samples.decode.push(per_record(t1, t2));
                samples.collapse.push(per_record(t2, t3));
                samples.chunk_and_free.push(per_record(t3, t4));
                samples.total.push(per_record(t1, t4));
                on_this_cpu.push(per_record(t1, t4));
            }
        }
        samples.by_cpu.push((cpu, on_this_cpu));
    }
    set_affinity(&original)?;
    Ok(samples)
}

/// The CPUs this thread may run on.
fn affinity() -> Result<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        ensure!(
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0,
            "sched_getaffinity: {}",
            std::io::Error::last_os_error()
        );
        Ok(set)
    }
}

fn set_affinity(set: &libc::cpu_set_t) -> Result<()> {
    // SAFETY: `set` is a valid cpu_set_t; 0 means the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
    ensure!(
        rc == 0,
        "sched_setaffinity: {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}

/// Pins the calling thread to one CPU.
fn pin(cpu: usize) -> Result<()> {
    // SAFETY: cpu_set_t is plain data, and `cpu` comes from the thread's own affinity mask.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set
    };
    set_affinity(&set)
}

fn thread_cpu_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// CPU time (user + system) of every thread of a process so far, in ns, from the scheduler's
/// per-thread accounting (`/proc/<pid>/task/*/schedstat`, first field).
fn process_cpu_ns(pid: u32) -> Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let stat = std::fs::read_to_string(task?.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(total)
}

/// User and system CPU time of a process so far, in clock ticks (`/proc/<pid>/stat` fields 14
/// and 15): coarse (10 ms), used only to split the precise total into user and kernel time.
fn user_system_ticks(pid: u32) -> Result<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let after = &stat[stat.rfind(')').context("malformed stat")? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    Ok((fields[11].parse()?, fields[12].parse()?))
}

/// Peak resident set size of a process (VmHWM), in KiB.
fn vm_hwm_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/<pid>/status")
}

// ------------------------------------------------------------------------------ cold start

struct ColdStarts {
    /// exec → first response, the first event a 1-record batch (one BatchWriteItem call).
    one_record_ms: Vec<f64>,
    /// exec → first response, the first event an empty batch (no DynamoDB call).
    empty_ms: Vec<f64>,
}

/// Starts the binary `count` times per kind of first event (plus one unmeasured start to warm
/// the page cache), each against a fresh Runtime API that already holds the event, and times
/// exec → response received.
async fn cold_starts(binary: &Path, emulator: &Emulator, count: usize) -> Result<ColdStarts> {
    let mut result = ColdStarts {
        one_record_ms: Vec::new(),
        empty_ms: Vec::new(),
    };
    for i in 0..=count {
        for empty in [false, true] {
            let event = if empty {
                data::event(&[])
            } else {
                let mut record = data::batches(1, 1).remove(0).records.remove(0);
                // A fresh key each time.
                let text = String::from_utf8(record.data)?.replacen(
                    "\"itemId\":999900001",
                    &format!("\"itemId\":{}", 1 + i),
                    1,
                );
                record.data = text.into_bytes();
                data::event(&[record])
            };
            let mut api = RuntimeApi::start().await?;
            api.invoke("cold", &event);
            let started = Instant::now();
            let env = function_env(emulator, None, &persist_env(TABLE_COLD));
            let mut spawned = spawn_function(binary, &api, &env)?;
            let outcome = api.outcome("cold", BATCH_TIMEOUT).await;
            let _ = spawned.child.kill().await;
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(err) => bail!("cold start: {err:#}\n{}", tail(&spawned.logs).await),
            };
            ensure!(
                outcome.body == serde_json::json!({"batchItemFailures": []}),
                "cold start reported failures: {}",
                outcome.body
            );
            let ms = ms(outcome.received - started);
            if i > 0 {
                if empty {
                    result.empty_ms.push(ms);
                } else {
                    result.one_record_ms.push(ms);
                }
            }
        }
    }
    Ok(result)
}

// ------------------------------------------------------------------------------ emulator

/// A table keyed by `hash` and `range`, both of `attribute_type`.
use testkit::emulator::create_table;

/// Every (orderId, itemId) in a table.
async fn scan_keys(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<std::collections::HashSet<(u64, u64)>> {
    let mut keys = std::collections::HashSet::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .projection_expression("orderId, itemId")
            .set_exclusive_start_key(start)
            .send()
            .await?;
        for item in page.items() {
            let number = |name: &str| -> Result<u64> {
                let value = item.get(name).and_then(|v| v.as_n().ok());
                Ok(value.with_context(|| format!("{name} missing"))?.parse()?)
            };
            keys.insert((number("orderId")?, number("itemId")?));
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(keys);
        }
    }
}

// ------------------------------------------------------------------------------ report

struct Report {
    records: usize,
    batches: usize,
    ours_ms: Vec<f64>,
    floor_ms: Vec<f64>,
    floor_calls_ms: Vec<f64>,
    sequential_ms: Vec<f64>,
    node_ms: Vec<f64>,
    pure: PureCpu,
    function_cpu_us_per_record: f64,
    /// Share of that CPU time spent in the kernel (utime/stime ticks).
    function_system_share: f64,
    cold: ColdStarts,
    peak_rss_kib: u64,
    /// The persist function's second instance, behind a counting proxy: one entry per batch.
    counted: Vec<Counted>,
    /// The analytics engine, behind a counting proxy of its own: one entry per batch.
    engine: Vec<Counted>,
    /// Orders per engine batch (each with `engine::ITEMS_PER_ORDER` items).
    engine_orders: usize,
    engine_cpu_us_per_record: f64,
    engine_peak_rss_kib: u64,
}

impl Report {
    /// Prints the table; returns how many targets were missed.
    fn print(&self) -> usize {
        let per_batch =
            |f: &dyn Fn(usize) -> f64| -> Vec<f64> { (0..self.ours_ms.len()).map(f).collect() };
        let ours_over_floor = per_batch(&|i| self.ours_ms[i] / self.floor_ms[i]);
        let speedup = per_batch(&|i| self.node_ms[i] / self.ours_ms[i]);
        let best_speedup = per_batch(&|i| self.node_ms[i] / self.floor_ms[i]);
        let calls = self.records.div_ceil(plan::BATCH_WRITE_LIMIT);

        println!();
        println!(
            "persist function benchmark: {} measured batches of {} records (+1 warm-up), one emulator, \
             contenders interleaved per batch",
            self.batches, self.records
        );
        println!();
        let (metric, low, mid, target) = ("metric", "min", "median", "target");
        println!("{metric:<58} {low:>10} {mid:>10}   {target:<12} result");
        println!("{}", "-".repeat(104));
        let mut missed = 0;
        let mut row = |name: &str, values: &[f64], target: Option<(&str, bool)>| {
            let (target, verdict) = match target {
                Some((text, ok)) => {
                    if !ok {
                        missed += 1;
                    }
                    (text, if ok { "met" } else { "MISSED" })
                }
                None => ("", ""),
            };
            print_row(name, values, target, verdict);
        };
        row(
            "ours: wall per batch, handed out -> response (ms)",
            &self.ours_ms,
            None,
        );
        row(
            &format!("floor: {calls} x median 25-item BatchWriteItem (ms)"),
            &self.floor_ms,
            None,
        );
        row(
            "  (25-item BatchWriteItem call, each (ms))",
            &self.floor_calls_ms,
            None,
        );
        row(
            &format!("  ({calls} direct calls one after another, sum (ms))"),
            &self.sequential_ms,
            None,
        );
        row(
            "ours / floor",
            &ours_over_floor,
            Some(("<= 1.30", median(&ours_over_floor) <= 1.3)),
        );
        row(
            "node: one PutItem per record, concurrent (ms)",
            &self.node_ms,
            None,
        );
        row(
            "speed-up over node (node / ours)",
            &speedup,
            Some((">= 5.0", median(&speedup) >= 5.0)),
        );
        row("  (best possible here: node / floor)", &best_speedup, None);
        row(
            "CPU per record: decode + collapse + chunk (us)",
            &self.pure.total,
            Some(("<= 10", median(&self.pure.total) <= 10.0)),
        );
        for (cpu, samples) in &self.pure.by_cpu {
            row(&format!("  (pinned to cpu {cpu} (us))"), samples, None);
        }
        row("  (of which decode (us))", &self.pure.decode, None);
        row("  (of which collapse (us))", &self.pure.collapse, None);
        row(
            "  (of which chunk + free (us))",
            &self.pure.chunk_and_free,
            None,
        );
        row(
            "  (Kinesis event JSON parse + base64, per record (us))",
            &self.pure.event_parse,
            None,
        );
        row(
            "  (whole function process CPU / records (us))",
            &[self.function_cpu_us_per_record],
            None,
        );
        row(
            "    (share of it in the kernel, %)",
            &[100.0 * self.function_system_share],
            None,
        );
        row(
            "cold start: exec -> first response, 1-record batch (ms)",
            &self.cold.one_record_ms,
            Some(("<= 30", median(&self.cold.one_record_ms) <= 30.0)),
        );
        row(
            "  (exec -> first response, empty batch (ms))",
            &self.cold.empty_ms,
            None,
        );
        let rss_mib = self.peak_rss_kib as f64 / 1024.0;
        row(
            &format!(
                "peak RSS after {}-record batches, VmHWM (MiB)",
                self.records
            ),
            &[rss_mib],
            Some(("<= 32", rss_mib <= 32.0)),
        );
        self.print_engine(&mut row);
        println!();
        println!("verdicts use the median; ratios are per batch (same batch, same emulator, minutes apart at most).");
        missed
    }
}

/// Prints one row of the table, with an optional target: (text, met).
type RowPrinter<'a> = dyn FnMut(&str, &[f64], Option<(&str, bool)>) + 'a;

impl Report {
    /// The rows of the engine and of the persist function behind the counting proxy: records/s
    /// per invocation and DynamoDB requests per record, with the requests the design expects.
    fn print_engine(&self, row: &mut RowPrinter) {
        let of = |runs: &[Counted], f: &dyn Fn(&Counted) -> f64| -> Vec<f64> {
            runs.iter().map(f).collect()
        };
        let operations = |runs: &[Counted]| -> Vec<String> {
            let mut all: Vec<String> = runs
                .iter()
                .flat_map(|run| run.requests.keys().cloned())
                .collect();
            all.sort();
            all.dedup();
            all
        };
        // Requests per record as designed, shown in the target column (not a verdict on speed:
        // it does not count as a missed target).
        let design = |name: &str, values: &[f64], expected: f64| {
            let matches = values.iter().all(|v| (v - expected).abs() < 1e-9);
            print_row(
                name,
                values,
                &format!("= {expected:.2}"),
                if matches { "as designed" } else { "DIFFERS" },
            );
        };

        println!(
            "-- in the same run, each behind a counting proxy on 127.0.0.1 (requests counted by \
             X-Amz-Target):"
        );
        let persist_calls = self.records.div_ceil(plan::BATCH_WRITE_LIMIT);
        row(
            "persist (2nd instance): records/s per invocation",
            &of(&self.counted, &|run| run.records_per_second()),
            None,
        );
        row(
            "  (wall per batch, handed out -> response (ms))",
            &of(&self.counted, &|run| run.wall_ms),
            None,
        );
        design(
            "  DynamoDB requests per record",
            &of(&self.counted, &|run| run.per_record(None)),
            persist_calls as f64 / self.records as f64,
        );
        // The CPU is the first instance's (`ours`), the requests its twin's behind the proxy:
        // the same binary given the same batches.
        row(
            "  (whole function process CPU / DynamoDB requests (us))",
            &[self.function_cpu_us_per_record
                / median(&of(&self.counted, &|run| run.per_record(None)))],
            None,
        );
        for operation in operations(&self.counted) {
            let values = of(&self.counted, &|run| run.per_record(Some(&operation)));
            if operation == "BatchWriteItem" {
                design(
                    "    (BatchWriteItem per record)",
                    &values,
                    persist_calls as f64 / self.records as f64,
                );
            } else {
                design(&format!("    ({operation} per record)"), &values, 0.0);
            }
        }

        let k = 1 + engine::ITEMS_PER_ORDER;
        let transactions = k.div_ceil(49);
        let items = engine::ITEMS_PER_ORDER;
        row(
            &format!(
                "engine: records/s per invocation ({} x (1 order + {items} items))",
                self.engine_orders
            ),
            &of(&self.engine, &|run| run.records_per_second()),
            None,
        );
        row(
            "  (order items, i.e. sink rows, per second)",
            &of(&self.engine, &|run| {
                run.records_per_second() * items as f64 / k as f64
            }),
            None,
        );
        row(
            "  (wall per batch, handed out -> response (ms))",
            &of(&self.engine, &|run| run.wall_ms),
            None,
        );
        let ratio: Vec<f64> = self
            .engine
            .iter()
            .zip(&self.counted)
            .map(|(engine, persist)| persist.records_per_second() / engine.records_per_second())
            .collect();
        row(
            "  (persist records/s / engine records/s, per batch)",
            &ratio,
            None,
        );
        design(
            &format!("  DynamoDB requests per record (k={k}: {k}+1+{transactions} per group)"),
            &of(&self.engine, &|run| run.per_record(None)),
            (k + 1 + transactions) as f64 / k as f64,
        );
        let expected = |operation: &str| match operation {
            "PutItem" => 1.0,
            "Query" => 1.0 / k as f64,
            "TransactWriteItems" => transactions as f64 / k as f64,
            _ => 0.0,
        };
        let mut shown = operations(&self.engine);
        for operation in ["PutItem", "Query", "TransactWriteItems"] {
            if !shown.iter().any(|o| o == operation) {
                shown.push(operation.to_string());
            }
        }
        shown.sort_by_key(|operation| {
            ["PutItem", "Query", "TransactWriteItems"]
                .iter()
                .position(|o| o == operation)
                .unwrap_or(3)
        });
        for operation in shown {
            design(
                &format!("    ({operation} per record)"),
                &of(&self.engine, &|run| run.per_record(Some(&operation))),
                expected(&operation),
            );
        }
        row(
            "  (whole engine process CPU / records (us))",
            &[self.engine_cpu_us_per_record],
            None,
        );
        row(
            "  (whole engine process CPU / DynamoDB requests (us))",
            &[self.engine_cpu_us_per_record
                / median(&of(&self.engine, &|run| run.per_record(None)))],
            None,
        );
        row(
            "  (engine peak RSS, VmHWM (MiB))",
            &[self.engine_peak_rss_kib as f64 / 1024.0],
            None,
        );
    }
}

fn print_row(name: &str, values: &[f64], target: &str, verdict: &str) {
    let (min, med) = (min(values), median(values));
    println!("{name:<58} {min:>10.2} {med:>10.2}   {target:<12} {verdict}");
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}
