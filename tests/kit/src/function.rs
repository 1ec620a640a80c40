//! The function binary run as Lambda runs it — a process given the Runtime API's address and
//! Lambda's environment, nothing from the developer's — and the Kinesis events fed to it.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use crate::RuntimeApi;

/// The stream the test events claim to come from.
pub const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/order-enriched";

/// One Kinesis record: sequence number and data.
pub type Record = (String, Vec<u8>);

/// The function's process, killed on drop, with its output collected.
pub struct FunctionProcess {
    pub child: Child,
    output: Arc<Mutex<Vec<u8>>>,
}

impl FunctionProcess {
    /// Starts `binary` against `api` with Lambda's environment plus `env` (and nothing else
    /// from this process's environment: no profiles or real credentials leak in).
    pub fn spawn(binary: &Path, api: &RuntimeApi, env: &[(&str, &str)]) -> FunctionProcess {
        let mut child = Command::new(binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "persist")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting the function binary");
        let output = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        tokio::spawn(drain(stdout, output.clone()));
        tokio::spawn(drain(stderr, output.clone()));
        FunctionProcess { child, output }
    }

    /// Everything the function printed so far (stdout and stderr).
    pub async fn logs(&self) -> String {
        // Give the last lines a moment to cross the pipe.
        tokio::time::sleep(Duration::from_millis(200)).await;
        String::from_utf8_lossy(&self.output.lock().await).into_owned()
    }

    /// The whole lines printed since byte `from` of the output (stdout and stderr), and where
    /// the next call starts: what a log group would hold of it by now.
    pub async fn lines_from(&self, from: usize) -> (String, usize) {
        let output = self.output.lock().await;
        let tail = output.get(from..).unwrap_or_default();
        let end = tail.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        (
            String::from_utf8_lossy(&tail[..end]).into_owned(),
            from + end,
        )
    }

    /// The Embedded Metric Format documents printed so far, one per invocation.
    pub async fn metrics(&self) -> Vec<Value> {
        self.logs()
            .await
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|document| document.get("_aws").is_some())
            .collect()
    }

    /// The metrics of the invocation `request_id`.
    pub async fn metrics_of(&self, request_id: &str) -> Value {
        let all = self.metrics().await;
        all.iter()
            .find(|document| document["RequestId"] == request_id)
            .cloned()
            .unwrap_or_else(|| panic!("no metrics for {request_id} in {all:?}"))
    }
}

async fn drain(mut pipe: impl tokio::io::AsyncRead + Unpin, into: Arc<Mutex<Vec<u8>>>) {
    let mut buffer = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        into.lock().await.extend_from_slice(&buffer[..n]);
    }
}

/// A Kinesis event as Lambda's event source mapping delivers it.
pub fn kinesis_event(records: &[Record]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|(sequence, data)| {
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "orders",
                    "sequenceNumber": sequence,
                    "data": base64::engine::general_purpose::STANDARD.encode(data),
                    "approximateArrivalTimestamp": 1_700_000_000.123
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{sequence}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/persist",
                "awsRegion": "us-east-1",
                "eventSourceARN": STREAM_ARN
            })
        })
        .collect();
    json!({ "Records": records })
}
