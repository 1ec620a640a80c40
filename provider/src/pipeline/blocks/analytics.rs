//! Analytics (`analytics`): the enrichment between the CDC stream and the sink, by one of two
//! engines — `lambda` (the persist function joins the CDC records itself, keeping its state in
//! a DynamoDB table and its lookups in S3) or `kinesis-analytics-sql` (a Kinesis Data
//! Analytics SQL application, in [`sql`]). Its whole life, in order:
//!
//! 1. validate and plan ([`validate`], [`plan`]): the engine's settings with the fix for each
//!    mistake, the correlation checked against Lambda's environment size, the state table's and
//!    reference bucket's names and ARNs, each reference object's hash;
//! 2. desired ([`Analytics`]) and apply: the state table (the sink's [`ensure_table`]) and the
//!    reference bucket and objects ([`ensure_reference`]) before the function's mapping reads;
//!    the SQL application ([`sql::prepare`], [`sql::finish`]) once its streams are up; an engine
//!    turned off has its parts removed ([`remove_unused`]);
//! 3. refresh ([`refresh`]): the table, the bucket and each object's hash, or the application;
//! 4. import ([`import`]: the engine from the function's environment, or the application) and
//!    the leftovers of a failed apply ([`leftovers`]);
//! 5. destroy: the application with the blocks that read the CDC stream
//!    ([`destroy_application`]), the state table and reference data last ([`destroy_data`]).
//!
//! The `lambda` engine's correlation travels in the function's environment: its encoding and
//! decoding are persist's ([`super::persist::environment`]).

pub mod sql;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::schema::{block, computed, defaulted, group, optional, required, string_map};
use tf_provider::schema::{AttributeType, NestedBlock};
use tf_provider::value::Value;
use tf_provider::Diagnostics;

use super::persist::environment::{correlation_document, correlation_into};
use super::sink::{self};
use crate::artifact;
use crate::aws::dynamodb::{self, Key, TableSpec};
use crate::aws::s3::{self, BucketSpec};
use crate::aws::{iam, kinesisanalytics, Aws, AwsError, AwsResult, Expect, Identity};
use crate::pipeline::block::{ImportId, Importing, Ours};
use crate::pipeline::names::{default_reference_bucket, reference_key};
use crate::pipeline::owner::{self as own, Adopted, Owner};
use crate::pipeline::state::{
    AnalyticsBlock, PipelineState, SinkBlock, Str, Tags, ENGINE_LAMBDA, ENGINE_SQL,
};
use crate::pipeline::values::{
    arn_of, derive, known, missing, name_like, need, one_of, path, pick, some, text,
};
use sql::SqlApp;

/// The block's schema: every attribute of both engines (the SQL engine's `input`,
/// `reference` and `output` blocks among them), its default and what a change to it does.
pub fn schema() -> NestedBlock {
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
    NestedBlock::Group(analytics)
}

/// The engines `analytics.engine` accepts.
pub const ENGINES: [&str; 2] = [ENGINE_LAMBDA, ENGINE_SQL];

