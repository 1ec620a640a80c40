//! The state Terraform stores for `unifiedetl_pipeline`: one serde type, each block's part a
//! struct here that its module (`blocks/`) plans, applies, reads and imports; each block's
//! schema is in its module, put together in `mod.rs`.
//!
//! Component blocks use Terraform's "group" nesting: a block may be left out entirely (all of
//! its settings take their defaults) and the provider can still report the component's
//! computed names and ARNs inside it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tf_provider::value::Value;

pub type Str = Value<String>;
pub type Num = Value<i64>;
pub type Bool = Value<bool>;
pub type Tags = Value<BTreeMap<String, Value<String>>>;

/// The whole resource.
///
/// Blocks read as all-null when absent or null: a state written by an earlier provider version
/// has no block that version did not know (`analytics`, say), and Terraform hands it over as null.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct PipelineState {
    #[serde(default)]
    pub id: Str,
    #[serde(default)]
    pub name: Str,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub tags_all: Tags,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cdc_stream: StreamBlock,
    #[serde(default, deserialize_with = "null_as_default")]
    pub enriched_stream: StreamBlock,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sink: SinkBlock,
    #[serde(default, deserialize_with = "null_as_default")]
    pub persist: PersistBlock,
    #[serde(default, deserialize_with = "null_as_default")]
    pub analytics: AnalyticsBlock,
    /// At most one element: absent means no DMS source is managed.
    #[serde(default)]
    pub source: Value<Vec<Value<SourceBlock>>>,
    /// At most one element: absent means no data lake.
    #[serde(default)]
    pub data_lake: Value<Vec<Value<DataLakeBlock>>>,
    /// At most one element: absent means no alarms, dashboard or managed log group.
    #[serde(default)]
    pub monitoring: Value<Vec<Value<MonitoringBlock>>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub timeouts: TimeoutsBlock,
}

impl PipelineState {
    /// The `source` block, when the configuration has one.
    pub fn source(&self) -> Option<&SourceBlock> {
        first(&self.source)
    }

    /// The `data_lake` block, when the configuration has one.
    pub fn data_lake(&self) -> Option<&DataLakeBlock> {
        first(&self.data_lake)
    }
}

pub fn first<T>(blocks: &Value<Vec<Value<T>>>) -> Option<&T> {
    blocks.as_ref_option()?.first()?.as_ref_option()
}

/// A block nesting as a list of at most one element: its element, to change.
pub fn first_mut<T>(blocks: &mut Value<Vec<Value<T>>>) -> Option<&mut T> {
    match blocks {
        Value::Value(list) => list.first_mut().and_then(|b| b.as_mut_option()),
        _ => None,
    }
}

/// A block nesting as a list of at most one element, from the block or its absence.
pub fn one<T>(block: Option<T>) -> Value<Vec<Value<T>>> {
    Value::Value(block.map(Value::Value).into_iter().collect())
}

pub type Strings = Value<Vec<Value<String>>>;

