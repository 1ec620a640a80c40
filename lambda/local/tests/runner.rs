//! The local event source runner against a private emulator, driving a function that fails on
//! request (`src/bin/failing_function.rs`): checkpointing at the lowest reported failure,
//! bisection, retries, record age, the S3 on-failure destination, parallelization, restarts,
//! resharding and shutdown; and the supervisor outliving the deletion of the version a mapping
//! invokes.
//!
//! The function appends every record it processed to a file, with its process id and the
//! invocation's request id, start and end: what was delivered, in what order, by which
//! instance, and which invocations overlapped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use testkit::Emulator;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use unifiedetl_local::runner::{
    self, Fate, FunctionSpec, MappingConfig, RunStats, RunnerOptions, StartingPosition,
};

const FUNCTION: &str = env!("CARGO_BIN_EXE_unifiedetl-failing-function");
const BUCKET: &str = "failed-batches";
const BUCKET_ARN: &str = "arn:aws:s3:::failed-batches";
/// How long a quiet stream ends a run that was given an idle exit.
const IDLE: Duration = Duration::from_millis(500);
/// Generous bounds for things that take well under a second when all is well.
const PATIENCE: Duration = Duration::from_secs(30);

/// A private emulator, clients for it and a scratch directory.
struct Bed {
    emulator: Emulator,
    config: aws_config::SdkConfig,
    kinesis: aws_sdk_kinesis::Client,
    s3: aws_sdk_s3::Client,
    dir: tempfile::TempDir,
}