pub fn validate(a: &AnalyticsBlock, sink: &SinkBlock, diags: &mut Diagnostics) {
    let engine = match &a.engine {
        Value::Value(engine) => engine.clone(),
        Value::Unknown => return,
        Value::Null => {
            sql::refuse_other_engine(a, diags);
            return;
        }
    };
    if !ENGINES.contains(&engine.as_str()) {
        one_of("analytics", "engine", &a.engine, &ENGINES, diags);
        return;
    }
    sql::refuse_other_engine(a, diags);
    if engine == ENGINE_SQL {
        sql::validate(a, diags);
        return;
    }
    if engine != ENGINE_LAMBDA {
        return;
    }
    for (attr, value) in [
        ("parent_table", &a.parent_table),
        ("parent_key", &a.parent_key),
    ] {
        if value.is_null() {
            diags.error(
                format!("missing analytics.{attr}"),
                format!("`analytics.{attr}` is required with `engine = \"{engine}\"`, e.g. `parent_table = \"order\"` and `parent_key = \"orderId\"`"),
                path("analytics", attr),
            );
        }
    }
    name_like(
        "analytics",
        "state_table",
        &a.state_table,
        255,
        "_.-",
        "a DynamoDB table name",
        diags,
    );
    // Every table and lookup name, to check the columns against.
    let mut names: Vec<String> = a
        .parent_table
        .as_ref_option()
        .cloned()
        .into_iter()
        .collect();
    match &a.children {
        Value::Value(children) if children.is_empty() => diags.error(
            "invalid analytics.children",
            "`analytics.children` must name at least one child table, e.g. `[{ table = \"order_item\", parent_key = \"orderId\", key = \"itemId\" }]`",
            path("analytics", "children"),
        ),
        Value::Value(children) => {
            for child in children.iter().filter_map(Value::as_ref_option) {
                if let Value::Value(table) = &child.table {
                    if names.contains(table) {
                        diags.error(
                            "invalid analytics.children",
                            format!("table \"{table}\" appears twice in `analytics`: each table is the parent or one child"),
                            path("analytics", "children"),
                        );
                    }
                    names.push(table.clone());
                }
            }
        }
        Value::Null => diags.error(
            "missing analytics.children",
            format!("`analytics.children` is required with `engine = \"{engine}\"`, e.g. `[{{ table = \"order_item\", parent_key = \"orderId\", key = \"itemId\" }}]`"),
            path("analytics", "children"),
        ),
        Value::Unknown => return,
    }
    if let Value::Value(lookups) = &a.lookups {
        // The tables a lookup may join from: the parent and its children (once all are known).
        let tables = names.clone();
        let tables_known = a.parent_table.is_value()
            && matches!(&a.children, Value::Value(children) if children.iter().all(|c| {
                c.as_ref_option().is_some_and(|c| c.table.is_value())
            }));
        for lookup in lookups.iter().filter_map(Value::as_ref_option) {
            if let (Value::Value(from), true) = (&lookup.from, tables_known) {
                let known = from.split_once('.').is_some_and(|(table, column)| {
                    !column.is_empty() && tables.contains(&table.to_string())
                });
                if !known {
                    diags.error(
                        "invalid analytics.lookups",
                        format!(
                            "lookup {}: `from = \"{from}\"` must be `<table>.<column>` of a table the engine reads ({}), e.g. `from = \"{}.itemId\"`",
                            lookup.name.as_ref_option().map(String::as_str).unwrap_or("?"),
                            tables.join(", "),
                            tables.last().map(String::as_str).unwrap_or("order_item"),
                        ),
                        path("analytics", "lookups"),
                    );
                }
            }
            if let Value::Value(name) = &lookup.name {
                let ok = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !ok || names.contains(name) {
                    diags.error(
                        "invalid analytics.lookups",
                        format!("lookup name \"{name}\" must be letters, digits, `_` or `-`, and differ from every table name"),
                        path("analytics", "lookups"),
                    );
                }
                names.push(name.clone());
            }
            if let Value::Value(file) = &lookup.file {
                if let Err(err) = std::fs::metadata(file) {
                    diags.error(
                        "invalid analytics.lookups",
                        format!("the reference file of lookup {} cannot be read ({file}: {err}): give the path of a JSON lines file, e.g. `file = \"${{path.module}}/reference/products.json\"`", lookup.name.as_ref_option().map(String::as_str).unwrap_or("?")),
                        path("analytics", "lookups"),
                    );
                }
            }
        }
    }
    let columns = match &a.columns {
        Value::Value(columns) => columns,
        Value::Unknown => return,
        Value::Null => {
            diags.error(
                "missing analytics.columns",
                "`analytics.columns` is required with an engine: map each sink attribute to `<table or lookup>.<column>`, e.g. `{ orderId = \"order.orderId\" }`",
                path("analytics", "columns"),
            );
            return;
        }
    };
    for (column, from) in columns {
        let Value::Value(from) = from else { continue };
        let known_source = from
            .split_once('.')
            .is_some_and(|(table, col)| !col.is_empty() && names.iter().any(|n| n == table));
        if !known_source {
            diags.error(
                "invalid analytics.columns",
                format!("`analytics.columns.{column}` is \"{from}\": it must be `<table or lookup>.<column>` naming one of {}", names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")),
                path("analytics", "columns"),
            );
        }
    }
    for key in [&sink.partition_key, &sink.sort_key] {
        if let Value::Value(key) = key {
            if !columns.contains_key(key) {
                diags.error(
                    "invalid analytics.columns",
                    format!("`analytics.columns` must include the sink's key attribute \"{key}\", e.g. `{key} = \"<table>.{key}\"`"),
                    path("analytics", "columns"),
                );
            }
        }
    }
}

/// Lambda allows 4 KB of environment variables in all (names and values).
const LAMBDA_ENVIRONMENT_BYTES: usize = 4096;

/// What the other variables take at most: table, keys, bucket and stream names.
const OTHER_VARIABLES_BYTES: usize = 1024;

/// The correlation travels in the function's environment: refuse one that cannot fit at plan
/// time rather than at apply.
fn check_environment_size(analytics: &AnalyticsBlock, diags: &mut Diagnostics) {
    if !analytics.lambda_engine() {
        return;
    }
    let Ok(correlation) = correlation_document(analytics) else {
        return; // something is unknown until apply
    };
    let size = "CORRELATION".len() + correlation.to_string().len();
    if size + OTHER_VARIABLES_BYTES > LAMBDA_ENVIRONMENT_BYTES {
        diags.error(
            "analytics correlation too large",
            format!("the correlation the function receives in its environment is {size} bytes; Lambda allows {LAMBDA_ENVIRONMENT_BYTES} bytes of environment variables in all (about {} for the correlation): use fewer or shorter `analytics.columns`, lookups or table names", LAMBDA_ENVIRONMENT_BYTES - OTHER_VARIABLES_BYTES),
            path("analytics", "columns"),
        );
    }
}

fn plan_lambda_engine(
    config: &AnalyticsBlock,
    prior: Option<&AnalyticsBlock>,
    name: &Str,
    identity: &Identity,
) -> AnalyticsBlock {
    if config.engine.is_null() {
        // Absent list blocks are empty lists, as Terraform gives them.
        return AnalyticsBlock {
            reference: Value::Value(Vec::new()),
            output: Value::Value(Vec::new()),
            ..AnalyticsBlock::default()
        };
    }
    let state_table = pick(&config.state_table, derive(name, "state"));
    let reference_bucket = pick(
        &config.reference_bucket,
        name.as_ref()
            .map(|n| default_reference_bucket(n, &identity.account)),
    );
    let reference_bucket_arn = reference_bucket
        .as_ref()
        .map(|b| format!("arn:{}:s3:::{b}", identity.partition));
    let reference_objects: Tags = match &config.lookups {
        Value::Null => Value::Value(BTreeMap::new()),
        Value::Unknown => Value::Unknown,
        Value::Value(lookups) => {
            let mut objects = BTreeMap::new();
            let mut unknown = false;
            for lookup in lookups {
                let Value::Value(lookup) = lookup else {
                    unknown = true;
                    continue;
                };
                match (&lookup.name, &lookup.file) {
                    (Value::Value(lookup_name), Value::Value(file)) => match std::fs::read(file) {
                        Ok(bytes) => {
                            objects.insert(
                                reference_key(lookup_name),
                                Value::Value(artifact::content_hash(&bytes)),
                            );
                        }
                        // validate() has said why.
                        Err(_) => unknown = true,
                    },
                    _ => unknown = true,
                }
            }
            if unknown {
                Value::Unknown
            } else {
                Value::Value(objects)
            }
        }
    };
    AnalyticsBlock {
        state_table_arn: arn_of(
            prior
                .filter(|p| p.lambda_engine())
                .map(|p| (&p.state_table, &p.state_table_arn)),
            &state_table,
            |n| identity.arn("dynamodb", true, &format!("table/{n}")),
        ),
        engine: config.engine.clone(),
        schema: config.schema.clone(),
        parent_table: config.parent_table.clone(),
        parent_key: config.parent_key.clone(),
        children: config.children.clone(),
        lookups: config.lookups.clone(),
        columns: config.columns.clone(),
        publish_enriched: pick(&config.publish_enriched, Value::Value(false)),
        state_table,
        reference_bucket,
        reference_bucket_arn,
        reference_objects,
        reference: Value::Value(Vec::new()),
        output: Value::Value(Vec::new()),
        ..AnalyticsBlock::default()
    }
}

/// The block as planned: the SQL application's ([`sql::plan`]), the `lambda` engine's, or none.
pub fn plan(
    config: &AnalyticsBlock,
    prior: Option<&AnalyticsBlock>,
    name: &Str,
    identity: &Identity,
    enriched_stream: &Str,
    diags: &mut Diagnostics,
) -> AnalyticsBlock {
    let analytics = if config.sql_engine() {
        sql::plan(config, prior, name, identity, enriched_stream, diags)
    } else {
        plan_lambda_engine(config, prior, name, identity)
    };
    check_environment_size(&analytics, diags);
    analytics
}

/// The block as the planned state (fully known) asks for it.
pub struct Analytics {
    /// The `lambda` analytics engine, when `analytics.engine` asks for it.
    pub engine: Option<Engine>,
    /// The reference data in S3: the `lambda` engine's lookups, or the SQL engine's reference
    /// tables.
    pub reference: Option<ReferenceData>,
    /// The SQL engine's application, when `analytics.engine` asks for it.
    pub sql: Option<SqlApp>,
}

impl Analytics {
    /// `reference_managed`: the configuration names no reference bucket, so the pipeline owns
    /// the one it planned.
    pub fn from_state(
        s: &PipelineState,
        prior: Option<&PipelineState>,
        reference_managed: bool,
        tags: &BTreeMap<String, String>,
    ) -> Result<Analytics, String> {
        Ok(Analytics {
            engine: engine_from_state(s, tags)?,
            reference: reference_from_state(s, reference_managed)?,
            sql: SqlApp::from_state(&s.analytics, prior.map(|p| &p.analytics))?,
        })
    }

    /// What the persist function may read and write for the `lambda` engine.
    pub fn access(&self) -> Option<super::persist::EngineAccess<'_>> {
        match (&self.engine, &self.reference) {
            (Some(engine), Some(reference)) => Some(super::persist::EngineAccess {
                state_table: &engine.state_table.name,
                reference_bucket_arn: &reference.bucket_arn,
                publish: engine.publish_enriched,
            }),
            _ => None,
        }
    }
}

