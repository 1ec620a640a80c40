//! Lambda's Kinesis event source mapping, on a laptop: polls the stream the mapping reads (on the
//! local emulator, which stores records but never runs functions) and drives the real function
//! binary through the Lambda Runtime API, with the mapping's batching, parallelization factor,
//! partial batch responses, retries, bisection, record age and S3 on-failure destination.
//!
//! One poller per shard (children of a resharded shard once their parents are exhausted, as
//! Lambda does, so the order of a partition key survives the reshard). A shard's records are
//! routed by partition key to `parallelization_factor` slots; each slot forms its own batches
//! and runs them, one at a time, on its own function process (a Lambda instance handles one
//! invocation at a time): so up to that many batches of a shard are in flight at once and the
//! order per partition key is kept.
//!
//! Where this differs from Lambda:
//! - the checkpoint lives in memory only: a new run starts at the mapping's starting position;
//! - a function's timeout also covers its cold start (Lambda gives init its own 10 s);
//! - only S3 on-failure destinations are written (SQS and SNS are refused at start);
//! - `invokeIdentityArn` is `arn:aws:iam::<account>:role/<function>`: the runner is not told the
//!   function's role.
//!
//! With [`RunnerOptions::cloudwatch`], each invocation's metrics go to CloudWatch as Lambda and
//! CloudWatch Logs would send them ([`crate::metrics`]).

use std::collections::hash_map::{DefaultHasher, RandomState};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_lambda::types::{EventSourcePosition, FunctionResponseType};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use testkit::runtime_api::{Outcome, Report};
use testkit::{FunctionProcess, RuntimeApi};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::metrics;

/// How long a poller waits before asking a shard that had nothing new again (Lambda polls a
/// caught-up shard about once a second; locally a shorter wait means lower latency).
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The wait before the first retry of a failed batch; it doubles with each further retry of
/// the same records, up to [`RETRY_BACKOFF_MAX`].
pub const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait between two retries of a batch.
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// How often an invocation in flight is checked for a crashed process or a timeout.
const CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// Lambda's limit on a synchronous invocation's payload: a batch is cut short before its event
/// would exceed it.
const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

/// Records asked for per GetRecords (the API's maximum).
const GET_RECORDS_LIMIT: i32 = 10_000;

/// Attempts at writing one failed batch to the on-failure destination.
const DESTINATION_ATTEMPTS: u32 = 3;

/// Where a mapping starts reading a shard that has no parent to finish first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// The oldest record still in the shard.
    TrimHorizon,
    /// Only records put after the runner started.
    Latest,
    /// Records that arrived from this moment on (Kinesis' AT_TIMESTAMP): what a local run
    /// uses to read exactly the records written after it began, with no race between the
    /// writer and the runner's first iterators.
    AtTimestamp(SystemTime),
}

/// The event source mapping's settings, as the pipeline configured them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingConfig {
    /// Most records in one invocation (`BatchSize`).
    pub batch_size: usize,
    /// How long to gather records for a batch that is not full (`MaximumBatchingWindowInSeconds`);
    /// zero: whatever has been read.
    pub batching_window: Duration,
    /// Batches of one shard in flight at once (`ParallelizationFactor`), keeping the order of
    /// each partition key.
    pub parallelization_factor: usize,
    /// Split a batch in two when the function fails it (`BisectBatchOnFunctionError`).
    pub bisect_on_error: bool,
    /// Retries of a failed batch (`MaximumRetryAttempts`); -1: until the records expire.
    pub maximum_retry_attempts: i64,
    /// Records older than this are not sent again (`MaximumRecordAgeInSeconds`); `None`: -1,
    /// no limit.
    pub maximum_record_age: Option<Duration>,
    pub starting_position: StartingPosition,
    /// The S3 bucket ARN the records of a batch the mapping gives up on are written to.
    pub on_failure: Option<String>,
    /// `FunctionResponseTypes` has `ReportBatchItemFailures`: the function's
    /// `batchItemFailures` are honoured.
    pub report_batch_item_failures: bool,
}

impl Default for MappingConfig {
    /// What Lambda gives a Kinesis mapping for the settings left unset (the starting position
    /// has no default in Lambda; TRIM_HORIZON here).
    fn default() -> MappingConfig {
        MappingConfig {
            batch_size: 100,
            batching_window: Duration::ZERO,
            parallelization_factor: 1,
            bisect_on_error: false,
            maximum_retry_attempts: -1,
            maximum_record_age: None,
            starting_position: StartingPosition::TrimHorizon,
            on_failure: None,
            report_batch_item_failures: false,
        }
    }
}

/// A Kinesis event source mapping as ListEventSourceMappings reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub uuid: String,
    /// The function it invokes, as it names it: qualified by a version (or alias), or not
    /// (`$LATEST`).
    pub function_arn: String,
    /// The stream it reads.
    pub source: String,
    /// `Creating`, `Enabled`, `Updating`, `Disabled`, `Deleting`…
    pub state: String,
    /// When it was created or last updated.
    pub last_modified: Option<SystemTime>,
    pub config: MappingConfig,
}

impl Mapping {
    /// Whether Lambda reads the stream through it (or is about to).
    pub fn reads(&self) -> bool {
        matches!(
            self.state.as_str(),
            "Creating" | "Enabling" | "Enabled" | "Updating"
        )
    }
}

/// The function name of a function name or ARN, qualified or not.
pub fn function_name_of(name_or_arn: &str) -> &str {
    let rest = name_or_arn
        .split_once(":function:")
        .map_or(name_or_arn, |(_, rest)| rest);
    rest.split(':').next().unwrap_or(rest)
}

/// The Kinesis event source mappings of `function` (a name or ARN), whichever version of it
/// each invokes, read with ListEventSourceMappings (every page, unfiltered: a filter on the
/// function matches one qualifier only).
pub async fn mappings_of(lambda: &aws_sdk_lambda::Client, function: &str) -> Result<Vec<Mapping>> {
    let name = function_name_of(function);
    let listed: Vec<_> = lambda
        .list_event_source_mappings()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .with_context(|| {
            format!("listing the event source mappings of Lambda function ({name})")
        })?;
    listed
        .iter()
        .filter(|m| m.event_source_arn().is_some_and(is_kinesis_arn))
        .filter(|m| {
            m.function_arn()
                .is_some_and(|f| function_name_of(f) == name)
        })
        .map(|m| {
            Ok(Mapping {
                uuid: m.uuid().unwrap_or_default().to_string(),
                function_arn: m.function_arn().unwrap_or_default().to_string(),
                source: m.event_source_arn().unwrap_or_default().to_string(),
                state: m.state().unwrap_or_default().to_string(),
                last_modified: m
                    .last_modified()
                    .and_then(|t| SystemTime::try_from(*t).ok()),
                config: MappingConfig::of_mapping(m, name)?,
            })
        })
        .collect()
}

