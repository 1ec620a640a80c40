//! The SQL engine of the `analytics` block (`engine = "kinesis-analytics-sql"`): a Kinesis Data
//! Analytics (SQL) application and its role. Its whole life but its schema (`state.rs`) and its
//! import (`import.rs`):
//!
//! 1. plan: which attributes it takes, its defaults (the input schema derived from the
//!    database's DDL, the reference schema inferred from the file), and the check of the SQL
//!    against the input, reference and output mappings, each finding on its attribute;
//! 2. apply, refresh and destroy of the application and its role.
//!
//! ```text
//!   role + policy ──────────┐
//!   cdc stream ─────────────┤
//!   enriched stream ────────┼─▶ application ─▶ start / stop
//!   reference objects ──────┘
//! ```
//! The role's policy names the streams and objects by their deterministic ARNs, so the role is
//! made alongside the streams; the application waits for all of them.

use std::collections::BTreeMap;
use std::time::Duration;

use tf_provider::value::Value;
use tf_provider::{AttributePath, Diagnostics};

use crate::artifact::content_hash;
use crate::aws::kinesis::StreamSpec;
use crate::aws::kinesisanalytics::{
    Application, ApplicationSpec, InputSpec, OutputSpec, ReferenceSpec,
};
use crate::aws::s3;
use crate::aws::{
    account_of, iam, kinesisanalytics as kda, partition_of, Aws, AwsError, AwsResult, Identity,
};
use crate::kda_sql;
use crate::kda_sql::{CodeContext, Column, Subject};
use crate::pipeline::block::ImportId;
use crate::pipeline::names::reference_key;
use crate::pipeline::owner as own;
use crate::pipeline::owner::Owner;
use crate::pipeline::roles::{ensure_service_role, ServiceRole};
use crate::pipeline::state::{
    AnalyticsBlock, SqlColumn, SqlColumns, SqlInputBlock, SqlOutputBlock, SqlReferenceBlock, Str,
    Tags, ENGINE_LAMBDA, ENGINE_SQL,
};
use crate::pipeline::values::{
    arn_name, arn_of, derive, known, need, not_one_of, pick, some, text,
};

pub const DEFAULT_NAME_PREFIX: &str = "SOURCE_SQL_STREAM";

pub const STARTING_POSITIONS: [&str; 3] = ["NOW", "TRIM_HORIZON", "LAST_STOPPED_POINT"];

pub const FORMATS: [&str; 2] = ["JSON", "CSV"];

/// KDA v1 limits: one reference data source, three outputs per application.
const MAX_REFERENCES: usize = 1;

const MAX_OUTPUTS: usize = 3;

/// In-application names: 1 to 32 characters.
const MAX_IN_APP_NAME: usize = 32;