/// What an apply brought up: each id, `None` where it could not (the errors say why).
#[derive(Default)]
pub struct Recorded {
    pub state_table_arn: Option<String>,
    pub reference_bucket_arn: Option<String>,
    /// Object key → hash of what is now in the reference bucket.
    pub reference_objects: Option<BTreeMap<String, String>>,
    pub role_arn: Option<String>,
    pub application_arn: Option<String>,
    pub application_version_id: Option<i64>,
}

impl Recorded {
    pub fn record(&self, a: &mut AnalyticsBlock) {
        let id = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Value);
        if a.lambda_engine() {
            a.state_table_arn = id(&self.state_table_arn);
        }
        if a.sql_engine() {
            a.role_arn = id(&self.role_arn);
            a.application_arn = id(&self.application_arn);
            a.application_version_id = self
                .application_version_id
                .map_or(Value::Null, Value::Value);
        }
        if a.reference_bucket.is_value() && a.engine.is_value() {
            a.reference_bucket_arn = id(&self.reference_bucket_arn);
            a.reference_objects = match &self.reference_objects {
                Some(objects) => Value::Value(
                    objects
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::Value(v.clone())))
                        .collect(),
                ),
                None => Value::Null,
            };
        }
    }
}

/// The `lambda` analytics engine's own parts: its state table, and whether it publishes.
pub struct Engine {
    pub state_table: TableSpec,
    /// Publish the rows to the enriched stream too.
    pub publish_enriched: bool,
}