/// `source`: DMS from MySQL into the CDC stream.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct SourceBlock {
    #[serde(default)]
    pub server_name: Str,
    #[serde(default)]
    pub port: Num,
    #[serde(default)]
    pub database_name: Str,
    #[serde(default)]
    pub username: Str,
    #[serde(default)]
    pub password: Str,
    #[serde(default)]
    pub secrets_manager_secret_arn: Str,
    #[serde(default)]
    pub ssl_mode: Str,
    #[serde(default)]
    pub certificate_arn: Str,
    #[serde(default)]
    pub subnet_ids: Strings,
    #[serde(default)]
    pub replication_subnet_group_id: Str,
    #[serde(default)]
    pub replication_instance_id: Str,
    #[serde(default)]
    pub replication_instance_class: Str,
    #[serde(default)]
    pub allocated_storage: Num,
    #[serde(default)]
    pub engine_version: Str,
    #[serde(default)]
    pub multi_az: Bool,
    #[serde(default)]
    pub publicly_accessible: Bool,
    #[serde(default)]
    pub vpc_security_group_ids: Strings,
    #[serde(default)]
    pub source_endpoint_id: Str,
    #[serde(default)]
    pub target_endpoint_id: Str,
    #[serde(default)]
    pub partition_key_type: Str,
    #[serde(default)]
    pub replication_task_id: Str,
    #[serde(default)]
    pub migration_type: Str,
    #[serde(default)]
    pub tables: Value<BTreeMap<String, Strings>>,
    #[serde(default)]
    pub table_mappings: Str,
    #[serde(default)]
    pub task_settings: Str,
    #[serde(default)]
    pub start_replication: Bool,
    #[serde(default)]
    pub role_name: Str,
    #[serde(default)]
    pub role_arn: Str,
    #[serde(default)]
    pub replication_instance_arn: Str,
    #[serde(default)]
    pub source_endpoint_arn: Str,
    #[serde(default)]
    pub target_endpoint_arn: Str,
    #[serde(default)]
    pub replication_task_arn: Str,
}

/// `data_lake`: Firehose from the CDC stream into S3.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct DataLakeBlock {
    #[serde(default)]
    pub delivery_stream_name: Str,
    #[serde(default)]
    pub bucket: Str,
    #[serde(default)]
    pub prefix: Str,
    #[serde(default)]
    pub error_prefix: Str,
    #[serde(default)]
    pub buffering_size_mb: Num,
    #[serde(default)]
    pub buffering_interval_seconds: Num,
    #[serde(default)]
    pub compression: Str,
    #[serde(default)]
    pub force_destroy: Bool,
    #[serde(default)]
    pub role_name: Str,
    #[serde(default)]
    pub role_arn: Str,
    #[serde(default)]
    pub bucket_arn: Str,
    #[serde(default)]
    pub delivery_stream_arn: Str,
}

/// `monitoring`: alarms, their topic, a dashboard and the function's log group.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct MonitoringBlock {
    #[serde(default)]
    pub enabled: Bool,
    #[serde(default)]
    pub alarm_topic_arn: Str,
    #[serde(default)]
    pub dashboard_name: Str,
    #[serde(default)]
    pub log_retention_days: Num,
    #[serde(default)]
    pub log_format: Str,
    #[serde(default)]
    pub log_level: Str,
    #[serde(default)]
    pub iterator_age_ms: Num,
    #[serde(default)]
    pub throughput_exceeded: Num,
    #[serde(default)]
    pub function_errors: Num,
    #[serde(default)]
    pub function_throttles: Num,
    #[serde(default)]
    pub duration_percent: Num,
    #[serde(default)]
    pub records_dead_lettered: Num,
    #[serde(default)]
    pub records_failed: Num,
    #[serde(default)]
    pub throttle_events: Num,
    #[serde(default)]
    pub capacity_percent: Num,
    #[serde(default)]
    pub cdc_latency_seconds: Num,
    #[serde(default)]
    pub lake_freshness_seconds: Num,
    #[serde(default)]
    pub alarms: Tags,
    #[serde(default)]
    pub dashboard_arn: Str,
    #[serde(default)]
    pub log_group_name: Str,
}

/// `timeouts`: how long create, update and delete may wait for components to settle.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct TimeoutsBlock {
    #[serde(default)]
    pub create: Str,
    #[serde(default)]
    pub update: Str,
    #[serde(default)]
    pub delete: Str,
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `analytics.children[*]`.
#[derive(Serialize, Deserialize, Clone, Default, PartialEq)]
pub struct ChildTable {
    #[serde(default)]
    pub table: Str,
    #[serde(default)]
    pub parent_key: Str,
    #[serde(default)]
    pub key: Str,
}

/// `analytics.lookups[*]`.
#[derive(Serialize, Deserialize, Clone, Default, PartialEq)]
pub struct LookupSource {
    #[serde(default)]
    pub name: Str,
    #[serde(default)]
    pub file: Str,
    #[serde(default)]
    pub from: Str,
    #[serde(default, rename = "match")]
    pub match_column: Str,
}

