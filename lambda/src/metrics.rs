//! Per-invocation metrics in CloudWatch Embedded Metric Format (EMF): one JSON line on stdout,
//! which CloudWatch Logs turns into metrics with no API call and no extra latency.
//!
//! Namespace `unifiedetl`, one dimension, `FunctionName`. Record counts have unit `Count`;
//! `BatchDurationMs` has unit `Milliseconds`.

use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

/// The metrics' CloudWatch namespace.
pub const NAMESPACE: &str = "unifiedetl";
/// The one dimension.
pub const DIMENSION: &str = "FunctionName";

/// What one invocation did, counted in Kinesis records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchMetrics {
    /// Records in the event.
    pub records_in: usize,
    /// Records whose row is now in the table.
    pub records_written: usize,
    /// Records skipped because the table already held the same or a newer version
    /// (`VERSION_ATTRIBUTE` only).
    pub records_stale: usize,
    /// Records whose write was retried at least once.
    pub records_retried: usize,
    /// Poison records stored in the dead-letter bucket.
    pub records_dead_lettered: usize,
    /// Entries of `batchItemFailures` (Lambda replays from the lowest of them).
    pub records_failed: usize,
    /// Records skipped on purpose (analytics engine: control records, tables outside the
    /// correlation, unknown operations).
    pub records_ignored: usize,
    /// From receiving the event to having the response.
    pub batch_duration: Duration,
}

impl BatchMetrics {
    /// The EMF document for this invocation of `function_name`, stamped `timestamp`.
    /// `request_id` is a plain property: searchable in Logs Insights, not a dimension.
    pub fn to_emf(&self, function_name: &str, request_id: &str, timestamp: SystemTime) -> Value {
        let counts = [
            ("RecordsIn", self.records_in),
            ("RecordsWritten", self.records_written),
            ("RecordsStale", self.records_stale),
            ("RecordsRetried", self.records_retried),
            ("RecordsDeadLettered", self.records_dead_lettered),
            ("RecordsFailed", self.records_failed),
            ("RecordsIgnored", self.records_ignored),
        ];
        let duration_ms = self.batch_duration.as_secs_f64() * 1000.0;
        let mut definitions: Vec<Value> = counts
            .iter()
            .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
            .collect();
        definitions.push(json!({"Name": "BatchDurationMs", "Unit": "Milliseconds"}));

        let mut document = Map::new();
        document.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |since| since.as_millis() as u64),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": definitions,
                }],
            }),
        );
        document.insert(DIMENSION.into(), json!(function_name));
        for (name, value) in counts {
            document.insert(name.into(), json!(value));
        }
        // Whole microseconds: enough precision, and no float noise in the logs.
        document.insert(
            "BatchDurationMs".into(),
            json!((duration_ms * 1000.0).round() / 1000.0),
        );
        document.insert("RequestId".into(), json!(request_id));
        Value::Object(document)
    }

    /// Prints the EMF line to stdout, where Lambda's log capture hands it to CloudWatch.
    pub fn emit(&self, function_name: &str, request_id: &str) {
        let mut line = self
            .to_emf(function_name, request_id, SystemTime::now())
            .to_string();
        line.push('\n');
        // One write of the whole line under the lock, so no log line lands inside it.
        let mut stdout = std::io::stdout().lock();
        if let Err(err) = stdout
            .write_all(line.as_bytes())
            .and_then(|()| stdout.flush())
        {
            tracing::warn!(error = %err, "could not write the metrics line");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> BatchMetrics {
        BatchMetrics {
            records_in: 100,
            records_written: 90,
            records_stale: 2,
            records_retried: 25,
            records_dead_lettered: 3,
            records_failed: 5,
            records_ignored: 0,
            batch_duration: Duration::from_micros(123_456),
        }
    }

    /// The structure the EMF specification requires of a root node.
    #[test]
    fn the_document_follows_the_emf_specification() {
        let timestamp = UNIX_EPOCH + Duration::from_millis(1_714_583_509_973);
        let emf = metrics().to_emf("orders-persist", "req-1", timestamp);

        let aws = emf["_aws"].as_object().expect("_aws is an object");
        assert_eq!(aws["Timestamp"], json!(1_714_583_509_973u64));
        assert!(
            aws["Timestamp"].is_u64(),
            "milliseconds since the epoch, an integer"
        );
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        let directive = directives[0].as_object().unwrap();
        assert_eq!(directive["Namespace"], "unifiedetl");

        // Dimensions: an array of dimension sets, each an array of member names that resolve
        // to string values of the root node.
        let sets = directive["Dimensions"].as_array().unwrap();
        assert_eq!(sets, &vec![json!(["FunctionName"])]);
        for set in sets {
            for name in set.as_array().unwrap() {
                assert!(emf[name.as_str().unwrap()].is_string(), "{name}");
            }
        }
        assert_eq!(emf["FunctionName"], "orders-persist");

        // Metrics: at most 100 definitions, each with Name and a valid Unit, each name
        // resolving to a number of the root node.
        let definitions = directive["Metrics"].as_array().unwrap();
        assert!(definitions.len() <= 100);
        let mut names = Vec::new();
        for definition in definitions {
            let definition = definition.as_object().unwrap();
            let name = definition["Name"].as_str().unwrap();
            let unit = definition["Unit"].as_str().unwrap();
            let expected = if name == "BatchDurationMs" {
                "Milliseconds"
            } else {
                "Count"
            };
            assert_eq!(unit, expected, "{name}");
            assert!(emf[name].is_number(), "{name} has a numeric value");
            names.push(name);
        }
        assert_eq!(
            names,
            [
                "RecordsIn",
                "RecordsWritten",
                "RecordsStale",
                "RecordsRetried",
                "RecordsDeadLettered",
                "RecordsFailed",
                "RecordsIgnored",
                "BatchDurationMs"
            ]
        );
        assert_eq!(emf["RecordsIn"], 100);
        assert_eq!(emf["RecordsWritten"], 90);
        assert_eq!(emf["RecordsStale"], 2);
        assert_eq!(emf["RecordsRetried"], 25);
        assert_eq!(emf["RecordsDeadLettered"], 3);
        assert_eq!(emf["RecordsFailed"], 5);
        assert_eq!(emf["BatchDurationMs"], 123.456);
        assert_eq!(emf["RequestId"], "req-1");
    }

    #[test]
    fn the_line_is_one_line_of_json() {
        let line = metrics().to_emf("f", "r", SystemTime::now()).to_string();
        assert!(!line.contains('\n'));
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert!(parsed["_aws"]["CloudWatchMetrics"].is_array());
    }
}