/// Reference data uploaded from local files.
pub struct ReferenceData {
    pub bucket: String,
    pub bucket_arn: String,
    /// The pipeline created the bucket (none was named), so it also deletes it.
    pub bucket_managed: bool,
    /// Object key, content, base64 SHA-256, and the local file it comes from.
    pub objects: Vec<(String, Vec<u8>, String, String)>,
}

fn engine_from_state(
    s: &PipelineState,
    tags: &BTreeMap<String, String>,
) -> Result<Option<Engine>, String> {
    let a = &s.analytics;
    if !a.lambda_engine() {
        return Ok(None);
    }
    Ok(Some(Engine {
        state_table: TableSpec {
            name: need(&a.state_table, "analytics.state_table")?,
            partition_key: Key {
                name: "pk".to_string(),
                attr_type: "S".to_string(),
            },
            sort_key: Some(Key {
                name: "sk".to_string(),
                attr_type: "S".to_string(),
            }),
            capacity: None,
            sse: true,
            kms_key_arn: None,
            // As the sink's: the engine's state is what the sink's rows are rebuilt from.
            deletion_protection: need(&s.sink.deletion_protection, "sink.deletion_protection")?,
            point_in_time_recovery: need(
                &s.sink.point_in_time_recovery,
                "sink.point_in_time_recovery",
            )?,
            tags: tags.clone(),
        },
        publish_enriched: need(&a.publish_enriched, "analytics.publish_enriched")?,
    }))
}

