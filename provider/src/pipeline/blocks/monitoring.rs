//! The `monitoring` block: CloudWatch alarms on every component's health metrics (the ones the
//! AWS sample's "Operational aspects" names), an SNS topic they notify, a dashboard laying the
//! metrics out per component, and the function's log group with a retention.
//!
//! It watches the whole pipeline, so it comes last: its apply reads what the other blocks
//! recorded (the replication task's ARN, say) and runs once they are done; its destroy runs
//! once the function is gone (Lambda would re-create a log group deleted before it). Its whole
//! life is here: schema, plan-time checks and defaults, the alarms a state calls for, apply,
//! refresh (drift), import and destroy.
//!
//! ```text
//!   every other block ─▶ topic, log group ─▶ alarms, dashboard
//! ```

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};
use tf_provider::schema::{AttributeType, NestedBlock};
use tf_provider::value::Value;
use tf_provider::Diagnostics;

use crate::aws::cloudwatch::{self, AlarmSpec};
use crate::aws::{logs, sns, Aws, AwsResult, Identity};
use crate::pipeline::state::{first, first_mut, one, MonitoringBlock, PipelineState, Str};
use crate::pipeline::values::{
    arn_name, in_range, name_like, need, nullable, one_of, path, pick, some, text,
};
use crate::schema::{block, computed, defaulted, string_map};

const BLOCK: &str = "monitoring";

/// `monitoring`: alarms, their topic, a dashboard and the function's log group.
pub fn schema() -> NestedBlock {
    NestedBlock::Optional(block(
        "Monitoring: CloudWatch alarms on every component's health metrics, notifying an SNS topic; a CloudWatch dashboard of the pipeline's metrics per component; the function's log group with a retention. Omit the block for none. Each alarm looks at 1-minute periods and treats missing data as not breaching; each threshold below is overridable.",
        vec![
            ("enabled", defaulted(AttributeType::Bool, "Whether the alarms, topic, dashboard and log group exist (default `true`); `false` removes them and keeps the settings.")),
            ("alarm_topic_arn", defaulted(AttributeType::String, "The SNS topic every alarm notifies. Default: one the pipeline creates, `<name>-alarms` (deleted with it); name an existing topic's ARN to use it instead (never created or deleted then). Subscribe to it to be told.")),
            ("dashboard_name", defaulted(AttributeType::String, "The CloudWatch dashboard. Default `<name>`.")),
            ("log_retention_days", defaulted(AttributeType::Number, "Days the function's logs are kept in its log group `/aws/lambda/<function>` (default `30`): one of CloudWatch Logs' retentions, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653.")),
            ("log_format", defaulted(AttributeType::String, "The function's log format (its `LoggingConfig`): `JSON` (default), each line a JSON object Logs Insights can query, or `Text`. Removing the block leaves the function's logging as it is.")),
            ("log_level", defaulted(AttributeType::String, "With `log_format = \"JSON\"`: the lowest level of the function's own logs Lambda keeps, `TRACE`, `DEBUG`, `INFO` (default), `WARN`, `ERROR` or `FATAL`. Must be unset with `Text`.")),
            ("iterator_age_ms", defaulted(AttributeType::Number, "Alarm when the oldest record waiting is older than this many milliseconds, 3 of 5 minutes: the function's `IteratorAge` and each stream's `GetRecords.IteratorAgeMilliseconds` (default `60000`).")),
            ("throughput_exceeded", defaulted(AttributeType::Number, "Alarm when a stream's `ReadProvisionedThroughputExceeded` or `WriteProvisionedThroughputExceeded` reaches this count in a minute (default `1`).")),
            ("function_errors", defaulted(AttributeType::Number, "Alarm when the function's `Errors` reach this count in a minute (default `1`).")),
            ("function_throttles", defaulted(AttributeType::Number, "Alarm when the function's `Throttles` reach this count in a minute (default `1`).")),
            ("duration_percent", defaulted(AttributeType::Number, "Alarm when the function's longest `Duration` reaches this percentage of `persist.timeout`, 3 of 5 minutes, 1 to 100 (default `80`).")),
            ("records_dead_lettered", defaulted(AttributeType::Number, "Alarm when the function's own metric `RecordsDeadLettered` (namespace `unifiedetl`) reaches this count in a minute (default `1`).")),
            ("records_failed", defaulted(AttributeType::Number, "Alarm when the function's own metric `RecordsFailed` (records handed back to Lambda to retry) reaches this count in a minute (default `1`).")),
            ("throttle_events", defaulted(AttributeType::Number, "Alarm when the sink's (and the engine's state table's) `ReadThrottleEvents` or `WriteThrottleEvents` reach this count in a minute (default `1`).")),
            ("capacity_percent", defaulted(AttributeType::Number, "With `sink.billing_mode = \"PROVISIONED\"`: alarm when the sink's consumed read or write capacity reaches this percentage of its provisioned capacity, 3 of 5 minutes, 1 to 100 (default `80`).")),
            ("cdc_latency_seconds", defaulted(AttributeType::Number, "With a `source` block: alarm when the replication task's `CDCLatencySource` or `CDCLatencyTarget` exceeds this many seconds, 3 of 5 minutes (default `60`).")),
            ("lake_freshness_seconds", defaulted(AttributeType::Number, "With a `data_lake` block: alarm when the delivery stream's `DeliveryToS3.DataFreshness` exceeds this many seconds, 3 of 5 minutes (default `900`).")),
            ("alarms", computed(string_map(), "Every alarm's ARN, by what it watches (`function-errors`, `cdc-iterator-age`, …); each alarm is named `<name>-<key>`.")),
            ("dashboard_arn", computed(AttributeType::String, "The dashboard's ARN.")),
            ("log_group_name", computed(AttributeType::String, "The function's log group, `/aws/lambda/<function>`.")),
        ],
    ))
}

