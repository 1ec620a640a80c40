//! The `unifiedetl_pipeline` schema and the state Terraform stores for it.
//!
//! Component blocks use Terraform's "group" nesting: a block may be left out entirely (all of
//! its settings take their defaults) and the provider can still report the component's
//! computed names and ARNs inside it.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeType, Block, Description, NestedBlock, Schema};
use tf_provider::value::Value;

use crate::schema::{
    block, computed, defaulted, group, optional, required, sensitive, string_list, string_map,
};

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

fn first<T>(blocks: &Value<Vec<Value<T>>>) -> Option<&T> {
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
    pub function_response_types: Strings,
    #[serde(default)]
    pub on_failure_destination_arn: Str,
}

/// `source`: DMS from MySQL into the CDC stream.
fn source_block() -> NestedBlock {
    NestedBlock::Optional(block(
        "DMS from MySQL into the CDC stream: a replication instance (in its subnet group), the MySQL source endpoint, the Kinesis target endpoint on `cdc_stream`, the replication task, and the DMS role. Omit the block when something else fills the CDC stream. A real account also needs the account-level `dms-vpc-role` (see the provider docs).",
        vec![
            ("server_name", optional(AttributeType::String, "MySQL host name. Required unless `secrets_manager_secret_arn` is set (the secret then holds host, port, user and password).")),
            ("port", defaulted(AttributeType::Number, "MySQL port (default `3306`).")),
            ("database_name", optional(AttributeType::String, "Database to connect to. Optional for MySQL (the tables name their schema).")),
            ("username", optional(AttributeType::String, "MySQL user for replication (needs `REPLICATION CLIENT`, `REPLICATION SLAVE` and `SELECT` on the tables). Required with `password`.")),
            ("password", sensitive(optional(AttributeType::String, "Its password. Sensitive: never shown, never logged; AWS never returns it, so a password changed out of band is not seen. Give this or `secrets_manager_secret_arn`."))),
            ("secrets_manager_secret_arn", optional(AttributeType::String, "ARN of a Secrets Manager secret holding the connection (`host`, `port`, `username`, `password`), instead of `server_name`/`username`/`password`. The DMS role is granted `GetSecretValue` on exactly this secret.")),
            ("ssl_mode", defaulted(AttributeType::String, "`require` (default), `verify-ca`, `verify-full` (both need `certificate_arn`) or `none`.")),
            ("certificate_arn", optional(AttributeType::String, "DMS certificate for `verify-ca` / `verify-full`.")),
            ("subnet_ids", optional(string_list(), "Subnets (in at least two Availability Zones) for a replication subnet group the pipeline creates. Unset: use `replication_subnet_group_id`, or the account's default VPC.")),
            ("replication_subnet_group_id", defaulted(AttributeType::String, "The replication subnet group: with `subnet_ids`, the one the pipeline creates (default `<name>-dms`, lowercase); without, an existing group to use.")),
            ("replication_instance_id", defaulted(AttributeType::String, "Replication instance identifier. Default `<name>-dms` (lowercase, `_` as `-`). Changing it recreates the instance and the task in place.")),
            ("replication_instance_class", defaulted(AttributeType::String, "Instance class (default `dms.t3.medium`). Updates in place.")),
            ("allocated_storage", defaulted(AttributeType::Number, "Storage in GiB, 5 to 6144 (default `50`); it can grow in place, never shrink.")),
            ("engine_version", defaulted(AttributeType::String, "DMS engine version. Default: AWS's current default, kept from then on. Updates in place.")),
            ("multi_az", defaulted(AttributeType::Bool, "A standby in a second Availability Zone (default `false`). Updates in place.")),
            ("publicly_accessible", defaulted(AttributeType::Bool, "Give the instance a public IP (default `false`). Changing it recreates the instance and the task in place.")),
            ("vpc_security_group_ids", optional(string_list(), "Security groups of the instance (default: the VPC's default group). Order does not matter. Updates in place.")),
            ("source_endpoint_id", defaulted(AttributeType::String, "MySQL endpoint identifier. Default `<name>-mysql`. Changing it recreates the endpoint and the task in place.")),
            ("target_endpoint_id", defaulted(AttributeType::String, "Kinesis endpoint identifier. Default `<name>-kinesis`. Changing it recreates the endpoint and the task in place.")),
            ("partition_key_type", defaulted(AttributeType::String, "How DMS partitions records over the CDC stream's shards: `primary-key` (default: each row's changes in order on one shard, tables spread over all shards) or `schema-table` (a whole table on one shard: ordered across rows, but one shard's throughput). Part of the generated table mappings.")),
            ("replication_task_id", defaulted(AttributeType::String, "Replication task identifier. Default `<name>-cdc`. Changing it recreates the task in place.")),
            ("migration_type", defaulted(AttributeType::String, "`full-load-and-cdc` (default: existing rows as `load` records, then changes) or `cdc` (changes from now on). Updates in place (the task is stopped, modified and resumed).")),
            ("tables", optional(AttributeType::Map(Box::new(AttributeType::List(Box::new(AttributeType::String)))), "Tables to replicate, per schema: `{ orders = [\"order\", \"order_item\"] }` (`%` is DMS's wildcard). Generates `table_mappings`. Give this or `table_mappings`.")),
            ("table_mappings", defaulted(AttributeType::String, "DMS table mappings JSON, instead of `tables` (use `jsonencode` or `file`). Compared as normalised JSON (key order, spacing and rule order do not count). With `tables`: the generated mappings. Updates in place (stop, modify, resume).")),
            ("task_settings", optional(AttributeType::String, "DMS task settings JSON (optional). Only the settings given are managed: AWS's defaults for the rest never show as a difference. Updates in place (stop, modify, resume).")),
            ("start_replication", defaulted(AttributeType::Bool, "Start the task once created, and resume it after a change (default `true`). `false` never stops a running task.")),
            ("role_name", defaulted(AttributeType::String, "The DMS role (writes the CDC stream, reads the secret). Default `<name>-dms`.")),
            ("role_arn", computed(AttributeType::String, "The DMS role's ARN.")),
            ("replication_instance_arn", computed(AttributeType::String, "The replication instance's ARN.")),
            ("source_endpoint_arn", computed(AttributeType::String, "The MySQL endpoint's ARN.")),
            ("target_endpoint_arn", computed(AttributeType::String, "The Kinesis endpoint's ARN.")),
            ("replication_task_arn", computed(AttributeType::String, "The replication task's ARN.")),
        ],
    ))
}