/// Attributes only the `lambda` engine takes.
fn lambda_attributes(a: &AnalyticsBlock) -> [(&'static str, bool); 7] {
    [
        ("parent_table", a.parent_table.is_value()),
        ("parent_key", a.parent_key.is_value()),
        ("children", a.children.is_value()),
        ("lookups", a.lookups.is_value()),
        ("columns", a.columns.is_value()),
        ("publish_enriched", a.publish_enriched.is_value()),
        ("state_table", a.state_table.is_value()),
    ]
}

/// Attributes and blocks only the SQL engine takes.
fn sql_attributes(a: &AnalyticsBlock) -> Vec<(String, bool)> {
    let i = &a.input;
    let set = vec![
        ("application_name", a.application_name.is_value()),
        ("description", a.description.is_value()),
        ("code", a.code.is_value()),
        ("schema_ddl", a.schema_ddl.is_value()),
        ("start", a.start.is_value()),
        ("role_name", a.role_name.is_value()),
        ("input.name_prefix", i.name_prefix.is_value()),
        ("input.row_path", i.row_path.is_value()),
        ("input.columns", i.columns.is_value()),
        ("input.starting_position", i.starting_position.is_value()),
        ("input.parallelism", i.parallelism.is_value()),
        ("reference", !a.references().is_empty()),
        ("output", !a.outputs().is_empty()),
    ];
    set.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// `analytics.<attr>` as an attribute path, `input.x` and `output[0].x` included.
fn attr_path(attr: &str) -> AttributePath {
    let mut p = AttributePath::new("analytics");
    for part in attr.split('.') {
        match part.split_once('[') {
            Some((name, index)) => {
                p = p.attribute(name.to_string());
                if let Ok(i) = index.trim_end_matches(']').parse::<i64>() {
                    p = p.index(i);
                }
            }
            None => p = p.attribute(part.to_string()),
        }
    }
    p
}

fn error(diags: &mut Diagnostics, attr: &str, detail: impl Into<String>) {
    diags.error(
        format!("invalid analytics.{attr}"),
        detail.into(),
        attr_path(attr),
    );
}

/// Refuses the attributes of the engine not chosen (`engine` unset refuses both sets).
pub fn refuse_other_engine(a: &AnalyticsBlock, diags: &mut Diagnostics) {
    let engine = a.engine.as_ref_option().map(String::as_str);
    if engine != Some(ENGINE_LAMBDA) {
        for (attr, set) in lambda_attributes(a) {
            if set {
                let fix = match engine {
                    Some(e) => format!("it has no effect with `engine = \"{e}\"`: remove it"),
                    None => format!("set `engine = \"{ENGINE_LAMBDA}\"` for the function to run the correlation, or remove `{attr}`"),
                };
                error(
                    diags,
                    attr,
                    format!("`analytics.{attr}` is only for `engine = \"{ENGINE_LAMBDA}\"`: {fix}"),
                );
            }
        }
    }
    if engine != Some(ENGINE_SQL) {
        for (attr, set) in sql_attributes(a) {
            if set {
                let fix = match engine {
                    Some(e) => format!("it has no effect with `engine = \"{e}\"`: remove it"),
                    None => format!(
                        "set `engine = \"{ENGINE_SQL}\"` for a SQL application, or remove it"
                    ),
                };
                let attr = attr.as_str();
                error(
                    diags,
                    attr,
                    format!("`analytics.{attr}` is only for `engine = \"{ENGINE_SQL}\"`: {fix}"),
                );
            }
        }
    }
}

/// Configuration checks of the SQL engine that need no planning.
pub fn validate(a: &AnalyticsBlock, diags: &mut Diagnostics) {
    if a.code.is_null() {
        error(
            diags,
            "code",
            format!("`analytics.code` is required with `engine = \"{ENGINE_SQL}\"`: the application's SQL, e.g. `code = file(\"${{path.module}}/sql/kda-orders-setup.sql\")`"),
        );
    }
    name_like(
        diags,
        "application_name",
        &a.application_name,
        128,
        "_.-",
        "a Kinesis Analytics application name",
    );
    name_like(
        diags,
        "role_name",
        &a.role_name,
        64,
        "+=,.@_-",
        "an IAM role name",
    );
    if let Value::Value(d) = &a.description {
        if d.len() > 1024 {
            error(
                diags,
                "description",
                "`analytics.description` must be at most 1024 characters",
            );
        }
    }
    if let Value::Value(code) = &a.code {
        if code.trim().is_empty() || code.len() > 102_400 {
            error(
                diags,
                "code",
                format!(
                    "`analytics.code` must be 1 to 102400 characters of SQL (got {})",
                    code.len()
                ),
            );
        }
    }
    let i = &a.input;
    in_app_name(diags, "input.name_prefix", &i.name_prefix);
    if let Value::Value(row_path) = &i.row_path {
        mapping_ok(diags, "input.row_path", row_path);
    }
    one_of(
        diags,
        "input.starting_position",
        &i.starting_position,
        &STARTING_POSITIONS,
    );
    if let Value::Value(n) = &i.parallelism {
        if !(1..=64).contains(n) {
            error(
                diags,
                "input.parallelism",
                format!("`analytics.input.parallelism` must be between 1 and 64 (got {n})"),
            );
        }
    }
    match (&i.columns, &a.schema_ddl) {
        (Value::Null, Value::Null) => error(
            diags,
            "input.columns",
            "give the input schema: `analytics.schema_ddl = file(\"sql/orderdb-setup.sql\")` to derive it from the database's tables, or `analytics.input.columns = [{ name = \"orderId\", sql_type = \"INTEGER\", mapping = \"$.data.orderId\" }, ...]`",
        ),
        (Value::Value(_), Value::Value(_)) => error(
            diags,
            "schema_ddl",
            "`analytics.schema_ddl` derives `input.columns`, which is given too: remove one of them",
        ),
        _ => {}
    }
    if let Value::Value(columns) = &i.columns {
        check_columns(diags, "input.columns", columns);
    }
    if let Value::Value(ddl) = &a.schema_ddl {
        if let Err(e) = kda_sql::columns_from_ddl(ddl) {
            error(
                diags,
                "schema_ddl",
                format!("the input schema cannot be derived from `analytics.schema_ddl`: {e}"),
            );
        }
    }
    let references = a.references();
    if references.len() > MAX_REFERENCES {
        error(diags, "reference", format!("a Kinesis Analytics application has at most {MAX_REFERENCES} reference data source (got {}): join the files into one table", references.len()));
    }
    let mut tables = Vec::new();
    for (n, r) in references.iter().enumerate() {
        in_app_name(diags, &format!("reference[{n}].table_name"), &r.table_name);
        if let Value::Value(t) = &r.table_name {
            if tables.contains(t) {
                error(
                    diags,
                    &format!("reference[{n}].table_name"),
                    format!("reference table \"{t}\" is named twice"),
                );
            }
            tables.push(t.clone());
        }
        if let Value::Value(file) = &r.file {
            match std::fs::read(file) {
                Err(e) => error(diags, &format!("reference[{n}].file"), format!("the reference file cannot be read ({file}: {e}): give the path of a JSON file, e.g. `file = \"${{path.module}}/reference/products.json\"`")),
                Ok(bytes) => {
                    if r.columns.is_null() {
                        if let Err(e) = kda_sql::columns_from_json(&bytes) {
                            error(diags, &format!("reference[{n}].file"), format!("its schema cannot be inferred from {file}: {e}; fix the file or give `columns`"));
                        }
                    }
                }
            }
        }
        if let Value::Value(row_path) = &r.row_path {
            mapping_ok(diags, &format!("reference[{n}].row_path"), row_path);
        }
        if let Value::Value(columns) = &r.columns {
            check_columns(diags, &format!("reference[{n}].columns"), columns);
        }
    }
    let outputs = a.outputs();
    if outputs.is_empty() {
        error(diags, "output", "the SQL engine needs at least one `output` block: the in-application stream the persist function reads, e.g. `output { name = \"ORDER_ITEM_ENRICHED_STREAM\" }`");
    }
    if outputs.len() > MAX_OUTPUTS {
        error(
            diags,
            "output",
            format!(
                "a Kinesis Analytics application has at most {MAX_OUTPUTS} outputs (got {})",
                outputs.len()
            ),
        );
    }
    let mut names = Vec::new();
    for (n, o) in outputs.iter().enumerate() {
        in_app_name(diags, &format!("output[{n}].name"), &o.name);
        if let Value::Value(name) = &o.name {
            if names.contains(name) {
                error(
                    diags,
                    &format!("output[{n}].name"),
                    format!("output \"{name}\" is configured twice"),
                );
            }
            names.push(name.clone());
        }
        one_of(diags, &format!("output[{n}].format"), &o.format, &FORMATS);
    }
}

fn one_of(diags: &mut Diagnostics, attr: &str, value: &Str, allowed: &[&str]) {
    if let Some(why) = not_one_of(value, allowed) {
        error(diags, attr, format!("`analytics.{attr}` {why}"));
    }
}

fn name_like(
    diags: &mut Diagnostics,
    attr: &str,
    value: &Str,
    max: usize,
    extra: &str,
    what: &str,
) {
    if let Value::Value(v) = value {
        let ok = !v.is_empty()
            && v.len() <= max
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
        if !ok {
            error(diags, attr, format!("`analytics.{attr}` must be 1 to {max} characters of letters, digits and `{extra}` for {what} (got \"{v}\")"));
        }
    }
}

/// In-application stream and table names: 1 to 32 characters, no spaces, `-`, `<`, `>` or `&`.
fn in_app_name(diags: &mut Diagnostics, attr: &str, value: &Str) {
    if let Value::Value(v) = value {
        let ok = !v.is_empty()
            && v.len() <= MAX_IN_APP_NAME
            && !v.chars().any(|c| c.is_whitespace() || "-<>&\"".contains(c));
        if !ok {
            error(diags, attr, format!("`analytics.{attr}` must be 1 to {MAX_IN_APP_NAME} characters without spaces, `-`, `<`, `>`, `&` or `\"` (got \"{v}\")"));
        }
    }
}

fn mapping_ok(diags: &mut Diagnostics, attr: &str, mapping: &str) {
    if let Err(e) = kda_sql::check_mapping(mapping) {
        error(
            diags,
            attr,
            format!("`analytics.{attr}` is not a JSONPath (\"{mapping}\"): {e}"),
        );
    }
}

fn check_columns(diags: &mut Diagnostics, attr: &str, columns: &[Value<SqlColumn>]) {
    if columns.is_empty() {
        error(
            diags,
            attr,
            format!("`analytics.{attr}` must list at least one column"),
        );
    }
    let mut seen = Vec::new();
    for (n, column) in columns.iter().enumerate() {
        let Value::Value(c) = column else { continue };
        let at = format!("{attr}[{n}]");
        let name = c.name.as_ref_option().cloned().unwrap_or_default();
        if let Value::Value(name) = &c.name {
            if name.is_empty() || name.len() > 256 {
                error(
                    diags,
                    &at,
                    format!(
                        "column {n}: a name of 1 to 256 characters is required (got \"{name}\")"
                    ),
                );
            } else if seen.contains(name) {
                error(diags, &at, format!("column \"{name}\" appears twice"));
            }
            seen.push(name.clone());
        }
        if let Value::Value(t) = &c.sql_type {
            if let Err(e) = kda_sql::check_sql_type(t) {
                error(diags, &at, format!("column \"{name}\": {e}"));
            }
        }
        if let Value::Value(m) = &c.mapping {
            if let Err(e) = kda_sql::check_mapping(m) {
                error(
                    diags,
                    &at,
                    format!("column \"{name}\": the mapping \"{m}\" is not a JSONPath: {e}"),
                );
            }
        }
    }
}

fn to_state(columns: Vec<Column>) -> SqlColumns {
    Value::Value(
        columns
            .into_iter()
            .map(|c| {
                Value::Value(SqlColumn {
                    name: Value::Value(c.name),
                    sql_type: Value::Value(c.sql_type),
                    mapping: Value::Value(c.mapping),
                })
            })
            .collect(),
    )
}

/// Fully known columns, or `None`.
pub fn known_columns(columns: &SqlColumns) -> Option<Vec<Column>> {
    columns
        .as_ref_option()?
        .iter()
        .map(|c| {
            let c = c.as_ref_option()?;
            Some(Column {
                name: c.name.as_ref_option()?.clone(),
                sql_type: c.sql_type.as_ref_option()?.clone(),
                mapping: c.mapping.as_ref_option().cloned().unwrap_or_default(),
            })
        })
        .collect()
}

/// The planned `analytics` block of the SQL engine.
pub fn plan(
    config: &AnalyticsBlock,
    prior: Option<&AnalyticsBlock>,
    name: &Str,
    identity: &Identity,
    enriched_stream: &Str,
    diags: &mut Diagnostics,
) -> AnalyticsBlock {
    let ci = &config.input;
    let name_prefix = pick(&ci.name_prefix, text(DEFAULT_NAME_PREFIX));
    let derived = match (&ci.columns, &config.schema_ddl) {
        (Value::Null, Value::Value(ddl)) => match kda_sql::columns_from_ddl(ddl) {
            Ok(columns) => to_state(columns),
            Err(_) => Value::Unknown, // validate() has said why
        },
        (Value::Null, Value::Null) => Value::Null,
        _ => Value::Unknown,
    };
    let input = SqlInputBlock {
        in_application_stream: name_prefix.as_ref().map(|p| format!("{p}_001")),
        name_prefix,
        row_path: pick(&ci.row_path, text("$")),
        columns: pick(&ci.columns, derived),
        starting_position: pick(&ci.starting_position, text("NOW")),
        parallelism: pick(&ci.parallelism, Value::Value(1)),
    };
    let mut objects = BTreeMap::new();
    let mut objects_known = true;
    let reference: Vec<Value<SqlReferenceBlock>> = config
        .references()
        .into_iter()
        .map(|r| {
            let bytes = r.file.as_ref_option().and_then(|f| std::fs::read(f).ok());
            let key = r.table_name.as_ref().map(|t| reference_key(t));
            match (&key, &bytes) {
                (Value::Value(k), Some(b)) => {
                    objects.insert(k.clone(), Value::Value(content_hash(b)));
                }
                _ => objects_known = false,
            }
            let inferred = match &bytes {
                Some(b) => kda_sql::columns_from_json(b).map_or(Value::Unknown, to_state),
                None => Value::Unknown,
            };
            Value::Value(SqlReferenceBlock {
                table_name: r.table_name.clone(),
                file: r.file.clone(),
                key,
                row_path: pick(&r.row_path, text("$")),
                columns: pick(&r.columns, inferred),
            })
        })
        .collect();
    let output: Vec<Value<SqlOutputBlock>> = config
        .outputs()
        .into_iter()
        .map(|o| {
            Value::Value(SqlOutputBlock {
                name: o.name.clone(),
                stream_name: pick(&o.stream_name, enriched_stream.clone()),
                format: pick(&o.format, text("JSON")),
            })
        })
        .collect();
    let has_reference = !reference.is_empty();
    let reference_bucket = if has_reference {
        pick(
            &config.reference_bucket,
            name.as_ref()
                .map(|n| crate::pipeline::names::default_reference_bucket(n, &identity.account)),
        )
    } else {
        config.reference_bucket.clone()
    };
    let application_name = pick(&config.application_name, derive(name, "analytics"));
    let role_name = pick(&config.role_name, derive(name, "analytics"));
    let mut planned = AnalyticsBlock {
        engine: config.engine.clone(),
        reference_bucket_arn: if has_reference {
            reference_bucket
                .as_ref()
                .map(|b| format!("arn:{}:s3:::{b}", identity.partition))
        } else {
            Value::Null
        },
        reference_bucket,
        reference_objects: if !has_reference {
            Value::Null
        } else if objects_known {
            Value::Value(objects)
        } else {
            Value::Unknown
        },
        role_arn: arn_of(
            prior
                .filter(|p| p.sql_engine())
                .map(|p| (&p.role_name, &p.role_arn)),
            &role_name,
            |n| identity.arn("iam", false, &format!("role/{n}")),
        ),
        application_arn: arn_of(
            prior
                .filter(|p| p.sql_engine())
                .map(|p| (&p.application_name, &p.application_arn)),
            &application_name,
            |n| identity.arn("kinesisanalytics", true, &format!("application/{n}")),
        ),
        application_name,
        role_name,
        description: config.description.clone(),
        code: config.code.clone(),
        schema_ddl: config.schema_ddl.clone(),
        start: pick(&config.start, Value::Value(true)),
        input,
        reference: Value::Value(reference),
        output: Value::Value(output),
        ..AnalyticsBlock::default()
    };
    // The version id changes with every change to the application (not with start, stop or
    // tags): known in the plan only when nothing the application holds changes.
    planned.application_version_id = match prior {
        Some(p)
            if p.application_arn.is_value()
                && planned.application_arn.is_value()
                && fingerprint(p).is_some()
                && fingerprint(p) == fingerprint(&planned) =>
        {
            p.application_version_id
        }
        _ => Value::Unknown,
    };
    check_code(&planned, diags);
    planned
}

/// What the application holds, as one comparable value: `None` while anything is unknown.
fn fingerprint(a: &AnalyticsBlock) -> Option<serde_json::Value> {
    let i = &a.input;
    let references: Option<Vec<serde_json::Value>> = a
        .references()
        .into_iter()
        .map(|r| {
            Some(serde_json::json!([
                r.table_name.as_ref_option()?,
                r.key.as_ref_option()?,
                r.row_path.as_ref_option()?,
                columns_json(&r.columns)?,
            ]))
        })
        .collect();
    let mut outputs: Vec<serde_json::Value> = a
        .outputs()
        .into_iter()
        .map(|o| {
            Some(serde_json::json!([
                o.name.as_ref_option()?,
                o.stream_name.as_ref_option()?,
                o.format.as_ref_option()?,
            ]))
        })
        .collect::<Option<_>>()?;
    outputs.sort_by_key(|o| o.to_string());
    let objects: &Tags = &a.reference_objects;
    Some(serde_json::json!({
        "name": a.application_name.as_ref_option()?,
        "description": a.description.as_ref_option(),
        "code": a.code.as_ref_option()?,
        "role": a.role_name.as_ref_option()?,
        "input": [
            i.name_prefix.as_ref_option()?,
            i.row_path.as_ref_option()?,
            columns_json(&i.columns)?,
            i.parallelism.as_ref_option()?,
        ],
        "references": references?,
        "objects": if objects.is_unknown() { return None } else { serde_json::to_value(objects).ok()? },
        "outputs": outputs,
    }))
}

fn columns_json(columns: &SqlColumns) -> Option<serde_json::Value> {
    let columns = known_columns(columns)?;
    Some(serde_json::Value::Array(
        columns
            .into_iter()
            .map(|c| serde_json::json!([c.name, c.sql_type, c.mapping]))
            .collect(),
    ))
}

/// The SQL checked against the planned mappings; skipped while anything is unknown.
fn check_code(a: &AnalyticsBlock, diags: &mut Diagnostics) {
    let (Value::Value(code), Value::Value(input_stream)) =
        (&a.code, &a.input.in_application_stream)
    else {
        return;
    };
    let Some(input_columns) = known_columns(&a.input.columns) else {
        return;
    };
    let mut references = Vec::new();
    for r in a.references() {
        let (Value::Value(table), Some(columns)) = (&r.table_name, known_columns(&r.columns))
        else {
            return;
        };
        references.push((table.clone(), columns));
    }
    let mut outputs = Vec::new();
    for o in a.outputs() {
        let Value::Value(name) = &o.name else { return };
        outputs.push(name.clone());
    }
    let reference_refs: Vec<(&str, &[Column])> = references
        .iter()
        .map(|(t, c)| (t.as_str(), c.as_slice()))
        .collect();
    let output_refs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    let context = CodeContext {
        input_stream,
        input_columns: &input_columns,
        references: &reference_refs,
        outputs: &output_refs,
    };
    for finding in kda_sql::check_code(code, &context) {
        let attr = match finding.subject {
            Subject::Code => "code".to_string(),
            Subject::InputPrefix => "input.name_prefix".to_string(),
            Subject::Output(n) => format!("output[{n}].name"),
            Subject::Reference(n) => format!("reference[{n}].table_name"),
        };
        let summary = if attr == "code" {
            "invalid analytics.code".to_string()
        } else {
            format!("analytics.code does not match analytics.{attr}")
        };
        diags.error(summary, finding.message, attr_path(&attr));
    }
}

pub const POLICY_NAME: &str = "unifiedetl-analytics";

const SERVICE: &str = "kinesisanalytics.amazonaws.com";

/// The SQL application the planned state asks for, every value known.
pub struct SqlApp {
    pub application_name: String,
    pub description: String,
    pub code: String,
    pub role_name: String,
    pub name_prefix: String,
    pub row_path: String,
    pub columns: Vec<Column>,
    pub parallelism: i32,
    pub references: Vec<SqlReference>,
    pub outputs: Vec<SqlOutput>,
    pub start: bool,
    pub starting_position: String,
    /// A reference object's content changes in this apply: the application reloads it.
    pub reload: bool,
    /// The application and role of the prior state when renamed (deleted once the new are up).
    pub replaced_application: Option<String>,
    pub replaced_role: Option<String>,
    /// The prior state names this application and role as the pipeline's.
    pub application_ours: bool,
    pub role_ours: bool,
}

pub struct SqlReference {
    pub table_name: String,
    pub key: String,
    pub row_path: String,
    pub columns: Vec<Column>,
}

pub struct SqlOutput {
    pub name: String,
    pub stream_name: String,
    pub format: String,
}

fn columns(value: &crate::pipeline::state::SqlColumns, what: &str) -> Result<Vec<Column>, String> {
    known_columns(value).ok_or_else(|| format!("`{what}` is not fully known at apply time"))
}

impl SqlApp {
    /// `None` unless the planned state asks for the SQL engine.
    pub fn from_state(
        a: &AnalyticsBlock,
        prior: Option<&AnalyticsBlock>,
    ) -> Result<Option<SqlApp>, String> {
        if !a.sql_engine() {
            return Ok(None);
        }
        let i = &a.input;
        let application_name = need(&a.application_name, "analytics.application_name")?;
        let role_name = need(&a.role_name, "analytics.role_name")?;
        let references = a
            .references()
            .into_iter()
            .map(|r: &SqlReferenceBlock| {
                Ok(SqlReference {
                    table_name: need(&r.table_name, "analytics.reference.table_name")?,
                    key: need(&r.key, "analytics.reference.key")?,
                    row_path: need(&r.row_path, "analytics.reference.row_path")?,
                    columns: columns(&r.columns, "analytics.reference.columns")?,
                })
            })
            .collect::<Result<_, String>>()?;
        let outputs = a
            .outputs()
            .into_iter()
            .map(|o: &SqlOutputBlock| {
                Ok(SqlOutput {
                    name: need(&o.name, "analytics.output.name")?,
                    stream_name: need(&o.stream_name, "analytics.output.stream_name")?,
                    format: need(&o.format, "analytics.output.format")?,
                })
            })
            .collect::<Result<_, String>>()?;
        let prior = prior.filter(|p| p.sql_engine());
        let renamed = |old: Option<&String>, arn_known: bool, new: &str| {
            old.filter(|o| arn_known && o.as_str() != new).cloned()
        };
        Ok(Some(SqlApp {
            description: a.description.as_ref_option().cloned().unwrap_or_default(),
            code: need(&a.code, "analytics.code")?,
            name_prefix: need(&i.name_prefix, "analytics.input.name_prefix")?,
            row_path: need(&i.row_path, "analytics.input.row_path")?,
            columns: columns(&i.columns, "analytics.input.columns")?,
            parallelism: need(&i.parallelism, "analytics.input.parallelism")? as i32,
            references,
            outputs,
            start: need(&a.start, "analytics.start")?,
            starting_position: need(&i.starting_position, "analytics.input.starting_position")?,
            reload: prior.is_some_and(|p| {
                p.reference_objects.is_value() && p.reference_objects != a.reference_objects
            }),
            replaced_application: prior.and_then(|p| {
                renamed(
                    p.application_name.as_ref_option(),
                    known(&p.application_arn),
                    &application_name,
                )
            }),
            replaced_role: prior
                .and_then(|p| renamed(p.role_name.as_ref_option(), known(&p.role_arn), &role_name)),
            application_ours: prior.is_some_and(|p| {
                known(&p.application_arn)
                    && p.application_name.as_ref_option() == Some(&application_name)
            }),
            role_ours: prior.is_some_and(|p| {
                known(&p.role_arn) && p.role_name.as_ref_option() == Some(&role_name)
            }),
            application_name,
            role_name,
        }))
    }
}

/// What the pipeline's streams look like, for ARNs and KMS grants.
pub struct Streams<'a> {
    pub cdc: &'a StreamSpec,
    pub enriched: &'a StreamSpec,
}

fn stream_arn(aws: &Aws, role_arn: &str, name: &str) -> String {
    format!(
        "arn:{}:kinesis:{}:{}:stream/{name}",
        partition_of(role_arn),
        aws.region,
        account_of(role_arn).unwrap_or_default()
    )
}

/// The application's role, scoped to its input, outputs and reference objects.
pub async fn prepare(
    aws: &Aws,
    app: &SqlApp,
    streams: &Streams<'_>,
    reference_bucket_arn: Option<&str>,
    owner: &Owner,
    tags: &BTreeMap<String, String>,
) -> AwsResult<String> {
    let policy = |role_arn: &str| {
        let kms_of = |name: &str| {
            [streams.cdc, streams.enriched]
                .into_iter()
                .find(|s| s.name == name)
                .and_then(|s| s.kms_key_id.clone())
        };
        iam::analytics_policy(&iam::AnalyticsScope {
            partition: partition_of(role_arn),
            region: &aws.region,
            account: account_of(role_arn).unwrap_or_default(),
            input_stream_arn: &stream_arn(aws, role_arn, &streams.cdc.name),
            input_kms_key: streams.cdc.kms_key_id.as_deref(),
            output_stream_arns: app
                .outputs
                .iter()
                .map(|o| stream_arn(aws, role_arn, &o.stream_name))
                .collect(),
            output_kms_keys: app
                .outputs
                .iter()
                .filter_map(|o| kms_of(&o.stream_name))
                .collect(),
            reference_object_arns: match reference_bucket_arn {
                Some(bucket) => app
                    .references
                    .iter()
                    .map(|r| format!("{bucket}/{}", r.key))
                    .collect(),
                None => Vec::new(),
            },
        })
    };
    ensure_service_role(
        aws,
        ServiceRole {
            name: &app.role_name,
            services: vec![SERVICE.to_string()],
            policy_name: POLICY_NAME,
        },
        policy,
        app.role_ours,
        owner,
        tags,
    )
    .await
}

/// What [`finish`] brought up.
pub struct SqlDone {
    pub application_arn: String,
    pub version_id: i64,
}

/// The application, created or brought to the spec in place, then started or stopped; once it
/// is up, a renamed predecessor (and its role) goes.
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    aws: &Aws,
    app: &SqlApp,
    role_arn: &str,
    cdc_arn: &str,
    reference_bucket_arn: Option<&str>,
    owner: &Owner,
    tags: &BTreeMap<String, String>,
    timeout: Duration,
) -> AwsResult<SqlDone> {
    let client = &aws.kinesisanalytics;
    let spec = ApplicationSpec {
        name: app.application_name.clone(),
        description: app.description.clone(),
        code: app.code.clone(),
        role_arn: role_arn.to_string(),
        input: InputSpec {
            name_prefix: app.name_prefix.clone(),
            stream_arn: cdc_arn.to_string(),
            row_path: app.row_path.clone(),
            columns: app.columns.clone(),
            parallelism: app.parallelism,
        },
        references: match reference_bucket_arn {
            Some(bucket_arn) => app
                .references
                .iter()
                .map(|r| ReferenceSpec {
                    table_name: r.table_name.clone(),
                    bucket_arn: bucket_arn.to_string(),
                    key: r.key.clone(),
                    row_path: r.row_path.clone(),
                    columns: r.columns.clone(),
                })
                .collect(),
            None => Vec::new(),
        },
        outputs: app
            .outputs
            .iter()
            .map(|o| OutputSpec {
                name: o.name.clone(),
                stream_arn: stream_arn(aws, role_arn, &o.stream_name),
                format: o.format.clone(),
            })
            .collect(),
        tags: tags.clone(),
    };
    let context = |e: AwsError| AwsError {
        message: format!(
            "Kinesis Analytics application ({}): {}",
            app.application_name, e.message
        ),
        ..e
    };
    let current = kda::find_by_name(client, &app.application_name).await?;
    let application: Application = match current {
        None => kda::create(client, &spec, timeout).await?,
        Some(current) => {
            if !app.application_ours {
                owner.check(own::APPLICATION, &app.application_name, &current.tags)?;
            }
            if kda::needs_replacement(&current, &spec) {
                kda::delete(client, &app.application_name, timeout).await?;
                kda::create(client, &spec, timeout).await?
            } else if kda::differs(&current, &spec) {
                kda::update(client, &current, &spec, timeout).await?
            } else if app.reload && !spec.references.is_empty() {
                kda::reload_references(client, &current, timeout).await?
            } else {
                current
            }
        }
    };
    if app.start {
        kda::start(
            client,
            &app.application_name,
            &app.starting_position,
            timeout,
        )
        .await
        .map_err(context)?;
    } else {
        kda::stop(client, &app.application_name, timeout)
            .await
            .map_err(context)?;
    }
    if let Some(old) = &app.replaced_application {
        kda::delete(client, old, timeout).await?;
    }
    if let Some(old) = &app.replaced_role {
        iam::delete(&aws.iam, old).await?;
    }
    Ok(SqlDone {
        application_arn: application.arn,
        version_id: application.version_id,
    })
}