/// CloudWatch Logs' retentions (PutRetentionPolicy).
const RETENTIONS: [i64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

// ------------------------------------------------------------------------------ plan

/// Plan-time checks, each on its attribute.
pub fn validate(config: &PipelineState, diags: &mut Diagnostics) {
    let Some(m) = first(&config.monitoring) else {
        return;
    };
    if let Value::Value(days) = &m.log_retention_days {
        if !RETENTIONS.contains(days) {
            let list: Vec<String> = RETENTIONS.iter().map(i64::to_string).collect();
            diags.error(
                "invalid monitoring.log_retention_days",
                format!("`monitoring.log_retention_days` must be one of CloudWatch Logs' retentions, {} (got {days})", list.join(", ")),
                path(BLOCK, "log_retention_days"),
            );
        }
    }
    if let Value::Value(arn) = &m.alarm_topic_arn {
        if !(arn.starts_with("arn:")
            && arn.split(':').nth(2) == Some("sns")
            && arn.split(':').count() == 6)
        {
            diags.error(
                "invalid monitoring.alarm_topic_arn",
                format!("`monitoring.alarm_topic_arn` must be an SNS topic's ARN, `arn:aws:sns:<region>:<account>:<topic>` (got \"{arn}\"); leave it unset for a topic the pipeline creates"),
                path(BLOCK, "alarm_topic_arn"),
            );
        }
    }
    one_of(BLOCK, "log_format", &m.log_format, &LOG_FORMATS, diags);
    one_of(BLOCK, "log_level", &m.log_level, &LOG_LEVELS, diags);
    if m.log_format.as_ref_option().is_some_and(|f| f == "Text") && m.log_level.is_value() {
        diags.error(
            "invalid monitoring.log_level",
            "`monitoring.log_level` applies to JSON logs only: remove it, or set `log_format = \"JSON\"`",
            path(BLOCK, "log_level"),
        );
    }
    name_like(
        BLOCK,
        "dashboard_name",
        &m.dashboard_name,
        255,
        "_-",
        "a CloudWatch dashboard name",
        diags,
    );
    for attr in ["duration_percent", "capacity_percent"] {
        in_range(BLOCK, attr, threshold(m, attr), 1, 100, diags);
    }
    for attr in THRESHOLDS {
        in_range(
            BLOCK,
            attr,
            threshold(m, attr),
            0,
            i64::from(i32::MAX),
            diags,
        );
    }
}

const LOG_FORMATS: [&str; 2] = ["JSON", "Text"];
const LOG_LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// The thresholds with their defaults.
const THRESHOLDS: [&str; 11] = [
    "iterator_age_ms",
    "throughput_exceeded",
    "function_errors",
    "function_throttles",
    "duration_percent",
    "records_dead_lettered",
    "records_failed",
    "throttle_events",
    "capacity_percent",
    "cdc_latency_seconds",
    "lake_freshness_seconds",
];

fn default_threshold(attr: &str) -> i64 {
    match attr {
        "iterator_age_ms" => 60_000,
        "duration_percent" | "capacity_percent" => 80,
        "cdc_latency_seconds" => 60,
        "lake_freshness_seconds" => 900,
        _ => 1,
    }
}

fn threshold<'a>(m: &'a MonitoringBlock, attr: &str) -> &'a Value<i64> {
    match attr {
        "iterator_age_ms" => &m.iterator_age_ms,
        "throughput_exceeded" => &m.throughput_exceeded,
        "function_errors" => &m.function_errors,
        "function_throttles" => &m.function_throttles,
        "duration_percent" => &m.duration_percent,
        "records_dead_lettered" => &m.records_dead_lettered,
        "records_failed" => &m.records_failed,
        "throttle_events" => &m.throttle_events,
        "capacity_percent" => &m.capacity_percent,
        "cdc_latency_seconds" => &m.cdc_latency_seconds,
        _ => &m.lake_freshness_seconds,
    }
}

fn threshold_mut<'a>(m: &'a mut MonitoringBlock, attr: &str) -> &'a mut Value<i64> {
    match attr {
        "iterator_age_ms" => &mut m.iterator_age_ms,
        "throughput_exceeded" => &mut m.throughput_exceeded,
        "function_errors" => &mut m.function_errors,
        "function_throttles" => &mut m.function_throttles,
        "duration_percent" => &mut m.duration_percent,
        "records_dead_lettered" => &mut m.records_dead_lettered,
        "records_failed" => &mut m.records_failed,
        "throttle_events" => &mut m.throttle_events,
        "capacity_percent" => &mut m.capacity_percent,
        "cdc_latency_seconds" => &mut m.cdc_latency_seconds,
        _ => &mut m.lake_freshness_seconds,
    }
}

/// The SNS topic the pipeline creates when the configuration names none.
fn default_topic_arn(identity: &Identity, pipeline: &str) -> String {
    identity.arn("sns", true, &format!("{pipeline}-alarms"))
}

/// The block as planned, into `planned.monitoring`: defaults, and the ARNs of the alarms the
/// rest of the planned pipeline calls for (deterministic from their names).
pub fn plan(config: &PipelineState, identity: &Identity, planned: &mut PipelineState) {
    let Some(c) = first(&config.monitoring) else {
        planned.monitoring = one(None);
        return;
    };
    let name = planned.name.clone();
    let mut m = MonitoringBlock {
        enabled: pick(&c.enabled, some(true)),
        alarm_topic_arn: pick(
            &c.alarm_topic_arn,
            name.as_ref().map(|n| default_topic_arn(identity, n)),
        ),
        dashboard_name: pick(&c.dashboard_name, name.clone()),
        log_retention_days: pick(&c.log_retention_days, some(30)),
        log_format: pick(&c.log_format, text("JSON")),
        ..c.clone()
    };
    m.log_level = match &m.log_format {
        Value::Value(f) if f == "JSON" => pick(&c.log_level, text("INFO")),
        Value::Unknown => Value::Unknown,
        _ => c.log_level.clone(),
    };
    for attr in THRESHOLDS {
        let configured = *threshold(c, attr);
        *threshold_mut(&mut m, attr) = pick(&configured, some(default_threshold(attr)));
    }
    let on = matches!(m.enabled, Value::Value(true));
    m.log_group_name = match (on, &planned.persist.function_name) {
        (false, _) => Value::Null,
        (true, Value::Value(f)) => text(&format!("/aws/lambda/{f}")),
        (true, _) => Value::Unknown,
    };
    m.dashboard_arn = match (on, &m.dashboard_name) {
        (false, _) => Value::Null,
        (true, Value::Value(d)) => {
            text(&identity.arn("cloudwatch", false, &format!("dashboard/{d}")))
        }
        (true, _) => Value::Unknown,
    };
    m.alarms = match (on, name.as_ref_option()) {
        (false, _) => some(BTreeMap::new()),
        (true, Some(pipeline)) => some(
            watched_keys(planned)
                .into_iter()
                .map(|key| {
                    let arn = identity.arn("cloudwatch", true, &format!("alarm:{pipeline}-{key}"));
                    (key, some(arn))
                })
                .collect(),
        ),
        (true, None) => Value::Unknown,
    };
    planned.monitoring = one(Some(m));
}

