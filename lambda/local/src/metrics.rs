//! The metrics Lambda and CloudWatch Logs publish for a function, published by the runner in
//! their place: after each invocation, the `AWS/Lambda` metrics the Lambda service reports for
//! an event source mapping's invocation (`Invocations`, `Errors`, `Duration`, `IteratorAge`,
//! dimension `FunctionName`), and the metrics of the Embedded Metric Format documents the
//! function printed, as CloudWatch Logs extracts them from its log group. So the pipeline's
//! alarms and dashboard read on the emulator what they would read on AWS.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_smithy_types::DateTime;
use serde_json::Value;

/// What one invocation was, as the Lambda service counts it.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub at: SystemTime,
    pub duration: Duration,
    /// A function error: an error response, a crash, a timeout (a partial batch response is
    /// not one).
    pub error: bool,
    /// How old the batch's last record was when the runner read it.
    pub iterator_age: Duration,
}

fn datum(
    name: &str,
    value: f64,
    unit: StandardUnit,
    dimensions: &[(String, String)],
    at: SystemTime,
) -> MetricDatum {
    MetricDatum::builder()
        .metric_name(name)
        .value(value)
        .unit(unit)
        .timestamp(DateTime::from(at))
        .set_dimensions(Some(
            dimensions
                .iter()
                .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                .collect(),
        ))
        .build()
}

/// The `AWS/Lambda` data of one invocation of `function`.
pub fn lambda_data(function: &str, i: &Invocation) -> Vec<MetricDatum> {
    let d = [("FunctionName".to_string(), function.to_string())];
    let ms = |t: Duration| t.as_secs_f64() * 1000.0;
    vec![
        datum("Invocations", 1.0, StandardUnit::Count, &d, i.at),
        datum(
            "Errors",
            if i.error { 1.0 } else { 0.0 },
            StandardUnit::Count,
            &d,
            i.at,
        ),
        datum(
            "Duration",
            ms(i.duration),
            StandardUnit::Milliseconds,
            &d,
            i.at,
        ),
        datum(
            "IteratorAge",
            ms(i.iterator_age),
            StandardUnit::Milliseconds,
            &d,
            i.at,
        ),
    ]
}

/// The data of the EMF documents among `lines` (the function's output), by namespace, as
/// CloudWatch Logs extracts them: for each metric directive, each dimension set with the
/// document's values of those dimensions, each metric's value (a number or a list of them).
pub fn emf_data(lines: &str) -> Vec<(String, MetricDatum)> {
    let mut out = Vec::new();
    for line in lines.lines() {
        let Ok(doc) = serde_json::from_str::<Value>(line.trim()) else {
            continue;
        };
        let Some(aws) = doc.get("_aws") else {
            continue;
        };
        let at = aws["Timestamp"]
            .as_u64()
            .map_or_else(SystemTime::now, |ms| UNIX_EPOCH + Duration::from_millis(ms));
        for directive in aws["CloudWatchMetrics"].as_array().into_iter().flatten() {
            let Some(namespace) = directive["Namespace"].as_str() else {
                continue;
            };
            for set in directive["Dimensions"].as_array().into_iter().flatten() {
                let dimensions: Option<Vec<(String, String)>> = set
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|name| {
                        let name = name.as_str()?;
                        Some((name.to_string(), doc.get(name)?.as_str()?.to_string()))
                    })
                    .collect();
                let Some(dimensions) = dimensions else {
                    continue;
                };
                for metric in directive["Metrics"].as_array().into_iter().flatten() {
                    let Some(name) = metric["Name"].as_str() else {
                        continue;
                    };
                    let unit = StandardUnit::from(metric["Unit"].as_str().unwrap_or("None"));
                    let values: Vec<f64> = match doc.get(name) {
                        Some(Value::Array(a)) => a.iter().filter_map(Value::as_f64).collect(),
                        Some(v) => v.as_f64().into_iter().collect(),
                        None => Vec::new(),
                    };
                    for value in values {
                        out.push((
                            namespace.to_string(),
                            datum(name, value, unit.clone(), &dimensions, at),
                        ));
                    }
                }
            }
        }
    }
    out
}

/// Sends `data` with PutMetricData, one call per namespace (at most 1000 data a call).
pub async fn publish(
    client: &aws_sdk_cloudwatch::Client,
    data: Vec<(String, MetricDatum)>,
) -> anyhow::Result<()> {
    let mut by_namespace: std::collections::BTreeMap<String, Vec<MetricDatum>> = Default::default();
    for (namespace, d) in data {
        by_namespace.entry(namespace).or_default().push(d);
    }
    for (namespace, data) in by_namespace {
        for chunk in data.chunks(1000) {
            client
                .put_metric_data()
                .namespace(&namespace)
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "publishing the function's metrics to CloudWatch ({namespace}): {}",
                        aws_smithy_types::error::display::DisplayErrorContext(&e)
                    )
                })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_document_becomes_one_datum_per_metric_and_dimension_set() {
        let line = r#"{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"unifiedetl","Dimensions":[["FunctionName"]],"Metrics":[{"Name":"RecordsFailed","Unit":"Count"},{"Name":"BatchDurationMs","Unit":"Milliseconds"}]}]},"FunctionName":"orders-persist","RecordsFailed":3,"BatchDurationMs":12.5}"#;
        let data = emf_data(&format!("a log line\n{line}\n"));
        assert_eq!(data.len(), 2);
        let (namespace, failed) = &data[0];
        assert_eq!(namespace, "unifiedetl");
        assert_eq!(failed.metric_name(), Some("RecordsFailed"));
        assert_eq!(failed.value(), Some(3.0));
        assert_eq!(failed.dimensions()[0].value(), Some("orders-persist"));
        assert_eq!(data[1].1.unit(), Some(&StandardUnit::Milliseconds));
    }

    #[test]
    fn an_invocation_reports_what_lambda_reports() {
        let data = lambda_data(
            "f",
            &Invocation {
                at: SystemTime::now(),
                duration: Duration::from_millis(250),
                error: true,
                iterator_age: Duration::from_secs(2),
            },
        );
        let named: Vec<(&str, f64)> = data
            .iter()
            .map(|d| (d.metric_name().unwrap(), d.value().unwrap()))
            .collect();
        assert_eq!(
            named,
            [
                ("Invocations", 1.0),
                ("Errors", 1.0),
                ("Duration", 250.0),
                ("IteratorAge", 2000.0)
            ]
        );
    }
}