impl MappingConfig {
    /// The Kinesis event source mapping of `function` (name or ARN), whichever version of it
    /// it invokes, and the ARN of the stream it reads.
    pub async fn of_function(
        lambda: &aws_sdk_lambda::Client,
        function: &str,
    ) -> Result<(MappingConfig, String)> {
        let mappings = mappings_of(lambda, function).await?;
        let mapping = mappings
            .iter()
            .find(|m| m.reads())
            .or_else(|| mappings.first())
            .ok_or_else(|| {
                anyhow!("Lambda function ({function}) has no Kinesis event source mapping")
            })?;
        if !mapping.reads() {
            bail!(
                "the event source mapping ({}) of Lambda function ({function}) is disabled \
                 (`persist.enabled = false`): Lambda reads nothing through it, and neither does \
                 the local runner; enable it to resume where it stopped",
                mapping.uuid,
            );
        }
        Ok((mapping.config.clone(), mapping.source.clone()))
    }

    /// The settings of `mapping` (of the function `function`).
    fn of_mapping(
        mapping: &aws_sdk_lambda::types::EventSourceMappingConfiguration,
        function: &str,
    ) -> Result<MappingConfig> {
        let starting_position = match mapping.starting_position() {
            Some(EventSourcePosition::TrimHorizon) => StartingPosition::TrimHorizon,
            Some(EventSourcePosition::Latest) => StartingPosition::Latest,
            other => bail!(
                "the event source mapping ({}) of Lambda function ({function}) starts at {}: \
                 the local runner starts at TRIM_HORIZON or LATEST only",
                mapping.uuid().unwrap_or_default(),
                other.map_or("(none)", |p| p.as_str()),
            ),
        };
        let seconds = |s: i32| Duration::from_secs(u64::try_from(s).unwrap_or(0));
        Ok(MappingConfig {
            batch_size: mapping
                .batch_size()
                .map_or(100, |b| usize::try_from(b).unwrap_or(1).max(1)),
            batching_window: seconds(mapping.maximum_batching_window_in_seconds().unwrap_or(0)),
            parallelization_factor: mapping
                .parallelization_factor()
                .map_or(1, |p| usize::try_from(p).unwrap_or(1).max(1)),
            bisect_on_error: mapping.bisect_batch_on_function_error().unwrap_or(false),
            maximum_retry_attempts: mapping.maximum_retry_attempts().map_or(-1, i64::from),
            maximum_record_age: mapping
                .maximum_record_age_in_seconds()
                .filter(|age| *age >= 0)
                .map(seconds),
            starting_position,
            on_failure: mapping
                .destination_config()
                .and_then(|d| d.on_failure())
                .and_then(|f| f.destination())
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            report_batch_item_failures: mapping
                .function_response_types()
                .contains(&FunctionResponseType::ReportBatchItemFailures),
        })
    }
}

/// The function binary and how Lambda would run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    /// The `bootstrap` to run.
    pub binary: PathBuf,
    /// Its environment, on top of what [`FunctionProcess::spawn`] sets (later entries win).
    pub env: Vec<(String, String)>,
    /// The function's timeout: an invocation not answered by then is failed and the process
    /// killed.
    pub timeout: Duration,
}

impl FunctionSpec {
    /// `binary` run with the environment variables and timeout of `function` (read with
    /// GetFunctionConfiguration), the variables Lambda itself sets from the configuration
    /// (`AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`), then `extra_env` (the
    /// emulator's endpoint and fake credentials).
    pub async fn of_function(
        lambda: &aws_sdk_lambda::Client,
        function: &str,
        binary: PathBuf,
        extra_env: Vec<(String, String)>,
    ) -> Result<FunctionSpec> {
        let config = lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .with_context(|| {
                format!("reading the configuration of Lambda function ({function})")
            })?;
        let mut env: Vec<(String, String)> = config
            .environment()
            .and_then(|e| e.variables())
            .map(|vars| {
                let mut vars: Vec<_> = vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                vars.sort();
                vars
            })
            .unwrap_or_default();
        if let Some(name) = config.function_name() {
            env.push(("AWS_LAMBDA_FUNCTION_NAME".into(), name.to_string()));
        }
        if let Some(memory) = config.memory_size() {
            env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), memory.to_string()));
        }
        env.extend(extra_env);
        let timeout = config.timeout().unwrap_or(3);
        Ok(FunctionSpec {
            binary,
            env,
            timeout: Duration::from_secs(u64::try_from(timeout).unwrap_or(3)),
        })
    }

    /// `AWS_LAMBDA_FUNCTION_NAME` as the function will see it.
    fn name(&self) -> String {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == "AWS_LAMBDA_FUNCTION_NAME")
            .map_or_else(|| "persist".to_string(), |(_, v)| v.clone())
    }
}

/// A record the function acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub shard_id: String,
    pub sequence_number: String,
    pub partition_key: String,
    /// The record's ApproximateArrivalTimestamp.
    pub arrival: SystemTime,
    /// When the mapping read it from the shard (GetRecords answered).
    pub read: SystemTime,
    /// When the invocation that succeeded for it was sent to the function.
    pub invoked: SystemTime,
    /// When the invocation that succeeded for it completed.
    pub done: SystemTime,
    /// Invocations that carried it, the successful one included.
    pub attempts: u32,
}

/// What became of a record, or of a run of records the mapping gave up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    Delivered(Delivery),
    /// Given up on (retries exhausted or records too old): sent to the on-failure destination
    /// when there is one, then skipped.
    Failed {
        shard_id: String,
        first_sequence: String,
        last_sequence: String,
        /// The condition (`RetryAttemptsExhausted`, `RecordAgeExceeded`) and the last failure.
        reason: String,
    },
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// The stream's name or ARN.
    pub stream: String,
    pub mapping: MappingConfig,
    pub function: FunctionSpec,
    /// Where the function's metrics go (`None`: nowhere): the `AWS/Lambda` metrics of each
    /// invocation and the function's EMF documents, as Lambda and CloudWatch Logs publish them.
    pub cloudwatch: Option<aws_sdk_cloudwatch::Client>,
    /// Stop once nothing is in flight and no new record has been read for this long (counted
    /// from every shard's first read, so a slow start is not taken for a quiet stream); `None`:
    /// run until cancelled.
    pub idle_exit: Option<Duration>,
}

/// Counts over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Invocations of the function, failed ones included.
    pub invocations: u64,
    /// Records the function acknowledged (one per [`Fate::Delivered`]).
    pub records: u64,
    /// Invocations that retried records (bisections are not retries).
    pub retries: u64,
    /// Failed batches split in two.
    pub bisections: u64,
    /// Objects written to the on-failure destination.
    pub sent_to_destination: u64,
}