/// The reference files to upload: the `lambda` engine's lookups (it always has a bucket), or
/// the SQL engine's reference tables (a bucket only when there are some).
fn reference_from_state(
    s: &PipelineState,
    reference_managed: bool,
) -> Result<Option<ReferenceData>, String> {
    let a = &s.analytics;
    let mut files = Vec::new();
    if a.lambda_engine() {
        for lookup in need(&a.lookups, "analytics.lookups")
            .ok()
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_ref_option)
        {
            let name = need(&lookup.name, "analytics.lookups.name")?;
            let file = need(&lookup.file, "analytics.lookups.file")?;
            files.push((format!("lookup {name}"), reference_key(&name), file));
        }
    } else if a.sql_engine() && !a.references().is_empty() {
        for r in a.references() {
            let table = need(&r.table_name, "analytics.reference.table_name")?;
            let file = need(&r.file, "analytics.reference.file")?;
            files.push((
                format!("reference table {table}"),
                reference_key(&table),
                file,
            ));
        }
    } else {
        return Ok(None);
    }
    let mut objects = Vec::new();
    for (what, key, file) in files {
        let bytes = std::fs::read(&file)
            .map_err(|e| format!("reading the reference file of {what} ({file}): {e}"))?;
        let hash = artifact::content_hash(&bytes);
        objects.push((key, bytes, hash, file));
    }
    Ok(Some(ReferenceData {
        bucket: need(&a.reference_bucket, "analytics.reference_bucket")?,
        bucket_arn: need(&a.reference_bucket_arn, "analytics.reference_bucket_arn")?,
        bucket_managed: reference_managed,
        objects,
    }))
}

/// The engine's reference bucket and objects: the bucket created when the pipeline owns it
/// (a named one must exist), each object uploaded when its content differs, objects of
/// lookups no longer configured removed. Returns the bucket ARN and the objects' hashes.
pub async fn ensure_reference(
    aws: &Aws,
    owner: &Owner,
    tags: &BTreeMap<String, String>,
    engine: &ReferenceData,
    ours: bool,
    prior_objects: &[String],
) -> AwsResult<(String, BTreeMap<String, String>)> {
    let expect = Expect::from_ours(ours || !engine.bucket_managed);
    let found = s3::find(&aws.s3, &engine.bucket, expect).await?;
    // A bucket this apply creates holds no object yet: nothing to compare with.
    let created = engine.bucket_managed && found.is_none();
    if engine.bucket_managed {
        let spec = BucketSpec {
            name: engine.bucket.clone(),
            region: aws.region.clone(),
            tags: tags.clone(),
        };
        match found {
            None => {
                s3::create(&aws.s3, &spec).await?;
            }
            Some(current) => {
                if !ours {
                    owner.check(own::BUCKET, &spec.name, &current.tags)?;
                }
                s3::update(&aws.s3, &current, &spec).await?;
            }
        }
    } else if found.is_none() {
        return Err(AwsError::other(format!(
            "the reference bucket ({}) named by `analytics.reference_bucket` does not exist: create it, or leave the attribute unset for the pipeline to create one",
            engine.bucket
        )));
    }
    // Every object at once: each is compared with what the bucket holds and put if it differs.
    let objects = engine
        .objects
        .iter()
        .map(|(key, bytes, hash, file)| async move {
            if created
                || s3::object_hash(&aws.s3, &engine.bucket, key)
                    .await?
                    .as_deref()
                    != Some(hash)
            {
                s3::put_object(&aws.s3, &engine.bucket, key, bytes.clone(), file).await?;
            }
            Ok::<_, AwsError>((key.clone(), hash.clone()))
        });
    let hashes: BTreeMap<String, String> = futures::future::try_join_all(objects)
        .await?
        .into_iter()
        .collect();
    for key in prior_objects {
        if !hashes.contains_key(key) {
            s3::delete_object(&aws.s3, &engine.bucket, key).await?;
        }
    }
    Ok((engine.bucket_arn.clone(), hashes))
}