/// The function's logging the block asks for: `None` without an enabled block (the function's
/// logging is then left as it is).
pub fn logging(state: &PipelineState) -> Option<crate::aws::lambda::Logging> {
    let m = first(&state.monitoring).filter(|m| matches!(m.enabled, Value::Value(true)))?;
    let format = m.log_format.as_ref_option()?.clone();
    let level = m
        .log_level
        .as_ref_option()
        .filter(|_| format == "JSON")
        .cloned();
    Some(crate::aws::lambda::Logging { format, level })
}

/// Writes the function's logging as AWS reports it (`seen`) into an enabled block, so that a
/// change made out of band shows on `log_format` or `log_level`.
pub fn logging_seen(state: &mut PipelineState, seen: Option<crate::aws::lambda::Logging>) {
    let (Some(m), Some(seen)) = (first_mut(&mut state.monitoring), seen) else {
        return;
    };
    if !matches!(m.enabled, Value::Value(true)) {
        return;
    }
    m.log_format = some(seen.format);
    m.log_level = nullable(seen.level);
}

/// Whether `state`'s topic is the one the pipeline creates (so it deletes it too).
fn topic_managed(state: &PipelineState, m: &MonitoringBlock) -> bool {
    match (
        state.name.as_ref_option(),
        m.alarm_topic_arn.as_ref_option(),
    ) {
        (Some(name), Some(arn)) => {
            arn.ends_with(&format!(":{name}-alarms")) && arn.contains(":sns:")
        }
        _ => false,
    }
}

// ------------------------------------------------------------------------------ the alarms

/// What a threshold attribute means for one alarm.
#[derive(Clone, Copy)]
enum Scale {
    /// The threshold is the attribute.
    Same,
    /// The attribute is a percentage of this (the timeout in ms, a capacity per minute).
    PercentOf(f64),
}

/// One alarm the pipeline makes: its key, the attribute its threshold comes from, and how.
struct Watch {
    key: String,
    attr: &'static str,
    scale: Scale,
    namespace: &'static str,
    metric: &'static str,
    statistic: &'static str,
    dimensions: Vec<(String, String)>,
    /// Counts alarm in the first minute; levels (ages, latencies) on 3 of 5.
    level: bool,
    what: String,
}