pub type Children = Value<Vec<Value<ChildTable>>>;
pub type Lookups = Value<Vec<Value<LookupSource>>>;

/// `analytics`: where the enrichment runs. With `engine = "lambda"` the function reads the CDC
/// stream and correlates the tables itself (state in a DynamoDB table, reference data in S3).
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct AnalyticsBlock {
    #[serde(default)]
    pub engine: Str,
    #[serde(default)]
    pub schema: Str,
    #[serde(default)]
    pub parent_table: Str,
    #[serde(default)]
    pub parent_key: Str,
    #[serde(default)]
    pub children: Children,
    #[serde(default)]
    pub lookups: Lookups,
    #[serde(default)]
    pub columns: Tags,
    #[serde(default)]
    pub publish_enriched: Bool,
    #[serde(default)]
    pub state_table: Str,
    #[serde(default)]
    pub state_table_arn: Str,
    #[serde(default)]
    pub reference_bucket: Str,
    #[serde(default)]
    pub reference_bucket_arn: Str,
    #[serde(default)]
    pub reference_objects: Tags,
    // `engine = "kinesis-analytics-sql"`: the SQL application.
    #[serde(default)]
    pub application_name: Str,
    #[serde(default)]
    pub description: Str,
    #[serde(default)]
    pub code: Str,
    #[serde(default)]
    pub schema_ddl: Str,
    #[serde(default)]
    pub start: Bool,
    #[serde(default)]
    pub role_name: Str,
    #[serde(default)]
    pub role_arn: Str,
    #[serde(default)]
    pub application_arn: Str,
    #[serde(default)]
    pub application_version_id: Num,
    #[serde(default, deserialize_with = "null_as_default")]
    pub input: SqlInputBlock,
    #[serde(default)]
    pub reference: Value<Vec<Value<SqlReferenceBlock>>>,
    #[serde(default)]
    pub output: Value<Vec<Value<SqlOutputBlock>>>,
}

impl AnalyticsBlock {
    /// `engine = "lambda"`: the bundled function correlates the tables itself.
    pub fn lambda_engine(&self) -> bool {
        self.engine
            .as_ref_option()
            .is_some_and(|e| e == ENGINE_LAMBDA)
    }

    /// `engine = "kinesis-analytics-sql"`: a Kinesis Data Analytics SQL application.
    pub fn sql_engine(&self) -> bool {
        self.engine.as_ref_option().is_some_and(|e| e == ENGINE_SQL)
    }

    /// The configured `reference` blocks.
    pub fn references(&self) -> Vec<&SqlReferenceBlock> {
        all(&self.reference)
    }

    /// The configured `output` blocks.
    pub fn outputs(&self) -> Vec<&SqlOutputBlock> {
        all(&self.output)
    }
}

pub const ENGINE_LAMBDA: &str = "lambda";
pub const ENGINE_SQL: &str = "kinesis-analytics-sql";

fn all<T>(blocks: &Value<Vec<Value<T>>>) -> Vec<&T> {
    blocks
        .as_ref_option()
        .map(|v| v.iter().filter_map(Value::as_ref_option).collect())
        .unwrap_or_default()
}

/// One column of an in-application stream or table: name, SQL type, JSONPath.
#[derive(Serialize, Deserialize, Clone, Default, PartialEq)]
pub struct SqlColumn {
    #[serde(default)]
    pub name: Str,
    #[serde(default)]
    pub sql_type: Str,
    #[serde(default)]
    pub mapping: Str,
}

pub type SqlColumns = Value<Vec<Value<SqlColumn>>>;

/// `analytics.input`: the SQL application's one input, on the CDC stream.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct SqlInputBlock {
    #[serde(default)]
    pub name_prefix: Str,
    #[serde(default)]
    pub row_path: Str,
    #[serde(default)]
    pub columns: SqlColumns,
    #[serde(default)]
    pub starting_position: Str,
    #[serde(default)]
    pub parallelism: Num,
    #[serde(default)]
    pub in_application_stream: Str,
}