impl Bed {
    async fn start() -> Bed {
        let emulator = tokio::task::spawn_blocking(Emulator::start)
            .await
            .unwrap()
            .expect("starting the emulator");
        let config = emulator.sdk_config().await;
        Bed {
            kinesis: aws_sdk_kinesis::Client::new(&config),
            s3: aws_sdk_s3::Client::new(&config),
            config,
            emulator,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Creates a provisioned stream; its ARN.
    async fn stream(&self, name: &str, shards: i32) -> String {
        self.kinesis
            .create_stream()
            .stream_name(name)
            .shard_count(shards)
            .send()
            .await
            .expect("creating the stream");
        // As `aws kinesis wait stream-exists` would: CREATING first.
        testkit::emulator::settle("the stream to be ACTIVE", || async {
            let summary = self
                .kinesis
                .describe_stream_summary()
                .stream_name(name)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?
                .stream_description_summary
                .expect("a summary");
            if summary.stream_status == aws_sdk_kinesis::types::StreamStatus::Active {
                Ok(summary.stream_arn)
            } else {
                Err(format!("{:?}", summary.stream_status))
            }
        })
        .await
        .expect("waiting for the stream")
    }

    /// Puts one record; its shard and sequence number.
    async fn put(&self, stream: &str, key: &str, data: Value) -> (String, String) {
        let out = self
            .kinesis
            .put_record()
            .stream_name(stream)
            .partition_key(key)
            .data(aws_sdk_kinesis::primitives::Blob::new(data.to_string()))
            .send()
            .await
            .expect("putting a record");
        (
            out.shard_id().to_string(),
            out.sequence_number().to_string(),
        )
    }

    async fn bucket(&self) {
        self.s3
            .create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("creating the bucket");
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The function `persist-local` (the failing function's configuration: timeout 7 s, 256 MB,
    /// `DELIVERED_FILE`) and its role, as the provider would create them, once Active; a
    /// Lambda client.
    async fn persist_local(&self) -> aws_sdk_lambda::Client {
        use aws_sdk_lambda::primitives::Blob;
        use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};

        let role = aws_sdk_iam::Client::new(&self.config)
            .create_role()
            .role_name("persist-local")
            .assume_role_policy_document(
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
                .to_string(),
            )
            .send()
            .await
            .expect("creating the role");
        let lambda = aws_sdk_lambda::Client::new(&self.config);
        // The emulator never runs the code: an empty zip archive will do.
        let empty_zip = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        // The role just made is refused for a moment (IAM propagation), as on AWS.
        testkit::emulator::settle("the function to be created", || {
            lambda
                .create_function()
                .function_name("persist-local")
                .runtime(Runtime::Providedal2023)
                .handler("bootstrap")
                .role(role.role().unwrap().arn())
                .code(
                    FunctionCode::builder()
                        .zip_file(Blob::new(&empty_zip[..]))
                        .build(),
                )
                .timeout(7)
                .memory_size(256)
                .environment(
                    Environment::builder()
                        .variables("DELIVERED_FILE", self.path("delivered.jsonl"))
                        .build(),
                )
                .send()
        })
        .await
        .expect("creating the function");
        // As `aws lambda wait function-active-v2` would: not found for a moment, then Pending.
        testkit::emulator::settle("the function to be Active", || async {
            let config = lambda
                .get_function_configuration()
                .function_name("persist-local")
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            match config.state() {
                Some(aws_sdk_lambda::types::State::Active) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await
        .expect("waiting for the function");
        lambda
    }

    /// The failing function, named `failing`, writing to `delivered.jsonl`.
    fn function(&self, timeout: Duration, extra: &[(&str, &str)]) -> FunctionSpec {
        let mut env = self.emulator.env();
        env.push(("AWS_LAMBDA_FUNCTION_NAME".into(), "failing".into()));
        env.push(("DELIVERED_FILE".into(), self.path("delivered.jsonl")));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        FunctionSpec {
            binary: FUNCTION.into(),
            env,
            timeout,
        }
    }

    /// What the function wrote to `delivered.jsonl`, in order.
    fn delivered(&self) -> Vec<Value> {
        std::fs::read_to_string(self.path("delivered.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// The objects in the destination bucket: key and JSON body.
    async fn destination(&self) -> Vec<(String, Value)> {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(BUCKET)
            .send()
            .await
            .expect("listing the destination");
        let mut objects = Vec::new();
        for object in listed.contents() {
            let key = object.key().unwrap().to_string();
            let body = self
                .s3
                .get_object()
                .bucket(BUCKET)
                .key(&key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
            objects.push((key, serde_json::from_slice(&body).expect("a JSON object")));
        }
        objects
    }
}

/// A run in the background, its fates collected as they come.
struct Running {
    handle: JoinHandle<anyhow::Result<RunStats>>,
    receiver: mpsc::UnboundedReceiver<Fate>,
    fates: Vec<Fate>,
    cancel: watch::Sender<bool>,
}

impl Running {
    fn start(bed: &Bed, options: RunnerOptions) -> Running {
        let (sender, receiver) = mpsc::unbounded_channel();
        let (cancel, cancelled) = watch::channel(false);
        let (kinesis, s3) = (bed.kinesis.clone(), bed.s3.clone());
        let handle =
            tokio::spawn(
                async move { runner::run(&kinesis, &s3, options, sender, cancelled).await },
            );
        Running {
            handle,
            receiver,
            fates: Vec::new(),
            cancel,
        }
    }

    /// Collects fates until `done` holds of them all.
    async fn wait_for(&mut self, what: &str, done: impl Fn(&[Fate]) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done(&self.fates) {
            match tokio::time::timeout_at(deadline, self.receiver.recv()).await {
                Ok(Some(fate)) => self.fates.push(fate),
                Ok(None) => panic!("the run ended before {what}: {:?}", self.fates),
                Err(_) => panic!("no {what} within {PATIENCE:?}: {:?}", self.fates),
            }
        }
    }

    /// Waits for the run to end by itself.
    async fn finish(mut self) -> (RunStats, Vec<Fate>) {
        let stats = tokio::time::timeout(PATIENCE, &mut self.handle)
            .await
            .expect("the run to end")
            .unwrap()
            .expect("the run");
        while let Ok(fate) = self.receiver.try_recv() {
            self.fates.push(fate);
        }
        (stats, self.fates)
    }

    async fn cancel(self) -> (RunStats, Vec<Fate>) {
        self.cancel.send_replace(true);
        self.finish().await
    }
}

/// Partial batch responses on, as the pipeline always configures them, in batches of 10.
fn reporting_mapping() -> MappingConfig {
    MappingConfig {
        batch_size: 10,
        report_batch_item_failures: true,
        ..MappingConfig::default()
    }
}

/// Runs until the stream has been quiet for [`IDLE`].
async fn run_until_idle(
    bed: &Bed,
    stream: &str,
    mapping: MappingConfig,
    function: FunctionSpec,
) -> (RunStats, Vec<Fate>) {
    Running::start(bed, options(stream, mapping, function, Some(IDLE)))
        .finish()
        .await
}

fn options(
    stream: &str,
    mapping: MappingConfig,
    function: FunctionSpec,
    idle_exit: Option<Duration>,
) -> RunnerOptions {
    RunnerOptions {
        stream: stream.to_string(),
        mapping,
        function,
        cloudwatch: None,
        idle_exit,
    }
}

/// Sequence number → attempts of the records delivered.
fn attempts(fates: &[Fate]) -> BTreeMap<String, u32> {
    fates
        .iter()
        .filter_map(|fate| match fate {
            Fate::Delivered(d) => Some((d.sequence_number.clone(), d.attempts)),
            Fate::Failed { .. } => None,
        })
        .collect()
}

fn failed(fates: &[Fate]) -> Vec<(String, String, String)> {
    fates
        .iter()
        .filter_map(|fate| match fate {
            Fate::Failed {
                first_sequence,
                last_sequence,
                reason,
                ..
            } => Some((
                first_sequence.clone(),
                last_sequence.clone(),
                reason.clone(),
            )),
            Fate::Delivered(_) => None,
        })
        .collect()
}

fn delivered_count(fates: &[Fate]) -> usize {
    fates
        .iter()
        .filter(|f| matches!(f, Fate::Delivered(_)))
        .count()
}

/// The `n` a record's data carries.
fn n_of(line: &Value) -> i64 {
    let data: Value = serde_json::from_str(line["data"].as_str().unwrap()).unwrap();
    data["n"].as_i64().unwrap()
}

/// The records of each invocation, as the function wrote them, in order.
fn by_invocation(lines: &[Value]) -> Vec<Vec<i64>> {
    let mut order: Vec<String> = Vec::new();
    let mut records: HashMap<String, Vec<i64>> = HashMap::new();
    for line in lines {
        let id = line["request_id"].as_str().unwrap().to_string();
        if !records.contains_key(&id) {
            order.push(id.clone());
        }
        records.entry(id).or_default().push(n_of(line));
    }
    order
        .into_iter()
        .map(|id| records.remove(&id).unwrap())
        .collect()
}

/// Puts records `{"n": i, ...}` under one key; their sequence numbers.
async fn put_all(bed: &Bed, stream: &str, key: &str, records: &[Value]) -> Vec<String> {
    let mut sequences = Vec::new();
    for (i, extra) in records.iter().enumerate() {
        let mut data = json!({ "n": i });
        for (k, v) in extra.as_object().unwrap() {
            data[k] = v.clone();
        }
        sequences.push(bed.put(stream, key, data).await.1);
    }
    sequences
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_retried_from_its_lowest_reported_failure() {
    let bed = Bed::start().await;
    bed.stream("orders", 1).await;
    let item_once = json!({"fail": "item-once"});
    let seq = put_all(
        &bed,
        "orders",
        "k",
        &[
            json!({}),
            json!({}),
            item_once.clone(),
            json!({}),
            item_once,
            json!({}),
        ],
    )
    .await;
    let mapping = reporting_mapping();
    let function = bed.function(Duration::from_secs(10), &[]);
    let (stats, fates) = run_until_idle(&bed, "orders", mapping, function).await;

    // The function reported 4 and 2 (highest first): the checkpoint is just before 2, so 0 and
    // 1 are done after one invocation and everything from 2 on is sent again.
    let expected: BTreeMap<String, u32> = seq
        .iter()
        .zip([1, 1, 2, 2, 2, 2])
        .map(|(s, a)| (s.clone(), a))
        .collect();
    assert_eq!(attempts(&fates), expected);
    assert!(failed(&fates).is_empty(), "{fates:?}");
    assert_eq!(
        stats,
        RunStats {
            invocations: 2,
            records: 6,
            retries: 1,
            bisections: 0,
            sent_to_destination: 0
        }
    );
    assert_eq!(
        by_invocation(&bed.delivered()),
        [vec![0, 1, 3, 5], vec![2, 3, 4, 5]],
        "0 and 1 were processed once; the retry started at 2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_item_identifier_fails_the_whole_batch() {
    let bed = Bed::start().await;
    bed.stream("orders", 1).await;
    let seq = put_all(
        &bed,
        "orders",
        "k",
        &[
            json!({}),
            json!({"fail": "empty-id", "once": true}),
            json!({}),
        ],
    )
    .await;
    let mapping = reporting_mapping();
    let function = bed.function(Duration::from_secs(10), &[]);
    let (stats, fates) = run_until_idle(&bed, "orders", mapping, function).await;

    // Record 0, before the bad identifier, is not checkpointed: it is sent again.
    let expected: BTreeMap<String, u32> = seq.iter().map(|s| (s.clone(), 2)).collect();
    assert_eq!(attempts(&fates), expected);
    assert_eq!((stats.invocations, stats.retries), (2, 1));
    assert_eq!(by_invocation(&bed.delivered()), [vec![0, 2], vec![0, 1, 2]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bisection_isolates_a_poison_record_which_goes_to_the_s3_destination() {
    let bed = Bed::start().await;
    let stream_arn = bed.stream("orders", 1).await;
    bed.bucket().await;
    let mut records = vec![json!({}); 8];
    records[5] = json!({"fail": "batch"});
    let seq = put_all(&bed, "orders", "k", &records).await;
    let mapping = MappingConfig {
        bisect_on_error: true,
        maximum_retry_attempts: 0,
        on_failure: Some(BUCKET_ARN.into()),
        ..reporting_mapping()
    };
    let function = bed.function(Duration::from_secs(10), &[]);
    let (stats, fates) = run_until_idle(&bed, "orders", mapping, function).await;

    // [0..8] fails → [0..4] ok, [4..8] fails → [4,5] fails → [4] ok, [5] fails alone: no retry
    // left, to the destination; then [6,7] ok. Splitting spent no retry.
    assert_eq!(
        stats,
        RunStats {
            invocations: 7,
            records: 7,
            retries: 0,
            bisections: 3,
            sent_to_destination: 1
        }
    );
    let expected: BTreeMap<String, u32> = seq
        .iter()
        .zip([2, 2, 2, 2, 4, 0, 3, 3])
        .filter(|(_, a)| *a > 0)
        .map(|(s, a)| (s.clone(), a))
        .collect();
    assert_eq!(attempts(&fates), expected);
    let failures = failed(&fates);
    assert_eq!(failures.len(), 1, "{failures:?}");
    let (first, last, reason) = &failures[0];
    assert_eq!((first, last), (&seq[5], &seq[5]));
    assert!(
        reason.starts_with("RetryAttemptsExhausted after 4 invocation(s)")
            && reason.contains("FailingFunction.BatchFailed"),
        "{reason}"
    );
    let lines = bed.delivered();
    assert_eq!(
        lines.iter().map(n_of).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 6, 7],
        "everything but the poison record, once, in order"
    );

    let objects = bed.destination().await;
    assert_eq!(objects.len(), 1, "{objects:?}");
    let (key, record) = &objects[0];
    // aws/lambda/<function>/<shard>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<uuid>
    let parts: Vec<&str> = key.split('/').collect();
    assert_eq!(parts.len(), 8, "{key}");
    assert_eq!(
        parts[..4],
        ["aws", "lambda", "failing", "shardId-000000000000"]
    );
    let (year, month, day, name) = (parts[4], parts[5], parts[6], parts[7]);
    assert!(name.starts_with(&format!("{year}-{month}-{day}T")), "{key}");
    let (stamp, uuid) = name.split_at(19);
    assert_eq!(stamp.len(), 19, "{key}");
    assert_eq!((&stamp[13..14], &stamp[16..17]), (".", "."), "{key}");
    assert_eq!((&uuid[..1], uuid.len()), ("-", 37), "{key}");

    assert_eq!(record["version"], "1.0");
    assert!(record["timestamp"].as_str().unwrap().ends_with('Z'));
    let request = &record["requestContext"];
    assert_eq!(request["condition"], "RetryAttemptsExhausted");
    assert_eq!(request["approximateInvokeCount"], 4);
    assert!(request["functionArn"]
        .as_str()
        .unwrap()
        .ends_with(":function:failing"));
    assert_eq!(request["requestId"].as_str().unwrap().len(), 36);
    assert_eq!(
        record["responseContext"],
        json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"})
    );
    let info = &record["KinesisBatchInfo"];
    assert_eq!(info["shardId"], "shardId-000000000000");
    assert_eq!(info["startSequenceNumber"], seq[5].as_str());
    assert_eq!(info["endSequenceNumber"], seq[5].as_str());
    assert_eq!(info["batchSize"], 1);
    assert_eq!(info["streamArn"], stream_arn.as_str());
    for arrival in [
        "approximateArrivalOfFirstRecord",
        "approximateArrivalOfLastRecord",
    ] {
        let arrival = info[arrival].as_str().unwrap();
        assert!(arrival.len() == 24 && arrival.ends_with('Z'), "{arrival}");
    }
    // The S3 destination also gets the invocation payload.
    let payload: Value = serde_json::from_str(record["payload"].as_str().unwrap()).unwrap();
    let events = payload["Records"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event["eventID"], format!("shardId-000000000000:{}", seq[5]));
    assert_eq!(event["eventName"], "aws:kinesis:record");
    assert_eq!(event["eventSourceARN"], stream_arn.as_str());
    assert_eq!(event["kinesis"]["partitionKey"], "k");
    let data = base64::engine::general_purpose::STANDARD
        .decode(event["kinesis"]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&data).unwrap(),
        json!({"n": 5, "fail": "batch"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_run_out_then_the_rest_of_the_batch_goes_to_the_destination() {
    use aws_sdk_lambda::types::{
        DestinationConfig, EventSourcePosition, FunctionResponseType, OnFailure,
    };

    let bed = Bed::start().await;
    let stream_arn = bed.stream("orders", 1).await;
    bed.bucket().await;
    // The function and its mapping, as the provider would create them; the runner reads them.
    let lambda = bed.persist_local().await;
    // The function's role is still propagating for a moment, as on AWS.
    testkit::emulator::settle("the mapping to be created", || {
        lambda
            .create_event_source_mapping()
            .function_name("persist-local")
            .event_source_arn(&stream_arn)
            .starting_position(EventSourcePosition::TrimHorizon)
            .batch_size(10)
            .maximum_retry_attempts(2)
            .maximum_record_age_in_seconds(3600)
            .bisect_batch_on_function_error(false)
            .function_response_types(FunctionResponseType::ReportBatchItemFailures)
            .destination_config(
                DestinationConfig::builder()
                    .on_failure(OnFailure::builder().destination(BUCKET_ARN).build())
                    .build(),
            )
            .send()
    })
    .await
    .expect("creating the mapping");

    let (mapping, source) = MappingConfig::of_function(&lambda, "persist-local")
        .await
        .unwrap();
    assert_eq!(source, stream_arn);
    assert_eq!(
        mapping,
        MappingConfig {
            batch_size: 10,
            batching_window: Duration::ZERO,
            parallelization_factor: 1,
            bisect_on_error: false,
            maximum_retry_attempts: 2,
            maximum_record_age: Some(Duration::from_secs(3600)),
            starting_position: StartingPosition::TrimHorizon,
            on_failure: Some(BUCKET_ARN.into()),
            report_batch_item_failures: true,
        }
    );
    let extra = bed.emulator.env();
    let function =
        FunctionSpec::of_function(&lambda, "persist-local", FUNCTION.into(), extra.clone())
            .await
            .unwrap();
    assert_eq!(function.timeout, Duration::from_secs(7));
    let expected_env: Vec<(String, String)> = [
        ("DELIVERED_FILE", bed.path("delivered.jsonl")),
        ("AWS_LAMBDA_FUNCTION_NAME", "persist-local".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain(extra)
    .collect();
    assert_eq!(function.env, expected_env);

    let seq = put_all(
        &bed,
        "orders",
        "k",
        &[json!({}), json!({}), json!({"fail": "item"}), json!({})],
    )
    .await;
    let (stats, fates) = run_until_idle(&bed, &source, mapping, function).await;

    // 0 and 1 are done at once; [2, 3] is retried twice, then given up on as a whole.
    assert_eq!(
        stats,
        RunStats {
            invocations: 3,
            records: 2,
            retries: 2,
            bisections: 0,
            sent_to_destination: 1
        }
    );
    let expected: BTreeMap<String, u32> = seq[..2].iter().map(|s| (s.clone(), 1)).collect();
    assert_eq!(attempts(&fates), expected);
    let failures = failed(&fates);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!((&failures[0].0, &failures[0].1), (&seq[2], &seq[3]));

    let objects = bed.destination().await;
    assert_eq!(objects.len(), 1, "{objects:?}");
    let (key, record) = &objects[0];
    assert!(
        key.starts_with("aws/lambda/persist-local/shardId-000000000000/"),
        "{key}"
    );
    assert_eq!(
        record["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    // The function answered; it reported items rather than failing.
    assert_eq!(
        record["responseContext"],
        json!({"statusCode": 200, "executedVersion": "$LATEST"})
    );
    let info = &record["KinesisBatchInfo"];
    assert_eq!(info["batchSize"], 2);
    assert_eq!(info["startSequenceNumber"], seq[2].as_str());
    assert_eq!(info["endSequenceNumber"], seq[3].as_str());
    let payload: Value = serde_json::from_str(record["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["Records"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_older_than_the_maximum_age_are_given_up_and_not_retried() {
    let bed = Bed::start().await;
    bed.stream("orders", 1).await;
    bed.bucket().await;
    // Before the put: the record's arrival, which its age counts from, is later.
    let put_at = Instant::now();
    let seq = put_all(&bed, "orders", "k", &[json!({"fail": "batch"})]).await;
    let max_age = Duration::from_secs(2);
    let mapping = MappingConfig {
        maximum_retry_attempts: -1,
        maximum_record_age: Some(max_age),
        on_failure: Some(BUCKET_ARN.into()),
        ..reporting_mapping()
    };
    let function = bed.function(Duration::from_secs(10), &[]);
    let mut run = Running::start(&bed, options("orders", mapping, function, None));

    // Retried without limit, until the records are too old.
    run.wait_for("the batch given up", |fates| !failed(fates).is_empty())
        .await;
    assert!(put_at.elapsed() > max_age);
    // The shard moves on.
    let later = put_all(&bed, "orders", "k", &[json!({}), json!({})]).await;
    run.wait_for("the later records", |fates| delivered_count(fates) == 2)
        .await;
    let (stats, fates) = run.cancel().await;

    let failures = failed(&fates);
    assert_eq!(failures.len(), 1, "{failures:?}");
    let (first, last, reason) = &failures[0];
    assert_eq!((first, last), (&seq[0], &seq[0]));
    assert!(reason.starts_with("RecordAgeExceeded"), "{reason}");
    let expected: BTreeMap<String, u32> = later.iter().map(|s| (s.clone(), 1)).collect();
    assert_eq!(attempts(&fates), expected);
    // The later records, read together or apart.
    let later_invocations = by_invocation(&bed.delivered());
    assert_eq!(later_invocations.concat(), [0, 1]);

    let objects = bed.destination().await;
    assert_eq!(objects.len(), 1, "{objects:?}");
    let record = &objects[0].1;
    assert_eq!(record["requestContext"]["condition"], "RecordAgeExceeded");
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(record["KinesisBatchInfo"]["batchSize"], 1);
    // Every invocation but the later records' carried the expired batch, and once given up,
    // it was never sent again.
    let invoked = record["requestContext"]["approximateInvokeCount"]
        .as_u64()
        .unwrap();
    assert!(invoked >= 2, "{record}");
    assert_eq!(stats.invocations, invoked + later_invocations.len() as u64);
    assert_eq!(stats.retries, invoked - 1);
    assert_eq!(stats.sent_to_destination, 1);
}

fn keys(count: usize) -> Vec<String> {
    (0..count).map(|k| format!("order-{k}")).collect()
}

/// Puts one record `{"n": …}` plus `extra` on `orders` under each key, counting on from `n`.
async fn put_round(bed: &Bed, keys: &[String], n: &mut i64, extra: Value) {
    for key in keys {
        let mut data = extra.clone();
        data["n"] = json!(*n);
        bed.put("orders", key, data).await;
        *n += 1;
    }
}

/// Checks that the first delivery of each record (numbered in the order put) keeps the order
/// of its partition key; the number of distinct records delivered.
fn first_deliveries_in_key_order(lines: &[Value]) -> usize {
    let mut seen = BTreeSet::new();
    let mut per_key: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for line in lines {
        let n = n_of(line);
        if seen.insert(n) {
            per_key
                .entry(line["pk"].as_str().unwrap())
                .or_default()
                .push(n);
        }
    }
    for (key, ns) in &per_key {
        assert!(
            ns.windows(2).all(|w| w[0] < w[1]),
            "{key} out of order: {ns:?}"
        );
    }
    seen.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_batches_of_a_shard_keep_the_order_of_each_partition_key() {
    let bed = Bed::start().await;
    bed.stream("orders", 1).await;
    let keys = keys(12);
    let mut n = 0;
    for _round in 0..4 {
        put_round(&bed, &keys, &mut n, json!({"sleep_ms": 40})).await;
    }
    let mapping = MappingConfig {
        batch_size: 4,
        parallelization_factor: 3,
        ..MappingConfig::default()
    };
    let function = bed.function(Duration::from_secs(10), &[]);
    let (stats, fates) = run_until_idle(&bed, "orders", mapping, function).await;

    assert_eq!(delivered_count(&fates), 48);
    assert_eq!(stats.records, 48);
    assert_eq!(stats.retries, 0);
    let lines = bed.delivered();
    assert_eq!(lines.len(), 48);
    assert_eq!(
        first_deliveries_in_key_order(&lines),
        48,
        "each record once"
    );

    // One function process per slot, each running one invocation at a time, and invocations
    // of different processes overlapping in time: the batches ran concurrently.
    let mut invocations: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for line in &lines {
        invocations.insert(
            line["request_id"].as_str().unwrap(),
            (
                line["pid"].as_u64().unwrap(),
                line["start_ms"].as_u64().unwrap(),
                line["end_ms"].as_u64().unwrap(),
            ),
        );
    }
    let invocations: Vec<(u64, u64, u64)> = invocations.into_values().collect();
    let pids: BTreeSet<u64> = invocations.iter().map(|i| i.0).collect();
    assert_eq!(pids.len(), 3, "{invocations:?}");
    let overlap = |a: &(u64, u64, u64), b: &(u64, u64, u64)| a.1 < b.2 && b.1 < a.2;
    let mut concurrent = 0;
    for (i, a) in invocations.iter().enumerate() {
        for b in &invocations[i + 1..] {
            if a.0 == b.0 {
                assert!(
                    !overlap(a, b),
                    "one process ran two invocations at once: {a:?} {b:?}"
                );
            } else if overlap(a, b) {
                concurrent += 1;
            }
        }
    }
    assert!(
        concurrent > 0,
        "no two invocations overlapped: {invocations:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_times_out_or_crashes_is_restarted_and_its_batch_retried() {
    let bed = Bed::start().await;
    bed.stream("orders", 1).await;
    let seen = bed.path("seen");
    let seq = put_all(
        &bed,
        "orders",
        "k",
        &[
            json!({"sleep_ms": 5000, "once": true}),
            json!({"fail": "crash", "once": true}),
            json!({}),
        ],
    )
    .await;
    let mapping = reporting_mapping();
    let function = bed.function(Duration::from_secs(2), &[("SEEN_FILE", &seen)]);
    let started = Instant::now();
    let (stats, fates) = run_until_idle(&bed, "orders", mapping, function).await;

    // Timed out (and killed), crashed, then done by a third process.
    let expected: BTreeMap<String, u32> = seq.iter().map(|s| (s.clone(), 3)).collect();
    assert_eq!(attempts(&fates), expected);
    assert_eq!((stats.invocations, stats.retries), (3, 2));
    // Had the timed-out process lived on, it would have written its records when its sleep
    // ended.
    tokio::time::sleep(Duration::from_millis(5500).saturating_sub(started.elapsed())).await;
    assert_eq!(by_invocation(&bed.delivered()), [vec![0, 1, 2]]);
}

/// Waits until the function has delivered every record numbered below `count`.
async fn wait_delivered(bed: &Bed, count: i64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let ns: BTreeSet<i64> = bed.delivered().iter().map(n_of).collect();
        if (0..count).all(|n| ns.contains(&n)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "records 0..{count} not all delivered: {ns:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resharded_streams_are_followed_into_the_children_keeping_each_key_in_order() {
    // The emulator's split moves the parent's records into the children under new sequence
    // numbers (AWS leaves them in the closed parent): a record read before a split comes again
    // from a child. So this checks that nothing is lost and the first delivery of each record
    // keeps the order of its key, not that each record comes once.
    let bed = Bed::start().await;
    bed.stream("orders", 1).await;
    let keys = keys(8);
    let mut n = 0;
    // Resharded before the run: the children wait for the (closed) parent to be read.
    put_round(&bed, &keys, &mut n, json!({})).await;
    // Refused for a moment after the stream first reads ACTIVE, as on AWS.
    testkit::emulator::settle("resharding", || {
        bed.kinesis
            .update_shard_count()
            .stream_name("orders")
            .target_shard_count(2)
            .scaling_type(aws_sdk_kinesis::types::ScalingType::UniformScaling)
            .send()
    })
    .await
    .expect("resharding");
    put_round(&bed, &keys, &mut n, json!({})).await;
    let mapping = MappingConfig {
        batch_size: 3,
        ..MappingConfig::default()
    };
    let function = bed.function(Duration::from_secs(10), &[]);
    let run = Running::start(&bed, options("orders", mapping, function, None));
    wait_delivered(&bed, n).await;

    // Resharded during the run: the first child is split once it has been read.
    let shards = bed
        .kinesis
        .list_shards()
        .stream_name("orders")
        .send()
        .await
        .unwrap();
    let child = shards
        .shards()
        .iter()
        .find(|s| s.shard_id() == "shardId-000000000001")
        .expect("the first child");
    let range = child.hash_key_range().unwrap();
    let (low, high): (u128, u128) = (
        range.starting_hash_key().parse().unwrap(),
        range.ending_hash_key().parse().unwrap(),
    );
    // Refused while the stream is still UPDATING from the resharding, as on AWS.
    testkit::emulator::settle("splitting the child", || {
        bed.kinesis
            .split_shard()
            .stream_name("orders")
            .shard_to_split("shardId-000000000001")
            .new_starting_hash_key((low + (high - low) / 2).to_string())
            .send()
    })
    .await
    .expect("splitting the child");
    put_round(&bed, &keys, &mut n, json!({})).await;
    put_round(&bed, &keys, &mut n, json!({})).await;
    wait_delivered(&bed, n).await;
    let (_, fates) = run.cancel().await;

    let shards: BTreeSet<&str> = fates
        .iter()
        .filter_map(|f| match f {
            Fate::Delivered(d) => Some(d.shard_id.as_str()),
            Fate::Failed { .. } => None,
        })
        .collect();
    assert!(
        shards.contains("shardId-000000000001") && shards.contains("shardId-000000000002"),
        "both children: {shards:?}"
    );
    assert!(
        shards.contains("shardId-000000000003") || shards.contains("shardId-000000000004"),
        "a grandchild: {shards:?}"
    );
    assert_eq!(first_deliveries_in_key_order(&bed.delivered()), 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_finishes_the_invocation_in_flight_then_kills_the_function() {
    let bed = Bed::start().await;
    bed.stream("orders", 1).await;
    let started_file = bed.path("started");
    let seq = put_all(&bed, "orders", "k", &[json!({"sleep_ms": 1000})]).await;
    let function = bed.function(Duration::from_secs(10), &[("STARTED_FILE", &started_file)]);
    let run = Running::start(
        &bed,
        options("orders", MappingConfig::default(), function, None),
    );
    let deadline = Instant::now() + PATIENCE;
    while std::fs::read_to_string(&started_file)
        .unwrap_or_default()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the invocation never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (stats, fates) = run.cancel().await;

    assert_eq!(attempts(&fates), BTreeMap::from([(seq[0].clone(), 1)]));
    assert_eq!(stats.invocations, 1);
    let lines = bed.delivered();
    assert_eq!(lines.len(), 1);
    let pid = lines[0]["pid"].as_u64().unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the function process {pid} outlived the run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_stream_ends_a_run_with_an_idle_exit() {
    let bed = Bed::start().await;
    bed.stream("orders", 2).await;
    bed.put("orders", "k", json!({"n": 0})).await;
    // From LATEST, the record already there is not read: nothing ever arrives.
    let mapping = MappingConfig {
        starting_position: StartingPosition::Latest,
        ..MappingConfig::default()
    };
    let function = bed.function(Duration::from_secs(10), &[]);
    let (stats, fates) = run_until_idle(&bed, "orders", mapping, function).await;
    assert_eq!(stats, RunStats::default());
    assert!(fates.is_empty(), "{fates:?}");
    assert!(bed.delivered().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batching_window_gathers_records_read_apart_into_one_batch() {
    let bed = Bed::start().await;
    bed.stream("orders", 1).await;
    let mapping = MappingConfig {
        batch_size: 10,
        batching_window: Duration::from_secs(4),
        ..MappingConfig::default()
    };
    let function = bed.function(Duration::from_secs(10), &[]);
    let mut run = Running::start(&bed, options("orders", mapping, function, None));
    // Several polls apart, each read on its own; the window holds the batch open for them.
    for n in 0..3 {
        bed.put("orders", "k", json!({ "n": n })).await;
        tokio::time::sleep(runner::POLL_INTERVAL * 2).await;
    }
    run.wait_for("the batch", |fates| delivered_count(fates) == 3)
        .await;
    let (stats, _) = run.cancel().await;
    assert_eq!(stats.invocations, 1);
    assert_eq!(by_invocation(&bed.delivered()), [vec![0, 1, 2]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervisor_outlives_the_deletion_of_the_version_a_mapping_invokes() {
    use aws_sdk_lambda::types::EventSourcePosition;
    use unifiedetl_local::supervisor::{self, SupervisorOptions};

    let bed = Bed::start().await;
    let stream_arn = bed.stream("orders", 1).await;
    let lambda = bed.persist_local().await;
    let version = lambda
        .publish_version()
        .function_name("persist-local")
        .send()
        .await
        .expect("publishing a version");
    let version_arn = version.function_arn().unwrap().to_string();
    let mapping = testkit::emulator::settle("the mapping to be created", || {
        lambda
            .create_event_source_mapping()
            .function_name(&version_arn)
            .event_source_arn(&stream_arn)
            .starting_position(EventSourcePosition::TrimHorizon)
            .send()
    })
    .await
    .expect("creating the mapping");
    let uuid = mapping.uuid().unwrap().to_string();

    let (fates_tx, mut fates) = mpsc::unbounded_channel();
    let (cancel_tx, cancel) = watch::channel(false);
    let supervised = tokio::spawn({
        let (lambda, kinesis, s3) = (lambda.clone(), bed.kinesis.clone(), bed.s3.clone());
        let options = SupervisorOptions {
            function: "persist-local".into(),
            binary: FUNCTION.into(),
            extra_env: bed.emulator.env(),
            cloudwatch: None,
            since: std::time::SystemTime::UNIX_EPOCH,
        };
        async move { supervisor::supervise(&lambda, &kinesis, &s3, options, fates_tx, cancel).await }
    });
    bed.put("orders", "k", json!({"n": 0})).await;
    let fate = tokio::time::timeout(PATIENCE, fates.recv())
        .await
        .expect("a record's fate")
        .expect("the supervisor running");
    assert!(matches!(fate, Fate::Delivered(_)), "{fate:?}");

    // The apply that replaces a mapping deletes the version the old one invoked; between the
    // supervisor's listing and its next reading of that version, the version is gone.
    lambda
        .delete_function()
        .function_name("persist-local")
        .qualifier(version.version().unwrap())
        .send()
        .await
        .expect("deleting the version");
    tokio::time::sleep(runner::POLL_INTERVAL * 5).await;
    if supervised.is_finished() {
        panic!("the supervisor stopped: {:?}", supervised.await);
    }
    testkit::emulator::settle("the mapping to be deleted", || {
        lambda.delete_event_source_mapping().uuid(&uuid).send()
    })
    .await
    .expect("deleting the mapping");
    tokio::time::sleep(runner::POLL_INTERVAL * 3).await;
    cancel_tx.send_replace(true);
    let runs = tokio::time::timeout(PATIENCE, supervised)
        .await
        .expect("the supervisor to stop")
        .unwrap()
        .expect("the supervisor's runs");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].uuid, uuid);
    assert_eq!(runs[0].function_arn, version_arn);
    assert_eq!(runs[0].stats.records, 1);
}