/// A table watched: its label (`sink`, `state`), name, and provisioned `(read, write)`
/// capacity (`None` on demand).
type WatchedTable = (&'static str, String, Option<(i64, i64)>);

/// The components a state's monitoring watches, as names (`None` where the state has no such
/// component).
struct Watched {
    function: Option<String>,
    timeout_ms: Option<f64>,
    streams: Vec<(&'static str, String)>,
    tables: Vec<WatchedTable>,
    task: Option<(String, String)>,
    lake: Option<String>,
}

fn watched(s: &PipelineState) -> Watched {
    let known = |v: &Str| v.as_ref_option().cloned();
    let mut streams = Vec::new();
    for (label, block) in [("cdc", &s.cdc_stream), ("enriched", &s.enriched_stream)] {
        if let Some(name) = known(&block.name) {
            streams.push((label, name));
        }
    }
    let mut tables = Vec::new();
    if let Some(name) = known(&s.sink.name) {
        let provisioned = s
            .sink
            .billing_mode
            .as_ref_option()
            .is_some_and(|m| m == "PROVISIONED");
        let capacity = match (provisioned, &s.sink.read_capacity, &s.sink.write_capacity) {
            (true, Value::Value(r), Value::Value(w)) => Some((*r, *w)),
            _ => None,
        };
        tables.push(("sink", name, capacity));
    }
    if s.analytics.lambda_engine() {
        if let Some(name) = known(&s.analytics.state_table) {
            tables.push(("state", name, None));
        }
    }
    let task = s.source().and_then(|src| {
        Some((
            known(&src.replication_instance_id)?,
            // Task metrics carry the task's resource id, the last part of its ARN.
            known(&src.replication_task_arn).map(|arn| arn_name(&arn))?,
        ))
    });
    Watched {
        function: known(&s.persist.function_name),
        timeout_ms: s.persist.timeout.as_option().map(|t| t as f64 * 1000.0),
        streams,
        tables,
        task,
        lake: s.data_lake().and_then(|l| known(&l.delivery_stream_name)),
    }
}

fn dims(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut d: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    d.sort();
    d
}

/// Every alarm `w` calls for. `dms_planned`: count the replication task's alarms even before
/// its ARN is known (at plan time).
fn watches(w: &Watched, dms_planned: bool) -> Vec<Watch> {
    let mut out = Vec::new();
    let mut add = |key: String,
                   attr,
                   scale,
                   namespace,
                   metric,
                   statistic,
                   dimensions,
                   level,
                   what: String| {
        out.push(Watch {
            key,
            attr,
            scale,
            namespace,
            metric,
            statistic,
            dimensions,
            level,
            what,
        });
    };
    if let Some(f) = &w.function {
        let d = || dims(&[("FunctionName", f)]);
        let what = |m: &str| format!("function {f}: {m}");
        add(
            "function-errors".into(),
            "function_errors",
            Scale::Same,
            "AWS/Lambda",
            "Errors",
            "Sum",
            d(),
            false,
            what("invocations that failed"),
        );
        add(
            "function-throttles".into(),
            "function_throttles",
            Scale::Same,
            "AWS/Lambda",
            "Throttles",
            "Sum",
            d(),
            false,
            what("invocations throttled"),
        );
        if let Some(ms) = w.timeout_ms {
            add(
                "function-duration".into(),
                "duration_percent",
                Scale::PercentOf(ms),
                "AWS/Lambda",
                "Duration",
                "Maximum",
                d(),
                true,
                what("duration near its timeout"),
            );
        }
        add(
            "function-iterator-age".into(),
            "iterator_age_ms",
            Scale::Same,
            "AWS/Lambda",
            "IteratorAge",
            "Maximum",
            d(),
            true,
            what("age of the last record of each batch"),
        );
        add(
            "records-dead-lettered".into(),
            "records_dead_lettered",
            Scale::Same,
            "unifiedetl",
            "RecordsDeadLettered",
            "Sum",
            d(),
            false,
            what("records stored as dead letters"),
        );
        add(
            "records-failed".into(),
            "records_failed",
            Scale::Same,
            "unifiedetl",
            "RecordsFailed",
            "Sum",
            d(),
            false,
            what("records handed back to Lambda to retry"),
        );
    }
    for (label, name) in &w.streams {
        let d = || dims(&[("StreamName", name)]);
        let what = |m: &str| format!("Kinesis stream {name}: {m}");
        add(
            format!("{label}-iterator-age"),
            "iterator_age_ms",
            Scale::Same,
            "AWS/Kinesis",
            "GetRecords.IteratorAgeMilliseconds",
            "Maximum",
            d(),
            true,
            what("age of the oldest record read"),
        );
        add(
            format!("{label}-read-throughput-exceeded"),
            "throughput_exceeded",
            Scale::Same,
            "AWS/Kinesis",
            "ReadProvisionedThroughputExceeded",
            "Sum",
            d(),
            false,
            what("reads throttled"),
        );
        add(
            format!("{label}-write-throughput-exceeded"),
            "throughput_exceeded",
            Scale::Same,
            "AWS/Kinesis",
            "WriteProvisionedThroughputExceeded",
            "Sum",
            d(),
            false,
            what("writes throttled"),
        );
    }
    for (label, name, capacity) in &w.tables {
        let d = || dims(&[("TableName", name)]);
        let what = |m: &str| format!("DynamoDB table {name}: {m}");
        add(
            format!("{label}-read-throttles"),
            "throttle_events",
            Scale::Same,
            "AWS/DynamoDB",
            "ReadThrottleEvents",
            "Sum",
            d(),
            false,
            what("reads throttled"),
        );
        add(
            format!("{label}-write-throttles"),
            "throttle_events",
            Scale::Same,
            "AWS/DynamoDB",
            "WriteThrottleEvents",
            "Sum",
            d(),
            false,
            what("writes throttled"),
        );
        if let Some((read, write)) = capacity {
            add(
                format!("{label}-read-capacity"),
                "capacity_percent",
                Scale::PercentOf(*read as f64 * 60.0),
                "AWS/DynamoDB",
                "ConsumedReadCapacityUnits",
                "Sum",
                d(),
                true,
                what("consumed read capacity near the provisioned"),
            );
            add(
                format!("{label}-write-capacity"),
                "capacity_percent",
                Scale::PercentOf(*write as f64 * 60.0),
                "AWS/DynamoDB",
                "ConsumedWriteCapacityUnits",
                "Sum",
                d(),
                true,
                what("consumed write capacity near the provisioned"),
            );
        }
    }
    match &w.task {
        Some((instance, task)) => {
            let d = || {
                dims(&[
                    ("ReplicationInstanceIdentifier", instance),
                    ("ReplicationTaskIdentifier", task),
                ])
            };
            add(
                "dms-source-latency".into(),
                "cdc_latency_seconds",
                Scale::Same,
                "AWS/DMS",
                "CDCLatencySource",
                "Maximum",
                d(),
                true,
                format!("DMS replication task {task}: seconds behind the source"),
            );
            add(
                "dms-target-latency".into(),
                "cdc_latency_seconds",
                Scale::Same,
                "AWS/DMS",
                "CDCLatencyTarget",
                "Maximum",
                d(),
                true,
                format!("DMS replication task {task}: seconds behind the target"),
            );
        }
        None if dms_planned => {
            add(
                "dms-source-latency".into(),
                "cdc_latency_seconds",
                Scale::Same,
                "AWS/DMS",
                "CDCLatencySource",
                "Maximum",
                Vec::new(),
                true,
                String::new(),
            );
            add(
                "dms-target-latency".into(),
                "cdc_latency_seconds",
                Scale::Same,
                "AWS/DMS",
                "CDCLatencyTarget",
                "Maximum",
                Vec::new(),
                true,
                String::new(),
            );
        }
        None => {}
    }
    if let Some(lake) = &w.lake {
        add(
            "lake-freshness".into(),
            "lake_freshness_seconds",
            Scale::Same,
            "AWS/Firehose",
            "DeliveryToS3.DataFreshness",
            "Maximum",
            dims(&[("DeliveryStreamName", lake)]),
            true,
            format!("Firehose delivery stream {lake}: age of the oldest record not yet in S3"),
        );
    }
    out
}

/// Every key an alarm of a pipeline may have (all components present).
fn every_key() -> Vec<String> {
    let all = Watched {
        function: Some(String::new()),
        timeout_ms: Some(1.0),
        streams: vec![("cdc", String::new()), ("enriched", String::new())],
        tables: vec![
            ("sink", String::new(), Some((1, 1))),
            ("state", String::new(), None),
        ],
        task: Some((String::new(), String::new())),
        lake: Some(String::new()),
    };
    watches(&all, false).into_iter().map(|w| w.key).collect()
}

/// The keys of the alarms a planned state calls for.
fn watched_keys(planned: &PipelineState) -> Vec<String> {
    watches(&watched(planned), planned.source().is_some())
        .into_iter()
        .map(|w| w.key)
        .collect()
}

/// The alarms `state` calls for, as they should be in CloudWatch.
fn specs(state: &PipelineState, m: &MonitoringBlock) -> Vec<(Watch, AlarmSpec)> {
    let (Some(pipeline), Some(topic)) = (
        state.name.as_ref_option(),
        m.alarm_topic_arn.as_ref_option(),
    ) else {
        return Vec::new();
    };
    watches(&watched(state), false)
        .into_iter()
        .filter_map(|w| {
            let value = threshold(m, w.attr).as_option()? as f64;
            let threshold = match w.scale {
                Scale::Same => value,
                Scale::PercentOf(whole) => (whole * value / 100.0).round(),
            };
            let spec = AlarmSpec {
                name: format!("{pipeline}-{}", w.key),
                description: format!(
                    "unifiedetl pipeline {pipeline}: {} (monitoring.{}).",
                    w.what, w.attr
                ),
                namespace: w.namespace.to_string(),
                metric: w.metric.to_string(),
                dimensions: w.dimensions.clone(),
                statistic: w.statistic.to_string(),
                period: 60,
                evaluation_periods: if w.level { 5 } else { 1 },
                datapoints_to_alarm: if w.level { 3 } else { 1 },
                threshold,
                comparison: if w.level {
                    "GreaterThanThreshold"
                } else {
                    "GreaterThanOrEqualToThreshold"
                }
                .to_string(),
                treat_missing_data: "notBreaching".to_string(),
                actions: vec![topic.clone()],
            };
            Some((w, spec))
        })
        .collect()
}

/// The threshold attribute's value that `threshold` of an alarm stands for.
fn attribute_value(scale: Scale, threshold: f64) -> i64 {
    match scale {
        Scale::Same => threshold.round() as i64,
        Scale::PercentOf(whole) if whole > 0.0 => (threshold * 100.0 / whole).round() as i64,
        Scale::PercentOf(_) => 0,
    }
}

/// The dashboard: a row per component, its metrics as the AWS sample's "Operational aspects"
/// lists them; each widget's title names the component.
fn dashboard_body(state: &PipelineState, region: &str) -> String {
    let w = watched(state);
    let mut widgets: Vec<Json> = Vec::new();
    let mut widget = |title: String, stat: &str, metrics: Vec<Json>| {
        let n = widgets.len() as i64;
        widgets.push(json!({
            "type": "metric",
            "x": (n % 2) * 12,
            "y": (n / 2) * 6,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "view": "timeSeries",
                "stat": stat,
                "period": 60,
                "metrics": metrics,
            },
        }));
    };
    let metric = |ns: &str, name: &str, dims: &[(&str, &str)]| {
        let mut m = vec![json!(ns), json!(name)];
        for (k, v) in dims {
            m.push(json!(k));
            m.push(json!(v));
        }
        Json::Array(m)
    };
    for (_, name) in &w.streams {
        let d = [("StreamName", name.as_str())];
        widget(
            format!("Kinesis stream {name}: records and throttles"),
            "Sum",
            vec![
                metric("AWS/Kinesis", "IncomingRecords", &d),
                metric("AWS/Kinesis", "GetRecords.Records", &d),
                metric("AWS/Kinesis", "ReadProvisionedThroughputExceeded", &d),
                metric("AWS/Kinesis", "WriteProvisionedThroughputExceeded", &d),
            ],
        );
        widget(
            format!("Kinesis stream {name}: iterator age (ms)"),
            "Maximum",
            vec![metric(
                "AWS/Kinesis",
                "GetRecords.IteratorAgeMilliseconds",
                &d,
            )],
        );
    }
    if let Some(f) = &w.function {
        let d = [("FunctionName", f.as_str())];
        widget(
            format!("Lambda function {f}: invocations"),
            "Sum",
            vec![
                metric("AWS/Lambda", "Invocations", &d),
                metric("AWS/Lambda", "Errors", &d),
                metric("AWS/Lambda", "Throttles", &d),
                metric("AWS/Lambda", "ConcurrentExecutions", &d),
            ],
        );
        widget(
            format!("Lambda function {f}: duration and iterator age (ms)"),
            "Maximum",
            vec![
                metric("AWS/Lambda", "Duration", &d),
                metric("AWS/Lambda", "IteratorAge", &d),
            ],
        );
        widget(
            format!("Lambda function {f}: records"),
            "Sum",
            vec![
                metric("unifiedetl", "RecordsIn", &d),
                metric("unifiedetl", "RecordsWritten", &d),
                metric("unifiedetl", "RecordsDeadLettered", &d),
                metric("unifiedetl", "RecordsFailed", &d),
            ],
        );
    }
    for (_, name, _) in &w.tables {
        let d = [("TableName", name.as_str())];
        widget(
            format!("DynamoDB table {name}: capacity and throttles"),
            "Sum",
            vec![
                metric("AWS/DynamoDB", "ConsumedReadCapacityUnits", &d),
                metric("AWS/DynamoDB", "ConsumedWriteCapacityUnits", &d),
                metric("AWS/DynamoDB", "ReadThrottleEvents", &d),
                metric("AWS/DynamoDB", "WriteThrottleEvents", &d),
            ],
        );
    }
    if let Some((instance, task)) = &w.task {
        let d = [
            ("ReplicationInstanceIdentifier", instance.as_str()),
            ("ReplicationTaskIdentifier", task.as_str()),
        ];
        widget(
            format!("DMS replication task {task} on {instance}: CDC latency (s)"),
            "Maximum",
            vec![
                metric("AWS/DMS", "CDCLatencySource", &d),
                metric("AWS/DMS", "CDCLatencyTarget", &d),
            ],
        );
    }
    if let Some(lake) = &w.lake {
        let d = [("DeliveryStreamName", lake.as_str())];
        widget(
            format!("Firehose delivery stream {lake}: freshness (s) and records"),
            "Maximum",
            vec![
                metric("AWS/Firehose", "DeliveryToS3.DataFreshness", &d),
                metric("AWS/Firehose", "DeliveryToS3.Records", &d),
            ],
        );
    }
    json!({ "widgets": widgets }).to_string()
}

// ------------------------------------------------------------------------------ apply

fn tags_of(state: &PipelineState) -> BTreeMap<String, String> {
    state
        .tags_all
        .as_ref_option()
        .map(|t| {
            t.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_ref_option()?.clone())))
                .collect()
        })
        .unwrap_or_default()
}