/// Runs the mapping until `cancel` turns true (in-flight invocations are finished first, then
/// the function processes killed), with `idle_exit` until the stream has been quiet that long,
/// or until every shard is closed, read to its end and childless; reports every record's fate
/// on `fates`. Errors: the stream cannot be read, the function cannot be started, or a failed
/// batch cannot be written to the on-failure destination.
pub async fn run(
    kinesis: &aws_sdk_kinesis::Client,
    s3: &aws_sdk_s3::Client,
    options: RunnerOptions,
    fates: mpsc::UnboundedSender<Fate>,
    cancel: watch::Receiver<bool>,
) -> Result<RunStats> {
    let (_keep, function) = watch::channel(options.function.clone());
    run_following(kinesis, s3, options, function, fates, cancel).await
}

/// [`run`], with the function's configuration following `function` (`options.function` is
/// its first value): as with a mapping on an unqualified function, whose configuration
/// changes under it, each batch is invoked with the configuration of the moment, on a fresh
/// process (a cold start) once it has changed.
pub async fn run_following(
    kinesis: &aws_sdk_kinesis::Client,
    s3: &aws_sdk_s3::Client,
    options: RunnerOptions,
    function: watch::Receiver<FunctionSpec>,
    fates: mpsc::UnboundedSender<Fate>,
    mut cancel: watch::Receiver<bool>,
) -> Result<RunStats> {
    let RunnerOptions {
        stream,
        mapping,
        function: first,
        cloudwatch,
        idle_exit,
    } = options;
    if !first.binary.is_file() {
        bail!(
            "the function binary {} does not exist: build it first",
            first.binary.display()
        );
    }
    let destination_bucket = match &mapping.on_failure {
        Some(arn) => Some(bucket_of(arn)?),
        None => None,
    };
    let stream_arn = stream_arn(kinesis, &stream).await?;
    let mut arn_parts = stream_arn.split(':');
    let region = arn_parts.nth(3).unwrap_or("us-east-1").to_string();
    let account = arn_parts.next().unwrap_or("123456789012").to_string();
    let function_name = first.name();
    let (stop, _) = watch::channel(false);
    let ctx = Arc::new(Ctx {
        kinesis: kinesis.clone(),
        s3: s3.clone(),
        function_arn: format!("arn:aws:lambda:{region}:{account}:function:{function_name}"),
        role_arn: format!("arn:aws:iam::{account}:role/{function_name}"),
        stream_arn,
        region,
        function_name,
        destination_bucket,
        mapping,
        function,
        fates,
        cloudwatch,
        published: Mutex::new(Vec::new()),
        counters: Counters::default(),
        outstanding: AtomicUsize::new(0),
        unpolled: AtomicUsize::new(0),
        last_read: Mutex::new(Instant::now()),
        stop,
    });

    let shards = list_shards(&ctx).await?;
    let listed: HashSet<&str> = shards.iter().map(|s| s.shard_id()).collect();
    let mut tasks = JoinSet::new();
    let mut started = HashSet::new();
    // Children waiting for their parents to be exhausted, with those parents.
    let mut waiting: HashMap<String, Vec<String>> = HashMap::new();
    for shard in &shards {
        let id = shard.shard_id().to_string();
        match ctx.mapping.starting_position {
            StartingPosition::TrimHorizon => {
                let parents: Vec<String> =
                    [shard.parent_shard_id(), shard.adjacent_parent_shard_id()]
                        .into_iter()
                        .flatten()
                        .filter(|p| listed.contains(p))
                        .map(str::to_string)
                        .collect();
                if parents.is_empty() {
                    start_shard(
                        &mut tasks,
                        &ctx,
                        &mut started,
                        id,
                        ShardIteratorType::TrimHorizon,
                    );
                } else {
                    waiting.insert(id, parents);
                }
            }
            StartingPosition::Latest | StartingPosition::AtTimestamp(_) => {
                let open = shard
                    .sequence_number_range()
                    .and_then(|r| r.ending_sequence_number())
                    .is_none();
                if open {
                    let position = match ctx.mapping.starting_position {
                        StartingPosition::AtTimestamp(_) => ShardIteratorType::AtTimestamp,
                        _ => ShardIteratorType::Latest,
                    };
                    start_shard(&mut tasks, &ctx, &mut started, id, position);
                }
            }
        }
    }

    let mut finished: HashSet<String> = HashSet::new();
    let mut error: Option<anyhow::Error> = None;
    let mut cancel_open = true;
    if *cancel.borrow_and_update() {
        ctx.stop();
    }
    while !tasks.is_empty() {
        tokio::select! {
            joined = tasks.join_next() => {
                let Some(joined) = joined else { break };
                match joined {
                    Ok(Ok(end)) => {
                        finished.insert(end.shard_id);
                        if ctx.stopped() {
                            continue;
                        }
                        for (child, parents) in end.children {
                            if !started.contains(&child) {
                                waiting.entry(child).or_insert(parents);
                            }
                        }
                        let ready: Vec<String> = waiting
                            .iter()
                            .filter(|(_, parents)| parents.iter().all(|p| finished.contains(p)))
                            .map(|(child, _)| child.clone())
                            .collect();
                        for child in ready {
                            waiting.remove(&child);
                            start_shard(&mut tasks, &ctx, &mut started, child, ShardIteratorType::TrimHorizon);
                        }
                    }
                    Ok(Err(err)) => {
                        error.get_or_insert(err);
                        ctx.stop();
                    }
                    Err(err) => {
                        error.get_or_insert(anyhow!("a shard poller failed: {err}"));
                        ctx.stop();
                    }
                }
            }
            changed = cancel.changed(), if cancel_open => match changed {
                Ok(()) => {
                    if *cancel.borrow_and_update() {
                        ctx.stop();
                    }
                }
                // Nobody can cancel any more: run until idle (or forever).
                Err(_) => cancel_open = false,
            },
            () = tokio::time::sleep(POLL_INTERVAL) => {
                if let Some(idle) = idle_exit {
                    if ctx.outstanding.load(Ordering::SeqCst) == 0
                        && ctx.unpolled.load(Ordering::SeqCst) == 0
                        && ctx.last_read.lock().unwrap().elapsed() >= idle
                    {
                        ctx.stop();
                    }
                }
            }
        }
    }
    let published = std::mem::take(&mut *ctx.published.lock().unwrap());
    for handle in published {
        match handle.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                error.get_or_insert(err);
            }
            Err(err) => {
                error.get_or_insert(anyhow!("publishing metrics failed: {err}"));
            }
        }
    }
    match error {
        Some(err) => Err(err),
        None => Ok(ctx.counters.snapshot()),
    }
}

/// What the pollers, slots and invocations share.
struct Ctx {
    kinesis: aws_sdk_kinesis::Client,
    s3: aws_sdk_s3::Client,
    stream_arn: String,
    region: String,
    function_name: String,
    function_arn: String,
    role_arn: String,
    destination_bucket: Option<String>,
    mapping: MappingConfig,
    /// The function's configuration of the moment.
    function: watch::Receiver<FunctionSpec>,
    fates: mpsc::UnboundedSender<Fate>,
    cloudwatch: Option<aws_sdk_cloudwatch::Client>,
    /// Metrics on their way to CloudWatch, awaited at the end of the run.
    published: Mutex<Vec<tokio::task::JoinHandle<Result<()>>>>,
    counters: Counters,
    /// Records read and neither delivered nor given up on yet.
    outstanding: AtomicUsize,
    /// Shards started whose first GetRecords has not answered yet: a slow first read is no
    /// quiet stream.
    unpolled: AtomicUsize,
    /// When a record was last read from any shard (or a shard first read).
    last_read: Mutex<Instant>,
    /// Turned true to stop: no new batch or retry starts, in-flight invocations finish.
    stop: watch::Sender<bool>,
}