/// `data_lake`: Firehose from the CDC stream into S3.
fn data_lake_block() -> NestedBlock {
    NestedBlock::Optional(block(
        "The data lake: a Firehose delivery stream reading `cdc_stream` and writing the raw CDC records to S3, partitioned by date. Omit the block for no lake.",
        vec![
            ("delivery_stream_name", defaulted(AttributeType::String, "Firehose delivery stream name. Default `<name>-lake`. Changing it recreates the delivery stream in place.")),
            ("bucket", defaulted(AttributeType::String, "The lake bucket. Default: one the pipeline creates, `<name>-lake-<account id>` (lowercase); name an existing bucket to use it instead (never created or deleted then).")),
            ("prefix", defaulted(AttributeType::String, "Object key prefix, with Firehose's expressions. Default `cdc/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/` (Hive-style date partitions, in UTC).")),
            ("error_prefix", defaulted(AttributeType::String, "Key prefix of records Firehose could not deliver. Default `errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/`.")),
            ("buffering_size_mb", defaulted(AttributeType::Number, "Deliver when this many MiB are buffered, 1 to 128 (default `5`).")),
            ("buffering_interval_seconds", defaulted(AttributeType::Number, "…or when the oldest buffered record is this old, 0 to 900 seconds (default `300`).")),
            ("compression", defaulted(AttributeType::String, "`GZIP` (default), `UNCOMPRESSED`, `ZIP`, `Snappy` or `HADOOP_SNAPPY`.")),
            ("force_destroy", defaulted(AttributeType::Bool, "Whether destroying the pipeline may delete a lake bucket it created that still holds objects (default `false`: destroy stops and says so, so nothing is lost).")),
            ("role_name", defaulted(AttributeType::String, "The Firehose role. Default `<name>-firehose`.")),
            ("role_arn", computed(AttributeType::String, "The Firehose role's ARN.")),
            ("bucket_arn", computed(AttributeType::String, "The lake bucket's ARN.")),
            ("delivery_stream_arn", computed(AttributeType::String, "The delivery stream's ARN.")),
        ],
    ))
}