/// Deletes the uploaded reference data (the bucket too when the pipeline created it: it holds
/// only the uploaded reference files).
pub async fn destroy_reference(
    aws: &Aws,
    state: &PipelineState,
    account: Option<&str>,
    adopted: &Adopted,
) -> Vec<String> {
    let a = &state.analytics;
    let mut errors = Vec::new();
    let Some(bucket) = a
        .reference_bucket
        .as_ref_option()
        .filter(|_| known(&a.reference_bucket_arn))
    else {
        return errors;
    };
    // Only the bucket the pipeline created (the default name) is deleted; a named one keeps
    // everything but the uploaded objects.
    // A bucket an import named is the pipeline's too (reference data, which the configured
    // files upload again).
    let managed = adopted.contains(own::BUCKET, bucket)
        || match (&state.name, account) {
            (Value::Value(name), Some(account)) => {
                *bucket == default_reference_bucket(name, account)
            }
            _ => false,
        };
    let keys: Vec<String> = a
        .reference_objects
        .as_ref_option()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for key in keys {
        if let Err(e) = s3::delete_object(&aws.s3, bucket, &key).await {
            errors.push(e.message);
        }
    }
    if managed {
        // It holds only the uploaded reference files: those a failed apply uploaded without
        // recording them go with it.
        if let Err(e) = s3::delete(&aws.s3, bucket, true).await {
            errors.push(e.message);
        }
    }
    errors
}

/// The engine's state table and reference data: a missing table or bucket shows as its ARN
/// becoming "known after apply", a reference object changed or deleted out of band as a
/// different (or missing) hash in `reference_objects`.
async fn refresh_data(aws: &Aws, analytics: &mut AnalyticsBlock) -> AwsResult<()> {
    let bucket = analytics.reference_bucket.as_ref_option().cloned();
    let keys: Vec<String> = analytics
        .reference_objects
        .as_ref_option()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    // The table, the bucket and every object at once: an object of a missing bucket reads as
    // missing.
    let (table, bucket_found, hashes) = tokio::join!(
        async {
            match (&analytics.state_table, analytics.lambda_engine()) {
                // Its tags are not compared (the pipeline's are, on the sink).
                (Value::Value(name), true) => dynamodb::describe_by_name(&aws.dynamodb, name).await,
                _ => Ok(None),
            }
        },
        async {
            match &bucket {
                Some(bucket) => s3::exists(&aws.s3, bucket).await,
                None => Ok(false),
            }
        },
        futures::future::join_all(keys.iter().map(|key| {
            let bucket = bucket.clone();
            async move {
                match bucket {
                    Some(bucket) => s3::object_hash(&aws.s3, &bucket, key).await,
                    None => Ok(None),
                }
            }
        })),
    );
    if analytics.lambda_engine() {
        analytics.state_table_arn = table?.map_or(Value::Null, |t| some(t.arn));
    }
    if bucket.is_none() {
        return Ok(());
    }
    if !bucket_found? {
        analytics.reference_bucket_arn = Value::Null;
        analytics.reference_objects = Value::Value(BTreeMap::new());
        return Ok(());
    }
    let mut objects = BTreeMap::new();
    for (key, hash) in keys.into_iter().zip(hashes) {
        if let Some(hash) = hash? {
            objects.insert(key, some(hash));
        }
    }
    analytics.reference_objects = some(objects);
    Ok(())
}