impl Ctx {
    fn stop(&self) {
        self.stop.send_replace(true);
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    async fn until_stopped(&self) {
        let mut stop = self.stop.subscribe();
        let _ = stop.wait_for(|stopped| *stopped).await;
    }

    /// Waits `duration`; true if the run was stopped meanwhile.
    async fn pause(&self, duration: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(duration) => self.stopped(),
            () = self.until_stopped() => true,
        }
    }

    /// Sends the metrics of an invocation (`invocation`) and what the function printed
    /// (`lines`) to CloudWatch, in the background.
    fn publish(&self, invocation: Option<&metrics::Invocation>, lines: &str) {
        let Some(client) = self.cloudwatch.clone() else {
            return;
        };
        let mut data = metrics::emf_data(lines);
        if let Some(i) = invocation {
            data.extend(
                metrics::lambda_data(&self.function_name, i)
                    .into_iter()
                    .map(|d| ("AWS/Lambda".to_string(), d)),
            );
        }
        if data.is_empty() {
            return;
        }
        let handle = tokio::spawn(async move { metrics::publish(&client, data).await });
        self.published.lock().unwrap().push(handle);
    }

    fn report(&self, fate: Fate) {
        // Nobody listening is no reason to stop.
        let _ = self.fates.send(fate);
    }
}

#[derive(Default)]
struct Counters {
    invocations: AtomicU64,
    records: AtomicU64,
    retries: AtomicU64,
    bisections: AtomicU64,
    sent_to_destination: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> RunStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RunStats {
            invocations: get(&self.invocations),
            records: get(&self.records),
            retries: get(&self.retries),
            bisections: get(&self.bisections),
            sent_to_destination: get(&self.sent_to_destination),
        }
    }
}

/// One record as read from the stream.
#[derive(Debug, Clone)]
struct Record {
    sequence: String,
    partition_key: String,
    data: Vec<u8>,
    arrival: SystemTime,
    /// When GetRecords returned it.
    read: SystemTime,
    /// Invocations that carried it so far.
    invokes: u32,
}

impl Record {
    fn older_than(&self, age: Duration, now: SystemTime) -> bool {
        now.duration_since(self.arrival).unwrap_or_default() > age
    }

    /// Its share of an invocation's payload, roughly.
    fn payload_size(&self) -> usize {
        self.data.len().div_ceil(3) * 4 + self.partition_key.len() + 2 * self.sequence.len() + 400
    }
}

fn is_kinesis_arn(arn: &str) -> bool {
    arn.split(':').nth(2) == Some("kinesis")
}

/// The bucket name of an S3 bucket ARN (`arn:aws:s3:::bucket`).
fn bucket_of(arn: &str) -> Result<String> {
    match arn.split_once(":::") {
        Some((prefix, bucket))
            if prefix.split(':').nth(2) == Some("s3")
                && !bucket.is_empty()
                && !bucket.contains('/') =>
        {
            Ok(bucket.to_string())
        }
        _ => bail!(
            "the on-failure destination \"{arn}\" is not an S3 bucket ARN \
             (arn:aws:s3:::<bucket>): the local runner writes S3 destinations only"
        ),
    }
}

async fn stream_arn(kinesis: &aws_sdk_kinesis::Client, stream: &str) -> Result<String> {
    if stream.starts_with("arn:") {
        return Ok(stream.to_string());
    }
    let out = kinesis
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await
        .with_context(|| format!("describing Kinesis stream ({stream})"))?;
    out.stream_description_summary()
        .map(|s| s.stream_arn().to_string())
        .ok_or_else(|| anyhow!("describing Kinesis stream ({stream}): no summary in the answer"))
}

async fn list_shards(ctx: &Ctx) -> Result<Vec<aws_sdk_kinesis::types::Shard>> {
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        // A NextToken goes alone: Kinesis refuses it together with the stream.
        let request = match &token {
            Some(token) => ctx.kinesis.list_shards().next_token(token),
            None => ctx.kinesis.list_shards().stream_arn(&ctx.stream_arn),
        };
        let out = request.send().await.with_context(|| {
            format!("listing the shards of Kinesis stream ({})", ctx.stream_arn)
        })?;
        shards.extend(out.shards().iter().cloned());
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(shards);
        }
    }
}

/// How a shard's poller ended.
struct ShardEnd {
    shard_id: String,
    /// The shard was closed and read to its end: its children, with their parents.
    children: Vec<(String, Vec<String>)>,
}

fn start_shard(
    tasks: &mut JoinSet<Result<ShardEnd>>,
    ctx: &Arc<Ctx>,
    started: &mut HashSet<String>,
    shard_id: String,
    position: ShardIteratorType,
) {
    if started.insert(shard_id.clone()) {
        ctx.unpolled.fetch_add(1, Ordering::SeqCst);
        tasks.spawn(poll_shard(ctx.clone(), shard_id, position));
    }
}

/// Reads one shard and runs its batches on `parallelization_factor` slots.
async fn poll_shard(
    ctx: Arc<Ctx>,
    shard_id: String,
    position: ShardIteratorType,
) -> Result<ShardEnd> {
    let slots = ctx.mapping.parallelization_factor.max(1);
    let buffered = Arc::new(AtomicUsize::new(0));
    let mut queues = Vec::with_capacity(slots);
    // A JoinSet: were this poller dropped, its slots (and their processes) would go with it.
    let mut workers = JoinSet::new();
    for _ in 0..slots {
        let (queue, receiver) = mpsc::unbounded_channel();
        queues.push(queue);
        workers.spawn(run_slot(
            ctx.clone(),
            shard_id.clone(),
            receiver,
            buffered.clone(),
        ));
    }
    // The queues are dropped when reading ends: the slots finish what they hold, then return.
    let read = read_shard(&ctx, &shard_id, position, queues, &buffered).await;
    if read.is_err() {
        ctx.stop();
    }
    let mut result = read.map(|children| ShardEnd {
        shard_id: shard_id.clone(),
        children,
    });
    while let Some(worker) = workers.join_next().await {
        let outcome = match worker {
            Ok(outcome) => outcome,
            Err(err) => Err(anyhow!("a slot of shard {shard_id} failed: {err}")),
        };
        if let (Err(err), Ok(_)) = (outcome, &result) {
            result = Err(err);
        }
    }
    if ctx.stopped() {
        // Children are only for a shard read to its end and fully processed.
        return result.map(|end| ShardEnd {
            children: Vec::new(),
            ..end
        });
    }
    result
}