fn stream_block(which: &str, default_suffix: &str) -> NestedBlock {
    group(
        &format!("The {which} Kinesis data stream. May be omitted: every setting has a default."),
        vec![
            ("name", defaulted(AttributeType::String, &format!("Stream name. Default `<name>-{default_suffix}`. Changing it replaces the pipeline."))),
            ("stream_mode", defaulted(AttributeType::String, "Capacity mode: `PROVISIONED` (default) or `ON_DEMAND`. Updates in place.")),
            ("shard_count", defaulted(AttributeType::Number, "Shards when `stream_mode` is `PROVISIONED` (1 to 500, default `1`); must be unset for `ON_DEMAND`. Updates in place (uniform scaling).")),
            ("retention_hours", defaulted(AttributeType::Number, "How long records stay in the stream, 24 to 8760 hours (default `24`). Updates in place.")),
            ("encryption_type", defaulted(AttributeType::String, "Server-side encryption: `KMS` (default) or `NONE`. Updates in place.")),
            ("kms_key_id", defaulted(AttributeType::String, "KMS key for `KMS` encryption: key id, ARN, alias name or alias ARN. Default `alias/aws/kinesis` (the AWS-managed key). Updates in place.")),
            ("arn", computed(AttributeType::String, "The stream's ARN.")),
        ],
    )
}