/// The `lambda` engine's parts import alone can find: its state table, its reference bucket
/// and objects, and the local file each object was uploaded from (when recorded).
async fn import_lambda_engine(
    aws: &Aws,
    identity: &Identity,
    id: &ImportId,
    environment: &BTreeMap<String, String>,
    a: &mut AnalyticsBlock,
) -> Result<(), String> {
    if a.state_table.is_null() {
        a.state_table = some(id.get("state_table", || format!("{}-state", id.name)));
    }
    let lookups: Vec<serde_json::Value> = environment
        .get("CORRELATION")
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
        .and_then(|c| c["lookups"].as_array().cloned())
        .unwrap_or_default();
    let mut bucket = None;
    let mut objects = BTreeMap::new();
    let mut files = BTreeMap::new();
    for l in &lookups {
        let lookup_name = l["name"].as_str().unwrap_or_default().to_string();
        let key = l["object_key"]
            .as_str()
            .map_or_else(|| reference_key(&lookup_name), str::to_string);
        let b = l["bucket"].as_str().unwrap_or_default().to_string();
        let file = s3::object_source_file(&aws.s3, &b, &key)
            .await
            .map_err(|e| e.message)?;
        files.insert(lookup_name, file);
        objects.insert(key, Value::Null);
        bucket = Some(b);
    }
    if let Value::Value(lookups) = &mut a.lookups {
        for lookup in lookups.iter_mut() {
            if let Value::Value(lookup) = lookup {
                if let Some(Some(file)) = lookup.name.as_ref_option().and_then(|n| files.get(n)) {
                    lookup.file = some(file.clone());
                }
            }
        }
    }
    let bucket = bucket
        .or_else(|| id.components.get("reference_bucket").cloned())
        .unwrap_or_else(|| default_reference_bucket(&id.name, &identity.account));
    a.reference_bucket_arn = some(format!("arn:{}:s3:::{bucket}", identity.partition));
    a.reference_bucket = some(bucket);
    // Refresh fills in each object's hash.
    a.reference_objects = some(objects);
    Ok(())
}

/// What refresh read: the engine's data (state table, reference bucket and objects) and the
/// SQL application, each as the block it makes.
pub struct Seen {
    data: Option<AnalyticsBlock>,
    application: Option<AnalyticsBlock>,
}

/// Reads the engine's components the state names, at once.
pub async fn refresh(aws: &Aws, prior: &AnalyticsBlock) -> AwsResult<Seen> {
    let mut data = prior.clone();
    let mut application = prior.clone();
    let (data_read, application_read) = tokio::join!(
        async {
            if prior.engine.is_value() {
                refresh_data(aws, &mut data).await?;
            }
            Ok::<(), AwsError>(())
        },
        async {
            if prior.sql_engine() {
                sql::refresh(aws, &mut application).await?;
            }
            Ok::<(), AwsError>(())
        },
    );
    data_read?;
    application_read?;
    Ok(Seen {
        data: prior.engine.is_value().then_some(data),
        application: prior.sql_engine().then_some(application),
    })
}

/// The block as each part read it, over `fresh` (where the function's environment has put
/// the `lambda` engine's settings): the SQL application's settings, then the state table and
/// reference data.
pub fn refreshed(fresh: &mut AnalyticsBlock, seen: Seen) {
    if let Some(application) = seen.application {
        *fresh = application;
    }
    if let Some(data) = seen.data {
        fresh.state_table_arn = data.state_table_arn;
        fresh.reference_bucket_arn = data.reference_bucket_arn;
        fresh.reference_objects = data.reference_objects;
    }
}