/// Brings the block's components to `state` (the pipeline as applied: every other block's ids
/// recorded), into `state.monitoring`; removes what `prior` had that `state` no longer names.
/// With `core_failed`, only removes: new alarms wait for a pipeline that came up.
pub async fn apply(
    aws: &Aws,
    state: &mut PipelineState,
    prior: Option<&PipelineState>,
    core_failed: bool,
) -> Vec<String> {
    let mut errors = Vec::new();
    let prior_m = prior.and_then(|p| first(&p.monitoring).map(|m| (p, m)));
    let want = first(&state.monitoring)
        .filter(|m| matches!(m.enabled, Value::Value(true)))
        .cloned();
    let mut kept: BTreeMap<String, Value<String>> = BTreeMap::new();
    if let (Some(m), false) = (&want, core_failed) {
        let tags = tags_of(state);
        let managed = topic_managed(state, m);
        let topic_name = m
            .alarm_topic_arn
            .as_ref_option()
            .map(|a| arn_name(a))
            .unwrap_or_default();
        let log_group = m.log_group_name.as_ref_option().cloned();
        let function_up = state.persist.function_arn.is_value();
        let known_group = prior_m.is_some_and(|(_, p)| p.log_group_name == m.log_group_name);
        let specs = specs(state, m);
        let retag = prior.map(tags_of).is_some_and(|t| t != tags);
        // The topic, then the alarms that notify it; beside them the log group and the
        // dashboard, which need nothing of the others.
        let ((topic, alarms), group, dashboard) = tokio::join!(
            async {
                let topic = if managed {
                    sns::ensure(&aws.sns, &topic_name, &tags).await.map(Some)
                } else {
                    Ok(m.alarm_topic_arn.as_ref_option().cloned())
                };
                let alarms = match &topic {
                    Ok(Some(_)) => {
                        let planned = m.alarms.as_ref_option().cloned().unwrap_or_default();
                        Some(put_alarms(aws, &specs, &tags, retag, &planned).await)
                    }
                    _ => None,
                };
                (topic, alarms)
            },
            async {
                match (&log_group, function_up) {
                    (Some(name), true) => {
                        let days = m.log_retention_days.as_option().unwrap_or(30) as i32;
                        logs::ensure(&aws.logs, name, days, &tags, known_group)
                            .await
                            .map(|()| Some(name.clone()))
                    }
                    _ => Ok(None),
                }
            },
            put_dashboard(aws, state, m)
        );
        let topic = topic.map_err(|e| errors.push(e.message)).ok().flatten();
        let group = group.map_err(|e| errors.push(e.message)).ok().flatten();
        let mut recorded = m.clone();
        recorded.alarm_topic_arn = nullable(topic);
        recorded.log_group_name = nullable(group);
        match alarms {
            Some(Ok(arns)) => kept = arns.into_iter().map(|(k, v)| (k, some(v))).collect(),
            Some(Err(e)) => errors.extend(e),
            None => {}
        }
        recorded.dashboard_arn = dashboard
            .map_err(|e| errors.push(e.message))
            .ok()
            .map_or(Value::Null, Value::Value);
        recorded.alarms = some(kept.clone());
        state.monitoring = one(Some(recorded));
    } else if let Some(m) = first_mut(&mut state.monitoring) {
        // Nothing made: what a prior apply made stays recorded until it is removed below.
        let before = prior_m.map(|(_, p)| p.clone()).unwrap_or_default();
        m.alarms = if want.is_some() {
            before.alarms.clone()
        } else {
            some(BTreeMap::new())
        };
        m.dashboard_arn = if want.is_some() {
            before.dashboard_arn.clone()
        } else {
            Value::Null
        };
        m.log_group_name = if want.is_some() {
            before.log_group_name.clone()
        } else {
            Value::Null
        };
        if want.is_some() {
            m.alarm_topic_arn = before.alarm_topic_arn.clone();
        }
        if let Some(a) = m.alarms.as_ref_option() {
            kept = a.clone();
        }
    }
    // What the prior state had that this one no longer names.
    if let Some((p, pm)) = prior_m {
        let now = first(&state.monitoring).filter(|_| want.is_some());
        errors.extend(remove_unused(aws, p, pm, now, &kept).await);
    }
    errors
}