/// The resource schema.
pub fn schema() -> Schema {
    let mut blocks = HashMap::new();
    blocks.insert(
        "cdc_stream".to_string(),
        stream_block("CDC (\"unified\")", "cdc"),
    );
    blocks.insert(
        "enriched_stream".to_string(),
        stream_block("enriched", "enriched"),
    );
    blocks.insert(
        "sink".to_string(),
        group(
            "The DynamoDB table the persist function writes the enriched rows to.",
            vec![
                ("name", defaulted(AttributeType::String, "Table name. Default `<name>-sink`. Changing it replaces the pipeline.")),
                ("partition_key", optional(AttributeType::String, "Name of the partition (hash) key attribute, e.g. `orderId`. Required. Changing it replaces the pipeline.")),
                ("partition_key_type", defaulted(AttributeType::String, "Type of the partition key: `S` (default), `N` or `B`. Changing it replaces the pipeline.")),
                ("sort_key", optional(AttributeType::String, "Name of the sort (range) key attribute, e.g. `itemId`. Optional. Changing it replaces the pipeline.")),
                ("sort_key_type", defaulted(AttributeType::String, "Type of the sort key: `S` (default when `sort_key` is set), `N` or `B`. Changing it replaces the pipeline.")),
                ("billing_mode", defaulted(AttributeType::String, "`PAY_PER_REQUEST` (default) or `PROVISIONED`. Updates in place.")),
                ("read_capacity", optional(AttributeType::Number, "Read capacity units; required with `PROVISIONED`, not allowed with `PAY_PER_REQUEST`. Updates in place.")),
                ("write_capacity", optional(AttributeType::Number, "Write capacity units; required with `PROVISIONED`, not allowed with `PAY_PER_REQUEST`. Updates in place.")),
                ("server_side_encryption", defaulted(AttributeType::Bool, "Encrypt with a KMS key (default `true`: the AWS-managed key unless `kms_key_arn` is set). `false` uses the AWS-owned key. Updates in place.")),
                ("kms_key_arn", optional(AttributeType::String, "Customer-managed KMS key for the table; requires `server_side_encryption = true`. Updates in place.")),
                ("arn", computed(AttributeType::String, "The table's ARN.")),
            ],
        ),
    );
    blocks.insert(
        "persist".to_string(),
        group(
            "The bundled function (Rust, `provided.al2023`), its IAM role, and its Kinesis event source mapping: on the enriched stream, or on the CDC stream when it runs the analytics engine (`analytics.engine = \"lambda\"`). `ReportBatchItemFailures` is always on.",
            vec![
                ("function_name", defaulted(AttributeType::String, "Lambda function name. Default `<name>-persist`. Changing it recreates the function and its mapping in place.")),
                ("role_name", defaulted(AttributeType::String, "IAM role name. Default `<name>-persist`. Changing it recreates the role in place.")),
                ("architecture", defaulted(AttributeType::String, "`arm64` (default) or `x86_64`.")),
                ("memory_size", defaulted(AttributeType::Number, "Memory in MB, 128 to 10240 (default `256`).")),
                ("timeout", defaulted(AttributeType::Number, "Timeout in seconds, 1 to 900 (default `60`).")),
                ("artifact", optional(AttributeType::String, "Path to a deployment zip holding `bootstrap`. Default: the function bundled with the provider for `architecture`.")),
                ("artifact_sha256", computed(AttributeType::String, "Base64 SHA-256 of the deployment package (Lambda's `CodeSha256`): a new build shows as an in-place update.")),
                ("batch_size", defaulted(AttributeType::Number, "Records per invocation, 1 to 10000 (default `100`).")),
                ("maximum_batching_window_seconds", defaulted(AttributeType::Number, "How long to gather records before invoking, 0 to 300 seconds (default `0`).")),
                ("parallelization_factor", defaulted(AttributeType::Number, "Concurrent batches per shard, 1 to 10 (default `1`); order per partition key is kept.")),
                ("starting_position", defaulted(AttributeType::String, "`LATEST` (default) or `TRIM_HORIZON`. Changing it recreates the mapping.")),
                ("bisect_batch_on_function_error", defaulted(AttributeType::Bool, "Split a failing batch in two and retry each half (default `true`).")),
                ("maximum_retry_attempts", defaulted(AttributeType::Number, "Retries of a failing batch, -1 (until the record expires, the default) to 10000.")),
                ("maximum_record_age_seconds", defaulted(AttributeType::Number, "Oldest record sent to the function, -1 (no limit, the default) or 60 to 604800.")),
                ("write_concurrency", defaulted(AttributeType::Number, "BatchWriteItem calls (25 items each) in flight at once per invocation, 1 to 64 (default `4`).")),
                ("version_attribute", optional(AttributeType::String, "Stale-replay protection: name of a numeric (or string) attribute that orders versions of a row, e.g. `event_ts`. Writes become conditional PutItem calls that never replace a newer version with an older one; costs one request per distinct key instead of one per 25. Unset by default.")),
                ("dead_letter_bucket", defaulted(AttributeType::String, "S3 bucket for records the function cannot process (with the reason and the original payload) and for batches the event source mapping gives up on. Default: a bucket the pipeline creates, `<name>-dlq-<account id>` (lowercase); name an existing bucket to use it instead (it is then never created or deleted).")),
                ("dead_letter_prefix", defaulted(AttributeType::String, "Key prefix of dead letters in the bucket (default `dead-letter/`).")),
                ("dead_letter_force_destroy", defaulted(AttributeType::Bool, "Whether destroying the pipeline may delete a dead-letter bucket that still holds dead letters (default `false`: destroy stops and says so, so nothing is lost).")),
                ("dead_letter_bucket_arn", computed(AttributeType::String, "The dead-letter bucket's ARN (also the mapping's on-failure destination).")),
                ("function_arn", computed(AttributeType::String, "The function's ARN.")),
                ("role_arn", computed(AttributeType::String, "The role's ARN.")),
                ("event_source_mapping_id", computed(AttributeType::String, "The event source mapping's UUID.")),
                ("function_response_types", computed(string_list(), "The mapping's function response types: always `[\"ReportBatchItemFailures\"]` (the function reports the records it could not write, and only those are retried). A mapping made elsewhere (adopted by an import) shows here as an update until the apply turns it on.")),
                ("on_failure_destination_arn", computed(AttributeType::String, "Where the mapping sends the batches it gives up on: the dead-letter bucket (`dead_letter_bucket_arn`). A mapping made elsewhere shows here as an update until the apply sets it.")),
            ],
        ),
    );
    let object = |fields: &[&str]| {
        AttributeType::Object(
            fields
                .iter()
                .map(|f| (f.to_string(), AttributeType::String))
                .collect(),
        )
    };
    let mut analytics = block(
            "Where the enrichment runs. Omitted (or `engine` unset): the persist function reads the enriched stream, which something else fills. With `engine = \"lambda\"` the function reads the CDC stream and joins the tables itself — no time window, any delivery order — keeping what it has seen in a DynamoDB state table and the reference data in S3 (see the function's README). With `engine = \"kinesis-analytics-sql\"` a Kinesis Data Analytics SQL application (API v1) reads the CDC stream, runs `code` and writes its `output`s to the enriched stream, which the persist function reads; AWS no longer runs SQL applications (none created since 2025-10-15, existing ones deleted from 2026-01-27), so that engine serves imports and emulators.",
            vec![
                ("engine", optional(AttributeType::String, "`lambda`: the bundled function correlates the CDC records itself (the event source mapping then reads `cdc_stream`). `kinesis-analytics-sql`: a Kinesis Data Analytics SQL application does (attributes `application_name` to `application_version_id` and the `input`, `reference` and `output` blocks; the others are for `lambda`). Unset: no enrichment here.")),
                ("schema", optional(AttributeType::String, "Only changes of this source schema (DMS `schema-name`) are considered, e.g. `orders`. Default: every schema.")),
                ("parent_table", optional(AttributeType::String, "The table rows are grouped by, e.g. `order`. Required with an engine.")),
                ("parent_key", optional(AttributeType::String, "Its key column, e.g. `orderId`. Required with an engine.")),
                ("children", optional(AttributeType::List(Box::new(object(&["table", "parent_key", "key"]))), "Tables whose rows each belong to one parent row: `{ table = \"order_item\", parent_key = \"orderId\", key = \"itemId\" }`. One sink row per live child row of a live parent. At least one with an engine.")),
                ("lookups", optional(AttributeType::List(Box::new(object(&["name", "file", "from", "match"]))), "Reference data joined by one column: `{ name = \"products\", file = \"${path.module}/reference/products.json\", from = \"order_item.itemId\", match = \"productId\" }`. `file` holds JSON lines; it is uploaded to the reference bucket as `reference/<name>.json`, and a changed file is an in-place update.")),
                ("columns", optional(string_map(), "The sink's attributes: attribute name → `<table or lookup>.<column>`, e.g. `{ orderId = \"order.orderId\", productName = \"products.productName\" }`. Must include the sink's key attributes.")),
                ("publish_enriched", defaulted(AttributeType::Bool, "Also put every row the engine writes (or deletes) on `enriched_stream`, for other consumers: the row as a JSON object, a deleted row as its key plus `\"_deleted\": true`, partitioned by the sink's partition key; at least once. Default `false`.")),
                ("state_table", defaulted(AttributeType::String, "The engine's state table (keys `pk`, `sk`). Default `<name>-state`. Changing it recreates the table in place (the engine's state starts empty).")),
                ("state_table_arn", computed(AttributeType::String, "The state table's ARN.")),
                ("reference_bucket", defaulted(AttributeType::String, "Bucket the reference files are uploaded to. Default: one the pipeline creates, `<name>-reference-<account id>` (lowercase).")),
                ("reference_bucket_arn", computed(AttributeType::String, "The reference bucket's ARN.")),
                ("reference_objects", computed(string_map(), "Object key → base64 SHA-256 of its content, for each uploaded reference file: a changed file, or an object changed out of band, shows here.")),
                ("application_name", defaulted(AttributeType::String, "SQL engine: the application's name. Default `<name>-analytics`. Changing it recreates the application in place.")),
                ("description", optional(AttributeType::String, "SQL engine: the application's description. API v1 cannot change it: a new description recreates the application in place.")),
                ("code", optional(AttributeType::String, "SQL engine: the application's SQL, typically `file(\"sql/kda-orders-setup.sql\")`. Required. Checked at plan time against `input`, `reference` and `output`: every output's stream is created, the input stream and every reference table are used, the input columns used exist (quoted identifiers keep their case, unquoted ones are upper-cased). Updates in place (the version id goes up).")),
                ("schema_ddl", optional(AttributeType::String, "SQL engine: MySQL DDL of the source tables, typically `file(\"sql/orderdb-setup.sql\")`. When `input.columns` is unset, the input schema is derived from it: `recordType` (`$.metadata.table-name`) and `operation` (`$.metadata.operation`), then one column per table column (`$.data.<column>`, MySQL types translated), shown in the plan.")),
                ("start", defaulted(AttributeType::Bool, "SQL engine: whether the application runs (default `true`), reading from `input.starting_position`. `false` stops it.")),
                ("role_name", defaulted(AttributeType::String, "SQL engine: the role the application assumes (reads `cdc_stream` and the reference object, writes the output streams). Default `<name>-analytics`.")),
                ("role_arn", computed(AttributeType::String, "SQL engine: the role's ARN.")),
                ("application_arn", computed(AttributeType::String, "SQL engine: the application's ARN.")),
                ("application_version_id", computed(AttributeType::Number, "SQL engine: the application's version id; every change to the application raises it.")),
            ],
        );
    let columns = || AttributeType::List(Box::new(object(&["name", "sql_type", "mapping"])));
    analytics.blocks.insert(
        "input".to_string(),
        group(
            "SQL engine: the application's one input, reading `cdc_stream` as JSON.",
            vec![
                ("name_prefix", defaulted(AttributeType::String, "In-application stream name prefix (default `SOURCE_SQL_STREAM`): the code reads `<name_prefix>_001`. Updates in place.")),
                ("row_path", defaulted(AttributeType::String, "JSONPath of the row in each record (default `$`). Updates in place.")),
                ("columns", defaulted(columns(), "The input schema: `[{ name = \"orderId\", sql_type = \"INTEGER\", mapping = \"$.data.orderId\" }, ...]`. Default: derived from `schema_ddl`. Types are checked against the Kinesis Data Analytics SQL types and mappings as JSONPaths at plan time. Order counts. Updates in place.")),
                ("starting_position", defaulted(AttributeType::String, "Where a start reads the stream from: `NOW` (default), `TRIM_HORIZON` or `LAST_STOPPED_POINT`.")),
                ("parallelism", defaulted(AttributeType::Number, "In-application input streams, 1 to 64 (default `1`). Updates in place.")),
                ("in_application_stream", computed(AttributeType::String, "The stream the code reads: `<name_prefix>_001`.")),
            ],
        ),
    );
    analytics.blocks.insert(
        "reference".to_string(),
        NestedBlock::List(block(
            "SQL engine: a reference table (at most one), loaded from a local JSON file uploaded to `reference_bucket` as `reference/<table_name>.json`. A changed file is uploaded and reloaded in place.",
            vec![
                ("table_name", required(AttributeType::String, "In-application table name, e.g. `products` (the code then uses `\"products\"`, quoted).")),
                ("file", required(AttributeType::String, "Local JSON file (one object per line, or one array), e.g. `\"${path.module}/reference/products.json\"`.")),
                ("key", computed(AttributeType::String, "The object key in `reference_bucket`.")),
                ("row_path", defaulted(AttributeType::String, "JSONPath of a row (default `$`).")),
                ("columns", defaulted(columns(), "The table's schema, as for `input.columns`. Default: inferred from the file's records (each key's JSON type), shown in the plan.")),
            ],
        )),
    );
    analytics.blocks.insert(
        "output".to_string(),
        NestedBlock::List(block(
            "SQL engine: an in-application stream written to a Kinesis stream (one to three). Added, changed and removed in place.",
            vec![
                ("name", required(AttributeType::String, "The in-application stream, as the code creates it, e.g. `ORDER_ITEM_ENRICHED_STREAM`.")),
                ("stream_name", defaulted(AttributeType::String, "The Kinesis stream written to. Default: `enriched_stream`'s name (what the persist function reads).")),
                ("format", defaulted(AttributeType::String, "Record format: `JSON` (default) or `CSV`.")),
            ],
        )),
    );
    blocks.insert("analytics".to_string(), NestedBlock::Group(analytics));
    blocks.insert("source".to_string(), source_block());
    blocks.insert("data_lake".to_string(), data_lake_block());
    blocks.insert(
        "timeouts".to_string(),
        group(
            "How long an apply may wait for components to settle, as Go durations (`40m`, `1h30m`). A DMS replication instance takes 10 minutes or more on AWS.",
            vec![
                ("create", optional(AttributeType::String, "Creating the pipeline (default `60m`).")),
                ("update", optional(AttributeType::String, "Updating it (default `60m`).")),
                ("delete", optional(AttributeType::String, "Destroying it (default `40m`).")),
            ],
        ),
    );
    let attributes = [
        ("id", computed(AttributeType::String, "The pipeline's name.")),
        ("name", required(AttributeType::String, "The pipeline's name: 1 to 40 letters, digits, `-` or `_`, starting with a letter or digit. It prefixes every component's name (each can be overridden) and is the value of the `unifiedetl:pipeline` tag on every component.")),
        ("tags", optional(string_map(), "Tags for every component, merged over the provider's `default_tags`.")),
        ("tags_all", computed(string_map(), "The tags every component carries: `default_tags`, then `tags`, then `unifiedetl:pipeline = <name>`.")),
    ];
    Schema {
        version: 0,
        block: Block {
            version: 0,
            attributes: attributes
                .into_iter()
                .map(|(name, attr)| (name.to_string(), attr))
                .collect(),
            blocks,
            description: Description::markdown(
                "A real-time CDC pipeline managed as one unit: the CDC and enriched Kinesis streams, the DynamoDB sink, the persist function (Rust Lambda) with its IAM role and Kinesis event source mapping, and optionally the DMS source from MySQL, the analytics engine in that function (state table, reference data in S3) that joins the CDC records itself, and the Firehose data lake in S3.",
            ),
            deprecated: false,
        },
    }
}