/// An import: the `lambda` engine when the function's environment holds a correlation (or the
/// map names a state table), else the SQL application found by name (or named in the map).
/// Whether an application was found.
pub async fn import(
    importing: &Importing<'_>,
    a: &mut AnalyticsBlock,
    environment: &BTreeMap<String, String>,
) -> Result<bool, String> {
    let (aws, identity, id) = (importing.aws, importing.identity, importing.id);
    let lambda_engine =
        environment.contains_key("CORRELATION") || id.components.contains_key("state_table");
    if lambda_engine {
        a.engine = text(ENGINE_LAMBDA);
        correlation_into(a, environment);
        import_lambda_engine(aws, identity, id, environment, a).await?;
    }
    let application = id.get("application", || format!("{}-analytics", id.name));
    importing.note(own::APPLICATION, &application);
    if lambda_engine {
        return Ok(false);
    }
    let app = kinesisanalytics::find_by_name(&aws.kinesisanalytics, &application)
        .await
        .map_err(|e| e.message)?;
    if let Some(app) = &app {
        importing.owned(own::APPLICATION, &application, &app.tags)?;
    }
    if app.is_some() || id.components.contains_key("application") {
        sql::import(aws, identity, id, &application, app.as_ref(), a).await?;
    }
    Ok(app.is_some())
}

/// After a failed apply: the ids of the state table, reference bucket, application and its
/// role the apply made but could not record, when they are the pipeline's.
pub async fn leftovers(
    aws: &Aws,
    identity: &Identity,
    a: &mut AnalyticsBlock,
    ours: &Ours<'_>,
) -> AwsResult<()> {
    sink::leftovers(aws, &a.state_table, &mut a.state_table_arn, ours).await?;
    if let Some(name) = missing(&a.reference_bucket, &a.reference_bucket_arn) {
        if let Some(found) = s3::find(&aws.s3, &name, Expect::Present).await? {
            if ours(own::BUCKET, &name, &found.tags) {
                a.reference_bucket_arn =
                    Value::Value(format!("arn:{}:s3:::{name}", identity.partition));
            }
        }
    }
    if let Some(name) = missing(&a.application_name, &a.application_arn) {
        if let Some(found) = kinesisanalytics::find_by_name(&aws.kinesisanalytics, &name).await? {
            if ours(own::APPLICATION, &name, &found.tags) {
                a.application_arn = Value::Value(found.arn);
            }
        }
    }
    if let Some(name) = missing(&a.role_name, &a.role_arn) {
        if let Some(found) = iam::find_by_name(&aws.iam, &name, sql::POLICY_NAME).await? {
            if ours(own::ROLE, &name, &found.tags) {
                a.role_arn = Value::Value(found.arn);
            }
        }
    }
    Ok(())
}

/// After an update: the parts of an engine turned off (the reference data when nothing uses
/// it any more).
pub async fn remove_unused(
    aws: &Aws,
    prior: &PipelineState,
    want: &Analytics,
    adopted: &Adopted,
    timeout: Duration,
) -> Vec<String> {
    let account = prior
        .persist
        .role_arn
        .as_ref_option()
        .and_then(|arn| crate::aws::account_of(arn));
    let mut errors = Vec::new();
    if want.engine.is_none() {
        errors.extend(destroy_state_table(aws, &prior.analytics).await);
    }
    if want.reference.is_none() {
        errors.extend(destroy_reference(aws, prior, account, adopted).await);
    }
    if want.sql.is_none() && prior.analytics.sql_engine() {
        errors.extend(sql::destroy(aws, &prior.analytics, timeout).await);
    }
    errors
}

/// Deletes the SQL application (it reads the CDC stream and writes the enriched one: it goes
/// before them).
pub async fn destroy_application(aws: &Aws, a: &AnalyticsBlock, timeout: Duration) -> Vec<String> {
    sql::destroy(aws, a, timeout).await
}

/// Deletes the state table and the reference data, last.
pub async fn destroy_data(
    aws: &Aws,
    state: &PipelineState,
    identity: &Identity,
    adopted: &Adopted,
) -> Vec<String> {
    let mut errors = destroy_state_table(aws, &state.analytics).await;
    errors.extend(destroy_reference(aws, state, Some(&identity.account), adopted).await);
    errors
}

/// Deletes the `lambda` engine's state table (when the state knows it).
async fn destroy_state_table(aws: &Aws, a: &AnalyticsBlock) -> Vec<String> {
    match sink::destroy(aws, &a.state_table, &a.state_table_arn).await {
        Ok(()) => Vec::new(),
        Err(e) => vec![e.message],
    }
}