/// Deletes the application and then its role (those the state knows). Not-found is success.
pub async fn destroy(aws: &Aws, a: &AnalyticsBlock, timeout: Duration) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(name) = a
        .application_name
        .as_ref_option()
        .filter(|_| known(&a.application_arn))
    {
        if let Err(e) = kda::delete(&aws.kinesisanalytics, name, timeout).await {
            errors.push(e.message);
            return errors; // the role stays while the application may still use it
        }
    }
    if let Some(name) = a.role_name.as_ref_option().filter(|_| known(&a.role_arn)) {
        if let Err(e) = iam::delete(&aws.iam, name).await {
            errors.push(e.message);
        }
    }
    errors
}

fn recorded_columns(columns: &[Column]) -> SqlColumns {
    some(
        columns
            .iter()
            .map(|c| {
                some(SqlColumn {
                    name: some(c.name.clone()),
                    sql_type: some(c.sql_type.clone()),
                    mapping: some(c.mapping.clone()),
                })
            })
            .collect(),
    )
}

/// The stream name at the end of a Kinesis stream ARN.
fn stream_name_of(arn: &str) -> String {
    arn.rsplit_once("stream/")
        .map_or(arn, |(_, name)| name)
        .to_string()
}

/// Writes what AWS reports of the application and its role into `a`: a setting changed out of
/// band shows on its attribute; the application or role gone shows as its ARN becoming "known
/// after apply". The local reference file is never read back (its object's hash is, in
/// `reference_objects`), nor the starting position (AWS does not keep it).
pub async fn refresh(aws: &Aws, a: &mut AnalyticsBlock) -> AwsResult<()> {
    let (role, application) = tokio::join!(
        crate::pipeline::roles::role_arn(aws, &a.role_name, &a.role_arn, POLICY_NAME),
        async {
            match a.application_name.as_ref_option() {
                Some(name) => kda::find_by_name(&aws.kinesisanalytics, name).await,
                None => Ok(None),
            }
        }
    );
    a.role_arn = role?;
    let Some(app) = application? else {
        a.application_arn = Value::Null;
        a.application_version_id = Value::Null;
        return Ok(());
    };
    if a.application_arn.as_ref_option() != Some(&app.arn) {
        a.application_arn = Value::Null;
    }
    a.application_version_id = some(app.version_id);
    if a.description.is_value() || !app.description.is_empty() {
        a.description = some(app.description.clone());
    }
    a.code = some(app.code.clone());
    a.start = some(app.running());
    match &app.input {
        Some(input) => {
            let s = &input.spec;
            a.input.name_prefix = some(s.name_prefix.clone());
            a.input.in_application_stream = some(format!("{}_001", s.name_prefix));
            a.input.row_path = some(s.row_path.clone());
            a.input.columns = recorded_columns(&s.columns);
            a.input.parallelism = some(s.parallelism as i64);
        }
        None => a.input.columns = some(Vec::new()),
    }
    let prior_refs: Vec<SqlReferenceBlock> = a.references().into_iter().cloned().collect();
    a.reference = some(
        app.references
            .iter()
            .map(|r| {
                let prior = prior_refs
                    .iter()
                    .find(|p| p.table_name.as_ref_option() == Some(&r.spec.table_name));
                some(SqlReferenceBlock {
                    table_name: some(r.spec.table_name.clone()),
                    file: prior.map_or(Value::Null, |p| p.file.clone()),
                    key: some(r.spec.key.clone()),
                    row_path: some(r.spec.row_path.clone()),
                    columns: recorded_columns(&r.spec.columns),
                })
            })
            .collect(),
    );
    // Outputs in the configuration's order where they match by name, then any others.
    let prior_outputs: Vec<String> = a
        .outputs()
        .into_iter()
        .filter_map(|o| o.name.as_ref_option().cloned())
        .collect();
    let mut outputs = app.outputs.clone();
    outputs.sort_by_key(|o| {
        prior_outputs
            .iter()
            .position(|n| *n == o.spec.name)
            .unwrap_or(usize::MAX)
    });
    a.output = some(
        outputs
            .iter()
            .map(|o| {
                some(SqlOutputBlock {
                    name: some(o.spec.name.clone()),
                    stream_name: some(stream_name_of(&o.spec.stream_arn)),
                    format: some(o.spec.format.clone()),
                })
            })
            .collect(),
    );
    Ok(())
}

