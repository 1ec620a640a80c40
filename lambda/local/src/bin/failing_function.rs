//! A Lambda function that fails on request, for the runner's tests. Each Kinesis record's data
//! is a JSON object of instructions (anything else is an ordinary record):
//!
//! - `{"fail": "item"}`: reported in `batchItemFailures` (the list is written highest sequence
//!   first, so a runner must look for the lowest itself);
//! - `{"fail": "item-once"}`: the same, only the first time the record is seen;
//! - `{"fail": "batch"}`: the whole invocation returns an error;
//! - `{"fail": "empty-id"}`: reported with an empty `itemIdentifier`;
//! - `{"fail": "crash"}`: the process exits in the middle of the invocation;
//! - `{"sleep_ms": N}`: sleeps N ms before going on;
//! - `"once": true`: the record's instructions apply the first time it is seen only.
//!
//! "Seen" is kept in the process, or in the file `SEEN_FILE` names (one event id a line) so
//! that it survives a restart. Unless the invocation fails as a whole, each record that did not
//! fail is appended as a JSON line to the file `DELIVERED_FILE` names, in batch order:
//! `{"shard", "seq", "pk", "data", "pid", "request_id", "start_ms", "end_ms"}` (the invocation's
//! start and end, in ms since the epoch). With `STARTED_FILE`, a line is appended there when an
//! invocation starts.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::kinesis::KinesisEvent;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let seen = Seen {
        file: std::env::var("SEEN_FILE").ok().filter(|f| !f.is_empty()),
        memory: Mutex::new(HashSet::new()),
    };
    lambda_runtime::run(service_fn(|event| handle(event, &seen))).await
}

/// Records seen before, by event id (`shardId-…:<sequence number>`).
struct Seen {
    file: Option<String>,
    memory: Mutex<HashSet<String>>,
}

impl Seen {
    /// Marks `id` seen; true if it was not before.
    fn first_time(&self, id: &str) -> bool {
        match &self.file {
            Some(path) => {
                let before = std::fs::read_to_string(path).unwrap_or_default();
                if before.lines().any(|line| line == id) {
                    return false;
                }
                append(path, &format!("{id}\n"));
                true
            }
            None => self.memory.lock().unwrap().insert(id.to_string()),
        }
    }
}

/// Appends in one write, so that lines of concurrent processes do not mix.
fn append(path: &str, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|err| panic!("opening {path}: {err}"));
    file.write_all(text.as_bytes())
        .unwrap_or_else(|err| panic!("writing {path}: {err}"));
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

async fn handle(event: LambdaEvent<KinesisEvent>, seen: &Seen) -> Result<Value, Diagnostic> {
    let start_ms = now_ms();
    let request_id = event.context.request_id.clone();
    if let Ok(path) = std::env::var("STARTED_FILE") {
        append(&path, &format!("{request_id}\n"));
    }
    let mut failures: Vec<String> = Vec::new();
    let mut delivered: Vec<Value> = Vec::new();
    for record in &event.payload.records {
        let kinesis = &record.kinesis;
        let sequence = kinesis.sequence_number.clone();
        let id = record.event_id.clone().unwrap_or_else(|| sequence.clone());
        let data = String::from_utf8_lossy(&kinesis.data.0).into_owned();
        let instructions: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
        let mut fail = instructions.get("fail").and_then(Value::as_str);
        let mut sleep_ms = instructions.get("sleep_ms").and_then(Value::as_u64);
        let once = instructions.get("once").and_then(Value::as_bool) == Some(true);
        let has_instructions = fail.is_some() || sleep_ms.is_some();
        if fail == Some("item-once") {
            fail = seen.first_time(&id).then_some("item");
        } else if once && has_instructions && !seen.first_time(&id) {
            fail = None;
            sleep_ms = None;
        }
        if let Some(ms) = sleep_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        match fail {
            Some("batch") => {
                return Err(Diagnostic {
                    error_type: "FailingFunction.BatchFailed".into(),
                    error_message: format!("record {id} fails its whole batch"),
                });
            }
            Some("crash") => std::process::exit(3),
            Some("item") => failures.push(sequence),
            Some("empty-id") => failures.push(String::new()),
            _ => delivered.push(json!({
                "shard": id.split(':').next().unwrap_or_default(),
                "seq": sequence,
                "pk": kinesis.partition_key,
                "data": data,
            })),
        }
    }
    let end_ms = now_ms();
    if let Ok(path) = std::env::var("DELIVERED_FILE") {
        let lines: String = delivered
            .into_iter()
            .map(|mut line| {
                line["pid"] = json!(std::process::id());
                line["request_id"] = json!(request_id);
                line["start_ms"] = json!(start_ms);
                line["end_ms"] = json!(end_ms);
                format!("{line}\n")
            })
            .collect();
        if !lines.is_empty() {
            append(&path, &lines);
        }
    }
    failures.reverse();
    let failures: Vec<Value> = failures
        .into_iter()
        .map(|id| json!({ "itemIdentifier": id }))
        .collect();
    Ok(json!({ "batchItemFailures": failures }))
}
