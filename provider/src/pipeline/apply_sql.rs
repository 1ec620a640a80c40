//! The SQL engine at apply, refresh and destroy: the Kinesis Data Analytics application and
//! its role.
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

use super::owner::{self as own, Owner};
use super::roles::{ensure_service_role, ServiceRole};
use super::sql_engine::known_columns;
use super::state::{AnalyticsBlock, SqlColumn, SqlOutputBlock, SqlReferenceBlock};
use super::values::{known, need};
use crate::aws::iam;
use crate::aws::kinesis::StreamSpec;
use crate::aws::kinesisanalytics::{
    self as kda, Application, ApplicationSpec, InputSpec, OutputSpec, ReferenceSpec,
};
use crate::aws::{account_of, partition_of, Aws, AwsError, AwsResult};
use crate::kda_sql::Column;

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

fn columns(value: &super::state::SqlColumns, what: &str) -> Result<Vec<Column>, String> {
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

fn some<T>(v: T) -> Value<T> {
    Value::Value(v)
}

fn to_state(columns: &[Column]) -> super::state::SqlColumns {
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
        super::roles::role_arn(aws, &a.role_name, &a.role_arn, POLICY_NAME),
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
            a.input.columns = to_state(&s.columns);
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
                    columns: to_state(&r.spec.columns),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_name_comes_from_the_arn() {
        assert_eq!(
            stream_name_of("arn:aws:kinesis:us-east-1:123456789012:stream/orders-enriched"),
            "orders-enriched"
        );
    }
}