/// The SQL engine: the application's name, role and reference bucket (refresh fills in the
/// rest); an application that no longer exists keeps only its name, to be created.
pub async fn import(
    aws: &Aws,
    identity: &Identity,
    id: &ImportId,
    application: &str,
    app: Option<&kda::Application>,
    a: &mut AnalyticsBlock,
) -> Result<(), String> {
    a.engine = text(ENGINE_SQL);
    a.application_name = text(application);
    a.start = some(true);
    a.input.starting_position = text("NOW");
    let role = app
        .and_then(|app| app.input.as_ref().map(|i| arn_name(&i.role_arn)))
        .or_else(|| id.components.get("analytics_role").cloned())
        .unwrap_or_else(|| format!("{}-analytics", id.name));
    a.role_name = some(role);
    if let Some(bucket) = id.components.get("reference_bucket") {
        // Named in the map: kept when the application is gone (refresh checks it exists).
        a.reference_bucket = some(bucket.clone());
        if s3::exists(&aws.s3, bucket).await.map_err(|e| e.message)? {
            a.reference_bucket_arn = some(format!("arn:{}:s3:::{bucket}", identity.partition));
        }
    }
    let Some(app) = app else {
        // Gone (AWS deleted SQL applications in January 2026): to be created.
        return Ok(());
    };
    a.application_arn = some(app.arn.clone());
    let mut objects = BTreeMap::new();
    let mut references = Vec::new();
    for r in &app.references {
        let bucket = arn_name(&r.spec.bucket_arn);
        let file = s3::object_source_file(&aws.s3, &bucket, &r.spec.key)
            .await
            .map_err(|e| e.message)?;
        objects.insert(r.spec.key.clone(), Value::Null);
        references.push(some(SqlReferenceBlock {
            table_name: some(r.spec.table_name.clone()),
            file: file.map_or(Value::Null, some),
            key: some(r.spec.key.clone()),
            ..Default::default()
        }));
        a.reference_bucket = some(bucket);
        a.reference_bucket_arn = some(r.spec.bucket_arn.clone());
    }
    if !references.is_empty() {
        a.reference = some(references);
        a.reference_objects = some(objects);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_paths_reach_into_nested_blocks() {
        let p = attr_path("output[1].name");
        assert_eq!(
            p,
            AttributePath::new("analytics")
                .attribute("output")
                .index(1)
                .attribute("name")
        );
        assert_eq!(
            attr_path("input.columns[2]"),
            AttributePath::new("analytics")
                .attribute("input")
                .attribute("columns")
                .index(2)
        );
    }

    #[test]
    fn the_stream_name_comes_from_the_arn() {
        assert_eq!(
            stream_name_of("arn:aws:kinesis:us-east-1:123456789012:stream/orders-enriched"),
            "orders-enriched"
        );
    }
}