/// Alarms put at once.
const PUT_ALARM_CONCURRENCY: usize = 3;

/// Puts the alarms that are missing or differ (and re-tags all when the tags changed); the
/// ARNs by key of those that now exist, or the errors.
async fn put_alarms(
    aws: &Aws,
    specs: &[(Watch, AlarmSpec)],
    tags: &BTreeMap<String, String>,
    retag: bool,
    planned: &BTreeMap<String, Value<String>>,
) -> Result<BTreeMap<String, String>, Vec<String>> {
    let names: Vec<String> = specs.iter().map(|(_, s)| s.name.clone()).collect();
    let existing = cloudwatch::find_alarms(&aws.cloudwatch, &names)
        .await
        .map_err(|e| vec![e.message])?;
    // A few at a time: CloudWatch's quota for PutMetricAlarm is a few calls a second per
    // account, and a burst of 20 would spend the SDK's retries on throttling.
    use futures::StreamExt as _;
    let puts: Vec<_> = specs
        .iter()
        .map(|(w, spec)| {
            let found = existing.get(&spec.name);
            async move {
                match found {
                    Some(alarm) if alarm.spec == *spec => {
                        if retag {
                            let current =
                                cloudwatch::alarm_tags(&aws.cloudwatch, &alarm.arn).await?;
                            cloudwatch::retag_alarm(&aws.cloudwatch, &alarm.arn, &current, tags)
                                .await?;
                        }
                    }
                    Some(alarm) => {
                        cloudwatch::put_alarm(&aws.cloudwatch, spec, tags).await?;
                        if retag {
                            let current =
                                cloudwatch::alarm_tags(&aws.cloudwatch, &alarm.arn).await?;
                            cloudwatch::retag_alarm(&aws.cloudwatch, &alarm.arn, &current, tags)
                                .await?;
                        }
                    }
                    None => cloudwatch::put_alarm(&aws.cloudwatch, spec, tags).await?,
                }
                Ok::<_, crate::aws::AwsError>(w.key.clone())
            }
        })
        .collect();
    let results: Vec<_> = futures::stream::iter(puts)
        .buffer_unordered(PUT_ALARM_CONCURRENCY)
        .collect()
        .await;
    let mut errors = Vec::new();
    let mut done = Vec::new();
    for r in results {
        match r {
            Ok(key) => done.push(key),
            Err(e) => errors.push(e.message),
        }
    }
    // Their ARNs: as planned (built from their names), else as CloudWatch reports them.
    let unplanned = specs
        .iter()
        .any(|(w, _)| planned.get(&w.key).is_none_or(|a| !a.is_value()));
    let now = if unplanned {
        cloudwatch::find_alarms(&aws.cloudwatch, &names)
            .await
            .map_err(|e| vec![e.message])?
    } else {
        BTreeMap::new()
    };
    let arns = specs
        .iter()
        .filter(|(w, _)| done.contains(&w.key))
        .filter_map(|(w, s)| {
            let arn = match planned.get(&w.key).and_then(|a| a.as_ref_option()) {
                Some(arn) => arn.clone(),
                None => now.get(&s.name)?.arn.clone(),
            };
            Some((w.key.clone(), arn))
        })
        .collect();
    if errors.is_empty() {
        Ok(arns)
    } else {
        Err(errors)
    }
}

async fn put_dashboard(aws: &Aws, state: &PipelineState, m: &MonitoringBlock) -> AwsResult<String> {
    let name = need(&m.dashboard_name, "monitoring.dashboard_name")
        .map_err(crate::aws::AwsError::other)?;
    let body = dashboard_body(state, &aws.region);
    let found = cloudwatch::find_dashboard(&aws.cloudwatch, &name).await?;
    match found {
        Some(d) if same_json(&d.body, &body) => Ok(d.arn),
        _ => {
            cloudwatch::put_dashboard(&aws.cloudwatch, &name, &body).await?;
            // Its ARN as planned (built from its name), else as CloudWatch reports it.
            match m.dashboard_arn.as_ref_option() {
                Some(arn) => Ok(arn.clone()),
                None => {
                    let d = cloudwatch::find_dashboard(&aws.cloudwatch, &name).await?;
                    Ok(d.map(|d| d.arn).unwrap_or_default())
                }
            }
        }
    }
}

fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Json>(a),
        serde_json::from_str::<Json>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Deletes what `pm` (the prior state's block) made that `now` no longer names: alarms of keys
/// not `kept`, a renamed dashboard, a topic no longer used, the old function's log group.
async fn remove_unused(
    aws: &Aws,
    prior: &PipelineState,
    pm: &MonitoringBlock,
    now: Option<&MonitoringBlock>,
    kept: &BTreeMap<String, Value<String>>,
) -> Vec<String> {
    let mut errors = Vec::new();
    let pipeline = prior.name.as_ref_option().cloned().unwrap_or_default();
    let gone_alarms: Vec<String> = pm
        .alarms
        .as_ref_option()
        .map(|a| {
            a.keys()
                .filter(|k| !kept.contains_key(*k))
                .map(|k| format!("{pipeline}-{k}"))
                .collect()
        })
        .unwrap_or_default();
    if !gone_alarms.is_empty() {
        if let Err(e) = cloudwatch::delete_alarms(&aws.cloudwatch, &gone_alarms).await {
            errors.push(e.message);
        }
    }
    let changed = |get: fn(&MonitoringBlock) -> &Str| {
        let old = get(pm).as_ref_option()?;
        (now.and_then(|n| get(n).as_ref_option()) != Some(old)).then(|| old.clone())
    };
    if pm.dashboard_arn.is_value() {
        if let Some(name) = changed(|m| &m.dashboard_name).or_else(|| {
            now.is_none()
                .then(|| pm.dashboard_name.as_ref_option().cloned())
                .flatten()
        }) {
            if let Err(e) = cloudwatch::delete_dashboard(&aws.cloudwatch, &name).await {
                errors.push(e.message);
            }
        }
    }
    if topic_managed(prior, pm) {
        if let Some(arn) = changed(|m| &m.alarm_topic_arn) {
            if let Err(e) = sns::delete(&aws.sns, &arn).await {
                errors.push(e.message);
            }
        }
    }
    if let Some(name) = changed(|m| &m.log_group_name) {
        if let Err(e) = logs::delete(&aws.logs, &name).await {
            errors.push(e.message);
        }
    }
    errors
}

// ------------------------------------------------------------------------------ refresh

/// Reads the block's components: a missing or changed alarm drops out of `alarms` (a changed
/// threshold shows on its attribute instead), a missing or changed dashboard nulls
/// `dashboard_arn`, a missing topic the pipeline made nulls `alarm_topic_arn`, a missing log
/// group nulls `log_group_name`, and its retention shows on `log_retention_days`.
pub async fn refreshed(aws: &Aws, prior: &PipelineState) -> AwsResult<Option<MonitoringBlock>> {
    let Some(m) = first(&prior.monitoring) else {
        return Ok(None);
    };
    let mut fresh = m.clone();
    if !matches!(m.enabled, Value::Value(true)) {
        return Ok(Some(fresh));
    }
    let specs = specs(prior, m);
    let names: Vec<String> = specs.iter().map(|(_, s)| s.name.clone()).collect();
    let topic_arn = m
        .alarm_topic_arn
        .as_ref_option()
        .filter(|_| topic_managed(prior, m));
    let (alarms, dashboard, group, topic) = tokio::join!(
        cloudwatch::find_alarms(&aws.cloudwatch, &names),
        async {
            match m.dashboard_name.as_ref_option() {
                Some(name) => cloudwatch::find_dashboard(&aws.cloudwatch, name).await,
                None => Ok(None),
            }
        },
        async {
            match m.log_group_name.as_ref_option() {
                Some(name) => logs::find_untagged(&aws.logs, name).await,
                None => Ok(None),
            }
        },
        async {
            match topic_arn {
                Some(arn) => sns::find(&aws.sns, arn).await.map(|t| t.is_some()),
                None => Ok(true),
            }
        }
    );
    let (alarms, dashboard, group, topic) = (alarms?, dashboard?, group?, topic?);
    let mut recorded = m.alarms.as_ref_option().cloned().unwrap_or_default();
    for (w, spec) in &specs {
        match alarms.get(&spec.name) {
            None => {
                recorded.remove(&w.key);
            }
            Some(alarm) if alarm.spec == *spec => {}
            Some(alarm) => {
                let threshold_only = AlarmSpec {
                    threshold: spec.threshold,
                    ..alarm.spec.clone()
                } == *spec;
                if threshold_only {
                    *threshold_mut(&mut fresh, w.attr) =
                        some(attribute_value(w.scale, alarm.spec.threshold));
                } else {
                    recorded.remove(&w.key);
                }
            }
        }
    }
    fresh.alarms = some(recorded);
    let body = dashboard_body(prior, &aws.region);
    fresh.dashboard_arn = match dashboard {
        Some(d) if same_json(&d.body, &body) => some(d.arn),
        _ => Value::Null,
    };
    match group {
        Some(g) => {
            fresh.log_retention_days = g.retention_days.map_or(Value::Null, |d| some(i64::from(d)))
        }
        None => fresh.log_group_name = Value::Null,
    }
    if !topic {
        fresh.alarm_topic_arn = Value::Null;
    }
    Ok(Some(fresh))
}

// ------------------------------------------------------------------------------ import

/// After the rest of an import: a monitoring block when the pipeline's dashboard or any of its
/// alarms exists under the default names, read back as [`refreshed`] reads it.
pub async fn import(
    aws: &Aws,
    identity: &Identity,
    state: &mut PipelineState,
    function_logging: Option<crate::aws::lambda::Logging>,
) -> Result<(), String> {
    let mut config = state.clone();
    config.monitoring = one(Some(MonitoringBlock::default()));
    let mut candidate = state.clone();
    plan(&config, identity, &mut candidate);
    let Some(m) = first(&candidate.monitoring).cloned() else {
        return Ok(());
    };
    let pipeline = candidate.name.as_ref_option().cloned().unwrap_or_default();
    let dashboard = m
        .dashboard_name
        .as_ref_option()
        .cloned()
        .unwrap_or_default();
    // Every alarm of the pipeline's names, whatever the state read so far knows of the
    // components (a function's timeout, a sink's capacity) that call for them.
    let keys = every_key();
    let prefix = format!("{pipeline}-");
    let (names, found_dashboard) = tokio::join!(
        cloudwatch::alarm_names_with_prefix(&aws.cloudwatch, &prefix),
        cloudwatch::find_dashboard(&aws.cloudwatch, &dashboard)
    );
    let names: Vec<String> = names
        .map_err(|e| e.message)?
        .into_iter()
        .filter(|n| {
            n.strip_prefix(&prefix)
                .is_some_and(|k| keys.iter().any(|key| key == k))
        })
        .collect();
    let alarms = cloudwatch::find_alarms(&aws.cloudwatch, &names).await;
    let alarms = alarms.map_err(|e| e.message)?;
    if alarms.is_empty() && found_dashboard.map_err(|e| e.message)?.is_none() {
        return Ok(());
    }
    // Every alarm found is recorded: a changed one shows in the first plan.
    let mut imported = m.clone();
    imported.alarms = some(
        keys.iter()
            .filter_map(|key| {
                let alarm = alarms.get(&format!("{pipeline}-{key}"))?;
                Some((key.clone(), some(alarm.arn.clone())))
            })
            .collect(),
    );
    // The topic the alarms notify, when it is not the pipeline's own.
    if let Some(action) = alarms
        .values()
        .find_map(|a| a.spec.actions.first().cloned())
    {
        imported.alarm_topic_arn = some(action);
    }
    candidate.monitoring = one(Some(imported));
    let fresh = refreshed(aws, &candidate).await.map_err(|e| e.message)?;
    state.monitoring = one(fresh);
    logging_seen(state, function_logging);
    Ok(())
}

// ------------------------------------------------------------------------------ destroy

/// Deletes the alarms, the dashboard, the topic the pipeline made, and the function's log
/// group (after the function: see the module's note).
pub async fn destroy(aws: &Aws, state: &PipelineState) -> Vec<String> {
    let Some(m) = first(&state.monitoring) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    let pipeline = state.name.as_ref_option().cloned().unwrap_or_default();
    let names: Vec<String> = m
        .alarms
        .as_ref_option()
        .map(|a| a.keys().map(|k| format!("{pipeline}-{k}")).collect())
        .unwrap_or_default();
    // All at once: an alarm may outlive its topic for a moment, and the function is gone.
    let (alarms, dashboard, topic, group) = tokio::join!(
        async {
            if names.is_empty() {
                Ok(())
            } else {
                cloudwatch::delete_alarms(&aws.cloudwatch, &names).await
            }
        },
        async {
            match (m.dashboard_name.as_ref_option(), m.dashboard_arn.is_value()) {
                (Some(name), true) => cloudwatch::delete_dashboard(&aws.cloudwatch, name).await,
                _ => Ok(()),
            }
        },
        async {
            match m.alarm_topic_arn.as_ref_option() {
                Some(arn) if topic_managed(state, m) => sns::delete(&aws.sns, arn).await,
                _ => Ok(()),
            }
        },
        async {
            match m.log_group_name.as_ref_option() {
                Some(name) => logs::delete(&aws.logs, name).await,
                None => Ok(()),
            }
        }
    );
    for r in [alarms, dashboard, topic, group] {
        if let Err(e) = r {
            errors.push(e.message);
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline() -> PipelineState {
        let mut s = PipelineState {
            name: text("orders"),
            ..Default::default()
        };
        s.cdc_stream.name = text("orders-cdc");
        s.enriched_stream.name = text("orders-enriched");
        s.sink.name = text("orders-sink");
        s.sink.billing_mode = text("PROVISIONED");
        s.sink.read_capacity = some(300);
        s.sink.write_capacity = some(3000);
        s.persist.function_name = text("orders-persist");
        s.persist.timeout = some(60);
        s
    }

    fn planned(config: &MonitoringBlock) -> (PipelineState, MonitoringBlock) {
        let mut c = pipeline();
        c.monitoring = one(Some(config.clone()));
        let mut p = pipeline();
        plan(&c, &Identity::for_tests(), &mut p);
        let m = first(&p.monitoring).cloned().expect("planned");
        (p, m)
    }

    #[test]
    fn every_default_threshold_and_name_is_planned() {
        let (_, m) = planned(&MonitoringBlock::default());
        assert!(m.enabled == some(true));
        assert!(m.alarm_topic_arn == text("arn:aws:sns:us-east-1:123456789012:orders-alarms"));
        assert!(m.log_group_name == text("/aws/lambda/orders-persist"));
        assert!(m.log_retention_days == some(30));
        assert!(m.log_format == text("JSON") && m.log_level == text("INFO"));
        let (_, text_logs) = planned(&MonitoringBlock {
            log_format: text("Text"),
            ..Default::default()
        });
        assert!(text_logs.log_level.is_null());
        assert!(m.iterator_age_ms == some(60_000));
        assert!(m.dashboard_arn == text("arn:aws:cloudwatch::123456789012:dashboard/orders"));
        let keys: Vec<String> = m.alarms.as_ref_option().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "cdc-iterator-age",
                "cdc-read-throughput-exceeded",
                "cdc-write-throughput-exceeded",
                "enriched-iterator-age",
                "enriched-read-throughput-exceeded",
                "enriched-write-throughput-exceeded",
                "function-duration",
                "function-errors",
                "function-iterator-age",
                "function-throttles",
                "records-dead-lettered",
                "records-failed",
                "sink-read-capacity",
                "sink-read-throttles",
                "sink-write-capacity",
                "sink-write-throttles",
            ]
        );
    }

    #[test]
    fn percentages_become_thresholds_of_the_timeout_and_the_capacity_and_read_back() {
        let (p, m) = planned(&MonitoringBlock {
            duration_percent: some(50),
            ..Default::default()
        });
        let specs = specs(&p, &m);
        let find = |key: &str| {
            specs
                .iter()
                .find(|(w, _)| w.key == key)
                .map(|(w, s)| (w.scale, s.threshold))
                .unwrap()
        };
        let (scale, duration) = find("function-duration");
        assert_eq!(duration, 30_000.0);
        assert_eq!(attribute_value(scale, 45_000.0), 75);
        let (scale, write) = find("sink-write-capacity");
        assert_eq!(write, 3000.0 * 60.0 * 0.8);
        assert_eq!(attribute_value(scale, write), 80);
    }

    #[test]
    fn a_disabled_block_plans_no_alarms_and_bad_values_name_their_attribute() {
        let (_, m) = planned(&MonitoringBlock {
            enabled: some(false),
            ..Default::default()
        });
        assert!(m.alarms == some(BTreeMap::new()));
        assert!(m.log_group_name.is_null());
        let mut c = pipeline();
        c.monitoring = one(Some(MonitoringBlock {
            log_retention_days: some(31),
            alarm_topic_arn: text("orders-alarms"),
            duration_percent: some(120),
            log_format: text("Text"),
            log_level: text("DEBUG"),
            ..Default::default()
        }));
        let mut diags = Diagnostics::default();
        validate(&c, &mut diags);
        let errors: Vec<String> = diags.errors.iter().map(|d| d.detail.to_string()).collect();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].contains("`monitoring.log_retention_days` must be one of"));
        assert!(errors[1].contains("an SNS topic's ARN"));
        assert!(errors[2].contains("`monitoring.log_level` applies to JSON logs only"));
        assert!(errors[3].contains("`monitoring.duration_percent` must be between 1 and 100"));
    }

    #[test]
    fn the_dashboard_names_every_component() {
        let mut p = pipeline();
        p.persist.function_name = text("orders-persist");
        let body = dashboard_body(&p, "us-east-1");
        for name in [
            "orders-cdc",
            "orders-enriched",
            "orders-sink",
            "orders-persist",
        ] {
            assert!(body.contains(name), "{name} not in {body}");
        }
    }
}