/// Reads the shard from `position` until it is exhausted (closed and read to the end: returns
/// its children) or the run stops (returns none), routing each record to its slot.
async fn read_shard(
    ctx: &Ctx,
    shard_id: &str,
    position: ShardIteratorType,
    queues: Vec<mpsc::UnboundedSender<Vec<Record>>>,
    buffered: &AtomicUsize,
) -> Result<Vec<(String, Vec<String>)>> {
    // Enough to keep every slot busy; beyond it the poller waits for the slots to catch up.
    let cap = (ctx.mapping.batch_size * queues.len() * 4).max(GET_RECORDS_LIMIT as usize);
    let mut last_sequence: Option<String> = None;
    let mut first_read = true;
    let mut iterator = shard_iterator(ctx, shard_id, &position, None).await?;
    loop {
        if ctx.stopped() {
            return Ok(Vec::new());
        }
        if buffered.load(Ordering::SeqCst) >= cap {
            ctx.pause(POLL_INTERVAL).await;
            continue;
        }
        let out = match ctx
            .kinesis
            .get_records()
            .shard_iterator(&iterator)
            .limit(GET_RECORDS_LIMIT)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) => {
                let service = err.as_service_error();
                if service.is_some_and(|e| e.is_expired_iterator_exception()) {
                    iterator =
                        shard_iterator(ctx, shard_id, &position, last_sequence.as_deref()).await?;
                    continue;
                }
                if service.is_some_and(|e| {
                    e.is_provisioned_throughput_exceeded_exception()
                        || e.is_kms_throttling_exception()
                }) {
                    ctx.pause(POLL_INTERVAL).await;
                    continue;
                }
                return Err(err).with_context(|| {
                    format!(
                        "reading shard {shard_id} of Kinesis stream ({})",
                        ctx.stream_arn
                    )
                });
            }
        };
        let read = SystemTime::now();
        let records: Vec<Record> = out
            .records()
            .iter()
            .map(|r| Record {
                sequence: r.sequence_number().to_string(),
                partition_key: r.partition_key().unwrap_or_default().to_string(),
                data: r.data().as_ref().to_vec(),
                arrival: r
                    .approximate_arrival_timestamp()
                    .and_then(|t| SystemTime::try_from(*t).ok())
                    .unwrap_or_else(SystemTime::now),
                read,
                invokes: 0,
            })
            .collect();
        let got = records.len();
        if first_read {
            // The idle clock starts once every shard has been looked at.
            first_read = false;
            *ctx.last_read.lock().unwrap() = Instant::now();
            ctx.unpolled.fetch_sub(1, Ordering::SeqCst);
        }
        if let Some(last) = records.last() {
            last_sequence = Some(last.sequence.clone());
            buffered.fetch_add(got, Ordering::SeqCst);
            ctx.outstanding.fetch_add(got, Ordering::SeqCst);
            *ctx.last_read.lock().unwrap() = Instant::now();
            let mut routed: Vec<Vec<Record>> = vec![Vec::new(); queues.len()];
            for record in records {
                routed[slot_of(&record.partition_key, queues.len())].push(record);
            }
            for (queue, chunk) in queues.iter().zip(routed) {
                if !chunk.is_empty() {
                    // A slot gone has stopped: so has the run.
                    let _ = queue.send(chunk);
                }
            }
        }
        match out.next_shard_iterator() {
            Some(next) => iterator = next.to_string(),
            None => {
                return Ok(out
                    .child_shards()
                    .iter()
                    .map(|c| (c.shard_id().to_string(), c.parent_shards().to_vec()))
                    .collect());
            }
        }
        if got == 0 {
            ctx.pause(POLL_INTERVAL).await;
        }
    }
}

async fn shard_iterator(
    ctx: &Ctx,
    shard_id: &str,
    position: &ShardIteratorType,
    after: Option<&str>,
) -> Result<String> {
    let request = ctx
        .kinesis
        .get_shard_iterator()
        .stream_arn(&ctx.stream_arn)
        .shard_id(shard_id);
    let request = match after {
        Some(sequence) => request
            .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
            .starting_sequence_number(sequence),
        None => match (&position, ctx.mapping.starting_position) {
            (ShardIteratorType::AtTimestamp, StartingPosition::AtTimestamp(at)) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(aws_smithy_types::DateTime::from(at)),
            _ => request.shard_iterator_type(position.clone()),
        },
    };
    let out = request.send().await.with_context(|| {
        format!(
            "getting an iterator for shard {shard_id} of Kinesis stream ({})",
            ctx.stream_arn
        )
    })?;
    out.shard_iterator()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("Kinesis returned no iterator for shard {shard_id}"))
}

/// The slot a partition key's records go to: always the same one, so they stay in order.
fn slot_of(partition_key: &str, slots: usize) -> usize {
    let mut hasher = DefaultHasher::new();
    partition_key.hash(&mut hasher);
    (hasher.finish() % slots as u64) as usize
}

/// One slot: forms batches from its queue and runs them, one at a time, on its own function
/// instance; kills the instance when done.
async fn run_slot(
    ctx: Arc<Ctx>,
    shard_id: String,
    mut queue: mpsc::UnboundedReceiver<Vec<Record>>,
    buffered: Arc<AtomicUsize>,
) -> Result<()> {
    let mut instance = None;
    let result = slot_batches(&ctx, &shard_id, &mut queue, &buffered, &mut instance).await;
    if let Some(mut instance) = instance.take() {
        if ctx.cloudwatch.is_some() {
            // The last invocation's lines may still be crossing the pipe.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let lines = instance.new_lines().await;
            ctx.publish(None, &lines);
        }
        instance.stop().await;
    }
    if result.is_err() {
        ctx.stop();
    }
    result
}