/// `analytics.reference`: a reference table loaded from an S3 object.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct SqlReferenceBlock {
    #[serde(default)]
    pub table_name: Str,
    #[serde(default)]
    pub file: Str,
    #[serde(default)]
    pub key: Str,
    #[serde(default)]
    pub row_path: Str,
    #[serde(default)]
    pub columns: SqlColumns,
}

/// `analytics.output`: an in-application stream written to a Kinesis stream.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct SqlOutputBlock {
    #[serde(default)]
    pub name: Str,
    #[serde(default)]
    pub stream_name: Str,
    #[serde(default)]
    pub format: Str,
}

/// `cdc_stream` and `enriched_stream`.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct StreamBlock {
    #[serde(default)]
    pub name: Str,
    #[serde(default)]
    pub stream_mode: Str,
    #[serde(default)]
    pub shard_count: Num,
    #[serde(default)]
    pub retention_hours: Num,
    #[serde(default)]
    pub encryption_type: Str,
    #[serde(default)]
    pub kms_key_id: Str,
    #[serde(default)]
    pub arn: Str,
}

/// `sink`: the DynamoDB table.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct SinkBlock {
    #[serde(default)]
    pub name: Str,
    #[serde(default)]
    pub partition_key: Str,
    #[serde(default)]
    pub partition_key_type: Str,
    #[serde(default)]
    pub sort_key: Str,
    #[serde(default)]
    pub sort_key_type: Str,
    #[serde(default)]
    pub billing_mode: Str,
    #[serde(default)]
    pub read_capacity: Num,
    #[serde(default)]
    pub write_capacity: Num,
    #[serde(default)]
    pub server_side_encryption: Bool,
    #[serde(default)]
    pub kms_key_arn: Str,
    #[serde(default)]
    pub point_in_time_recovery: Bool,
    #[serde(default)]
    pub deletion_protection: Bool,
    #[serde(default)]
    pub force_destroy: Bool,
    #[serde(default)]
    pub arn: Str,
}

/// `persist`: the bundled function, its role and its event source mapping.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct PersistBlock {
    #[serde(default)]
    pub function_name: Str,
    #[serde(default)]
    pub role_name: Str,
    #[serde(default)]
    pub architecture: Str,
    #[serde(default)]
    pub memory_size: Num,
    #[serde(default)]
    pub timeout: Num,
    #[serde(default)]
    pub artifact: Str,
    #[serde(default)]
    pub artifact_sha256: Str,
    #[serde(default)]
    pub batch_size: Num,
    #[serde(default)]
    pub maximum_batching_window_seconds: Num,
    #[serde(default)]
    pub parallelization_factor: Num,
    #[serde(default)]
    pub starting_position: Str,
    #[serde(default)]
    pub bisect_batch_on_function_error: Bool,
    #[serde(default)]
    pub maximum_retry_attempts: Num,
    #[serde(default)]
    pub maximum_record_age_seconds: Num,
    #[serde(default)]
    pub write_concurrency: Num,
    #[serde(default)]
    pub version_attribute: Str,
    #[serde(default)]
    pub dead_letter_bucket: Str,
    #[serde(default)]
    pub dead_letter_prefix: Str,
    #[serde(default)]
    pub dead_letter_force_destroy: Bool,
    #[serde(default)]
    pub dead_letter_bucket_arn: Str,
    #[serde(default)]
    pub function_arn: Str,
    #[serde(default)]
    pub role_arn: Str,
    #[serde(default)]
    pub event_source_mapping_id: Str,
    #[serde(default)]
    pub function_version: Str,
    #[serde(default)]
    pub function_response_types: Strings,
    #[serde(default)]
    pub on_failure_destination_arn: Str,
    #[serde(default)]
    pub enabled: Bool,
}