async fn slot_batches(
    ctx: &Ctx,
    shard_id: &str,
    queue: &mut mpsc::UnboundedReceiver<Vec<Record>>,
    buffered: &AtomicUsize,
    instance: &mut Option<Instance>,
) -> Result<()> {
    let batch_size = ctx.mapping.batch_size.max(1);
    let mut pending: VecDeque<Record> = VecDeque::new();
    let mut open = true;
    // When the oldest pending record became available: the batching window runs from there.
    let mut since = Instant::now();
    loop {
        if ctx.stopped() {
            return Ok(());
        }
        if pending.is_empty() {
            if !open {
                return Ok(());
            }
            tokio::select! {
                chunk = queue.recv() => match chunk {
                    Some(chunk) => {
                        pending.extend(chunk);
                        since = Instant::now();
                    }
                    None => {
                        open = false;
                        continue;
                    }
                },
                () = ctx.until_stopped() => return Ok(()),
            }
        }
        loop {
            match queue.try_recv() {
                Ok(chunk) => pending.extend(chunk),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        let window = ctx.mapping.batching_window;
        if open && !window.is_zero() {
            let deadline = tokio::time::Instant::from_std(since + window);
            while open && pending.len() < batch_size && payload_size(&pending) < MAX_PAYLOAD {
                tokio::select! {
                    chunk = queue.recv() => match chunk {
                        Some(chunk) => pending.extend(chunk),
                        None => open = false,
                    },
                    () = tokio::time::sleep_until(deadline) => break,
                    () = ctx.until_stopped() => return Ok(()),
                }
            }
        }
        let batch = take_batch(&mut pending, batch_size);
        let taken = batch.len();
        let result = run_batch(ctx, shard_id, instance, batch).await;
        buffered.fetch_sub(taken, Ordering::SeqCst);
        ctx.outstanding.fetch_sub(taken, Ordering::SeqCst);
        result?;
    }
}

fn payload_size(records: &VecDeque<Record>) -> usize {
    records.iter().map(Record::payload_size).sum()
}

/// Up to `batch_size` records from the front of `pending`, cut short before the event would
/// exceed Lambda's payload limit (one record always goes).
fn take_batch(pending: &mut VecDeque<Record>, batch_size: usize) -> Vec<Record> {
    let mut size = 0;
    let mut count = 0;
    for record in pending.iter().take(batch_size) {
        size += record.payload_size();
        if count > 0 && size > MAX_PAYLOAD {
            break;
        }
        count += 1;
    }
    pending.drain(..count).collect()
}

/// Records still to be sent, with what happened to them last.
struct Unit {
    records: Vec<Record>,
    /// Retries spent on these records.
    retries: u32,
    /// The next invocation of these records is a retry (a bisected half's first is not).
    retry: bool,
    last: Option<Failure>,
}

/// Why an invocation failed records.
#[derive(Debug, Clone)]
struct Failure {
    request_id: String,
    /// The function itself failed (error, timeout, crash), as opposed to reporting items.
    function_error: bool,
    reason: String,
}

/// What an invocation's answer means for the batch.
enum Answer {
    /// Every record done.
    Success,
    /// The records before this index are done; the rest is retried.
    Partial(usize),
    /// Nothing done.
    Failed,
}

struct Attempt {
    answer: Answer,
    failure: Option<Failure>,
    invoked: SystemTime,
    completed: SystemTime,
}

/// The give-up conditions of Lambda's invocation records.
#[derive(Debug, Clone, Copy)]
enum Condition {
    RetryAttemptsExhausted,
    RecordAgeExceeded,
}

impl Condition {
    fn as_str(self) -> &'static str {
        match self {
            Condition::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Condition::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

/// Runs one batch to its end: delivered, retried from the checkpoint, bisected, or given up on.
async fn run_batch(
    ctx: &Ctx,
    shard_id: &str,
    instance: &mut Option<Instance>,
    batch: Vec<Record>,
) -> Result<()> {
    let mut units = VecDeque::from([Unit {
        records: batch,
        retries: 0,
        retry: false,
        last: None,
    }]);
    while let Some(mut unit) = units.pop_front() {
        if ctx.stopped() {
            return Ok(());
        }
        if let Some(age) = ctx.mapping.maximum_record_age {
            // Records arrive in order, so the expired ones are the front of the batch.
            let now = SystemTime::now();
            let expired = unit
                .records
                .iter()
                .take_while(|r| r.older_than(age, now))
                .count();
            if expired > 0 {
                let old: Vec<Record> = unit.records.drain(..expired).collect();
                give_up(
                    ctx,
                    shard_id,
                    &old,
                    Condition::RecordAgeExceeded,
                    unit.last.as_ref(),
                )
                .await?;
            }
            if unit.records.is_empty() {
                continue;
            }
        }
        if unit.retry {
            Counters::add(&ctx.counters.retries, 1);
        }
        let attempt = invoke(ctx, instance, shard_id, &mut unit.records).await?;
        match attempt.answer {
            Answer::Success => {
                deliver(ctx, shard_id, &unit.records, &attempt);
                continue;
            }
            Answer::Partial(at) => {
                // The checkpoint moves to just before the lowest failure.
                deliver(ctx, shard_id, &unit.records[..at], &attempt);
                unit.records.drain(..at);
            }
            Answer::Failed => {
                if ctx.mapping.bisect_on_error && unit.records.len() > 1 {
                    // Splitting is not a retry: each half starts with the retries spent so far.
                    Counters::add(&ctx.counters.bisections, 1);
                    let second = unit.records.split_off(unit.records.len() / 2);
                    units.push_front(Unit {
                        records: second,
                        retries: unit.retries,
                        retry: false,
                        last: attempt.failure.clone(),
                    });
                    units.push_front(Unit {
                        records: unit.records,
                        retries: unit.retries,
                        retry: false,
                        last: attempt.failure,
                    });
                    continue;
                }
            }
        }
        let maximum = ctx.mapping.maximum_retry_attempts;
        if maximum >= 0 && i64::from(unit.retries) >= maximum {
            give_up(
                ctx,
                shard_id,
                &unit.records,
                Condition::RetryAttemptsExhausted,
                attempt.failure.as_ref(),
            )
            .await?;
            continue;
        }
        let backoff = RETRY_BACKOFF
            .saturating_mul(1 << unit.retries.min(16))
            .min(RETRY_BACKOFF_MAX);
        if ctx.pause(backoff).await {
            return Ok(());
        }
        // Too old by now: the check at the top gives the records up.
        units.push_front(Unit {
            records: unit.records,
            retries: unit.retries + 1,
            retry: true,
            last: attempt.failure,
        });
    }
    Ok(())
}

fn deliver(ctx: &Ctx, shard_id: &str, records: &[Record], attempt: &Attempt) {
    Counters::add(&ctx.counters.records, records.len() as u64);
    for record in records {
        ctx.report(Fate::Delivered(Delivery {
            shard_id: shard_id.to_string(),
            sequence_number: record.sequence.clone(),
            partition_key: record.partition_key.clone(),
            arrival: record.arrival,
            read: record.read,
            invoked: attempt.invoked,
            done: attempt.completed,
            attempts: record.invokes,
        }));
    }
}

/// Sends `records` to the on-failure destination (if any) and reports them failed.
async fn give_up(
    ctx: &Ctx,
    shard_id: &str,
    records: &[Record],
    condition: Condition,
    last: Option<&Failure>,
) -> Result<()> {
    let (Some(first), Some(final_record)) = (records.first(), records.last()) else {
        return Ok(());
    };
    if let Some(bucket) = &ctx.destination_bucket {
        write_invocation_record(ctx, bucket, shard_id, records, condition, last).await?;
        Counters::add(&ctx.counters.sent_to_destination, 1);
    }
    let invokes = records.iter().map(|r| r.invokes).max().unwrap_or(0);
    ctx.report(Fate::Failed {
        shard_id: shard_id.to_string(),
        first_sequence: first.sequence.clone(),
        last_sequence: final_record.sequence.clone(),
        reason: match last {
            Some(failure) => format!(
                "{} after {invokes} invocation(s): {}",
                condition.as_str(),
                failure.reason
            ),
            None => format!("{} before any invocation", condition.as_str()),
        },
    });
    Ok(())
}

/// Writes Lambda's invocation record for an S3 on-failure destination: the metadata SQS and
/// SNS destinations get, plus the invocation payload.
async fn write_invocation_record(
    ctx: &Ctx,
    bucket: &str,
    shard_id: &str,
    records: &[Record],
    condition: Condition,
    last: Option<&Failure>,
) -> Result<()> {
    let now: DateTime<Utc> = SystemTime::now().into();
    let key = format!(
        "aws/lambda/{}/{shard_id}/{}/{}-{}",
        ctx.function_name,
        now.format("%Y/%m/%d"),
        now.format("%Y-%m-%dT%H.%M.%S"),
        uuid()
    );
    let first = &records[0];
    let final_record = &records[records.len() - 1];
    let response_context = match last {
        Some(failure) if failure.function_error => json!({
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        }),
        Some(_) => json!({"statusCode": 200, "executedVersion": "$LATEST"}),
        // Never invoked: there is no response to describe.
        None => json!({}),
    };
    let body = json!({
        "requestContext": {
            "requestId": last.map_or_else(uuid, |f| f.request_id.clone()),
            "functionArn": ctx.function_arn,
            "condition": condition.as_str(),
            "approximateInvokeCount": records.iter().map(|r| r.invokes).max().unwrap_or(0),
        },
        "responseContext": response_context,
        "version": "1.0",
        "timestamp": iso8601(SystemTime::now()),
        "KinesisBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first.sequence,
            "endSequenceNumber": final_record.sequence,
            "approximateArrivalOfFirstRecord": iso8601(first.arrival),
            "approximateArrivalOfLastRecord": iso8601(final_record.arrival),
            "batchSize": records.len(),
            "streamArn": ctx.stream_arn,
        },
        // The invocation payload of these records, as the function received it.
        "payload": event(ctx, shard_id, records).to_string(),
    });
    let body = serde_json::to_vec(&body)?;
    let mut attempt = 1;
    loop {
        let sent = ctx
            .s3
            .put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("application/json")
            .body(aws_sdk_s3::primitives::ByteStream::from(body.clone()))
            .send()
            .await;
        match sent {
            Ok(_) => return Ok(()),
            Err(err) if attempt >= DESTINATION_ATTEMPTS => {
                return Err(err).with_context(|| {
                    format!(
                        "writing the failed batch {}..{} of shard {shard_id} to the on-failure \
                         destination s3://{bucket}/{key}",
                        first.sequence, final_record.sequence
                    )
                });
            }
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(RETRY_BACKOFF * attempt).await;
            }
        }
    }
}

/// Invokes the function with `records` (counting the invocation on each) and judges its answer.
async fn invoke(
    ctx: &Ctx,
    instance: &mut Option<Instance>,
    shard_id: &str,
    records: &mut [Record],
) -> Result<Attempt> {
    for record in records.iter_mut() {
        record.invokes += 1;
    }
    Counters::add(&ctx.counters.invocations, 1);
    let spec = ctx.function.borrow().clone();
    if instance.as_ref().is_some_and(|i| i.spec != spec) {
        // The configuration changed: its instances are replaced, as Lambda's are.
        if let Some(old) = instance.take() {
            old.stop().await;
        }
    }
    let running = match instance {
        Some(running) => running,
        None => instance.insert(Instance::start(&spec).await?),
    };
    let request_id = uuid();
    let timeout = spec.timeout;
    let began = Instant::now();
    let invoked = SystemTime::now();
    running
        .api
        .invoke_with_timeout(&request_id, event(ctx, shard_id, records), timeout);
    let reply = running.wait(&request_id, Instant::now() + timeout).await;
    let completed = SystemTime::now();
    let duration = began.elapsed();
    let failure = |function_error: bool, reason: String| Failure {
        request_id: request_id.clone(),
        function_error,
        reason,
    };
    let (answer, failure, restart) = match reply {
        Reply::Answered(outcome) => match outcome.report {
            Report::Response => {
                let (answer, reason) = judge(
                    ctx.mapping.report_batch_item_failures,
                    &outcome.body,
                    records,
                );
                (answer, reason.map(|r| failure(false, r)), false)
            }
            Report::Error => (
                Answer::Failed,
                Some(failure(
                    true,
                    format!("function error: {}", error_text(&outcome.body)),
                )),
                false,
            ),
            Report::InitError { error_type } => (
                Answer::Failed,
                Some(failure(
                    true,
                    format!("init error {error_type}: {}", error_text(&outcome.body)),
                )),
                true,
            ),
        },
        Reply::Exited(status) => (
            Answer::Failed,
            Some(failure(
                true,
                format!("the function process exited during the invocation ({status})"),
            )),
            true,
        ),
        Reply::TimedOut => (
            Answer::Failed,
            Some(failure(
                true,
                format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()),
            )),
            true,
        ),
    };
    if ctx.cloudwatch.is_some() {
        let lines = match instance.as_mut() {
            Some(running) => running.new_lines().await,
            None => String::new(),
        };
        let invocation = metrics::Invocation {
            at: completed,
            duration,
            error: failure.as_ref().is_some_and(|f| f.function_error),
            iterator_age: records
                .last()
                .and_then(|r| invoked.duration_since(r.arrival).ok())
                .unwrap_or_default(),
        };
        ctx.publish(Some(&invocation), &lines);
    }
    if restart {
        // The next invocation gets a fresh process (a cold start), as Lambda does.
        if let Some(old) = instance.take() {
            old.stop().await;
        }
    }
    Ok(Attempt {
        answer,
        failure,
        invoked,
        completed,
    })
}

/// A successful invocation's response, read as a partial batch response when the mapping asks
/// for one: no list or an empty one is success; an empty, null or unknown identifier fails the
/// whole batch; otherwise the checkpoint is the lowest reported record.
fn judge(report_failures: bool, body: &Value, records: &[Record]) -> (Answer, Option<String>) {
    if !report_failures {
        return (Answer::Success, None);
    }
    let failures = match body.get("batchItemFailures") {
        None | Some(Value::Null) => return (Answer::Success, None),
        Some(Value::Array(failures)) => failures,
        Some(other) => {
            return (
                Answer::Failed,
                Some(format!("batchItemFailures is not a list: {other}")),
            );
        }
    };
    let mut lowest: Option<usize> = None;
    for failure in failures {
        let id = failure
            .get("itemIdentifier")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if id.is_empty() {
            return (
                Answer::Failed,
                Some(format!(
                    "a batch item failure has an empty or null itemIdentifier ({failure}): \
                     the whole batch failed"
                )),
            );
        }
        let Some(position) = records.iter().position(|r| r.sequence == id) else {
            return (
                Answer::Failed,
                Some(format!(
                    "itemIdentifier \"{id}\" is no sequence number of the batch: the whole \
                     batch failed"
                )),
            );
        };
        lowest = Some(lowest.map_or(position, |l| l.min(position)));
    }
    match lowest {
        None => (Answer::Success, None),
        Some(at) => (
            Answer::Partial(at),
            Some(format!(
                "the function reported {} batch item failure(s), the lowest at sequence number {}",
                failures.len(),
                records[at].sequence
            )),
        ),
    }
}

/// `errorType: errorMessage` of a function error's body.
fn error_text(body: &Value) -> String {
    match (body.get("errorType"), body.get("errorMessage")) {
        (Some(kind), Some(message)) => format!(
            "{}: {}",
            kind.as_str().unwrap_or_default(),
            message.as_str().unwrap_or_default()
        ),
        _ => body.to_string(),
    }
}

/// The Kinesis event Lambda's mapping sends for `records` of `shard_id`.
fn event(ctx: &Ctx, shard_id: &str, records: &[Record]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r.partition_key,
                    "sequenceNumber": r.sequence,
                    "data": base64::engine::general_purpose::STANDARD.encode(&r.data),
                    "approximateArrivalTimestamp": epoch_seconds(r.arrival),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("{shard_id}:{}", r.sequence),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": ctx.role_arn,
                "awsRegion": ctx.region,
                "eventSourceARN": ctx.stream_arn,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// Seconds since the epoch with milliseconds, as Lambda writes `approximateArrivalTimestamp`.
fn epoch_seconds(time: SystemTime) -> f64 {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    millis as f64 / 1000.0
}

fn iso8601(time: SystemTime) -> String {
    DateTime::<Utc>::from(time)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// A random (version 4 shaped) UUID for request ids and object keys; unique, not secret.
fn uuid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let word = |salt: u64| {
        // Each RandomState has fresh random keys.
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(n);
        hasher.write_u64(salt);
        hasher.write_u128(nanos);
        hasher.finish()
    };
    let mut v = (u128::from(word(1)) << 64) | u128::from(word(2));
    v = (v & !(0xf << 76)) | (0x4 << 76);
    v = (v & !(0x3 << 62)) | (0x2 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        v >> 96,
        (v >> 80) & 0xffff,
        (v >> 64) & 0xffff,
        (v >> 48) & 0xffff,
        v & 0xffff_ffff_ffff
    )
}

/// A function instance: its own Runtime API and the process polling it.
struct Instance {
    /// The configuration it was started with.
    spec: FunctionSpec,
    api: RuntimeApi,
    process: FunctionProcess,
    /// How much of its output was read for metrics.
    seen: usize,
}

enum Reply {
    Answered(Outcome),
    Exited(String),
    TimedOut,
}

impl Instance {
    async fn start(spec: &FunctionSpec) -> Result<Instance> {
        let api = RuntimeApi::start()
            .await
            .context("starting a Lambda Runtime API for the function")?;
        let env: Vec<(&str, &str)> = spec
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let process = FunctionProcess::spawn(&spec.binary, &api, &env);
        Ok(Instance {
            spec: spec.clone(),
            api,
            process,
            seen: 0,
        })
    }

    /// The function's report on `request_id`, its exit, or the deadline, whichever comes first.
    async fn wait(&mut self, request_id: &str, deadline: Instant) -> Reply {
        let ours = |outcome: &Outcome| {
            outcome.id == request_id || matches!(outcome.report, Report::InitError { .. })
        };
        loop {
            if let Some(outcome) = self.api.next_outcome(CHECK_INTERVAL).await {
                if ours(&outcome) {
                    return Reply::Answered(outcome);
                }
                continue;
            }
            if let Ok(Some(status)) = self.process.child.try_wait() {
                // Its last report may have crossed its exit.
                if let Some(outcome) = self.api.next_outcome(CHECK_INTERVAL).await {
                    if ours(&outcome) {
                        return Reply::Answered(outcome);
                    }
                }
                return Reply::Exited(status.to_string());
            }
            if Instant::now() >= deadline {
                return Reply::TimedOut;
            }
        }
    }

    /// The whole lines it printed since the last call.
    async fn new_lines(&mut self) -> String {
        let (lines, next) = self.process.lines_from(self.seen).await;
        self.seen = next;
        lines
    }

    async fn stop(mut self) {
        let _ = self.process.child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sequence: &str) -> Record {
        Record {
            sequence: sequence.to_string(),
            partition_key: "k".into(),
            data: b"{}".to_vec(),
            arrival: SystemTime::now(),
            read: SystemTime::now(),
            invokes: 1,
        }
    }

    #[test]
    fn the_lowest_reported_failure_is_the_checkpoint_whatever_the_order_of_the_list() {
        let records: Vec<Record> = ["1", "2", "3", "4"].into_iter().map(record).collect();
        let body = json!({"batchItemFailures": [{"itemIdentifier": "4"}, {"itemIdentifier": "2"}]});
        assert!(matches!(judge(true, &body, &records).0, Answer::Partial(1)));
    }

    #[test]
    fn an_empty_null_or_unknown_identifier_fails_the_whole_batch() {
        let records: Vec<Record> = ["1", "2"].into_iter().map(record).collect();
        for failure in [
            json!({"itemIdentifier": ""}),
            json!({"itemIdentifier": null}),
            json!({}),
            json!({"itemIdentifier": "9"}),
        ] {
            let body = json!({"batchItemFailures": [failure]});
            assert!(
                matches!(judge(true, &body, &records).0, Answer::Failed),
                "{body}"
            );
        }
    }

    #[test]
    fn no_list_an_empty_one_or_null_is_success_and_so_is_anything_without_reporting() {
        let records = vec![record("1")];
        for body in [
            json!(null),
            json!({}),
            json!({"batchItemFailures": []}),
            json!({"batchItemFailures": null}),
        ] {
            assert!(
                matches!(judge(true, &body, &records).0, Answer::Success),
                "{body}"
            );
        }
        let body = json!({"batchItemFailures": [{"itemIdentifier": "1"}]});
        assert!(matches!(judge(false, &body, &records).0, Answer::Success));
    }

    #[test]
    fn a_batch_stops_short_of_the_payload_limit() {
        let mut big = record("1");
        big.data = vec![b'x'; 3 * 1024 * 1024];
        let mut pending: VecDeque<Record> = [big.clone(), big.clone(), big].into_iter().collect();
        assert_eq!(take_batch(&mut pending, 100).len(), 1);
        assert_eq!(pending.len(), 2);
    }

    #[test]
    fn only_s3_bucket_arns_are_destinations() {
        assert_eq!(
            bucket_of("arn:aws:s3:::failed-batches").unwrap(),
            "failed-batches"
        );
        assert!(bucket_of("arn:aws:sqs:us-east-1:123456789012:dlq").is_err());
        assert!(bucket_of("arn:aws:s3:::").is_err());
    }

    #[test]
    fn uuids_are_version_4_shaped_and_distinct() {
        let (a, b) = (uuid(), uuid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }
}
