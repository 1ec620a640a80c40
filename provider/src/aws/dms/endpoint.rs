//! The MySQL source and Kinesis target endpoints: finders, expand/flatten, create/update/delete,
//! then their waiters. An endpoint a running task uses changes only while that task is stopped:
//! updating one stops its tasks, modifies it, and resumes them.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use aws_sdk_databasemigration::types::{
    DmsSslModeValue, Filter, KinesisSettings, MessageFormatValue, MySqlSettings,
    ReplicationEndpointTypeValue,
};
use aws_sdk_databasemigration::Client;

use crate::aws::{context, AwsError, AwsResult};
use crate::wait;

use super::common::{
    disappeared, filter, found, gone, id_variants, is_in_use, is_role_propagation, non_empty,
    tags_of, to_tags, update_tags, ENDPOINT, TASK,
};
use super::task::{
    describe_tasks, is_settled, start_task, stop_task, wait_task_settled, wait_task_stopped, Task,
};

/// A MySQL source: either credentials (server, port, user, password) or a Secrets Manager
/// secret with the role DMS reads it with, never both.
#[derive(Clone, PartialEq)]
pub struct MySqlSource {
    pub server_name: Option<String>,
    pub port: Option<i32>,
    pub database_name: Option<String>,
    pub username: Option<String>,
    /// Never returned by AWS: always `None` in what the finders read.
    pub password: Option<String>,
    pub secret_arn: Option<String>,
    pub secret_role_arn: Option<String>,
    /// `none`, `require`, `verify-ca` or `verify-full`.
    pub ssl_mode: String,
    pub certificate_arn: Option<String>,
}

/// The password stays out of every Debug output (and so out of logs and panics).
impl fmt::Debug for MySqlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlSource")
            .field("server_name", &self.server_name)
            .field("port", &self.port)
            .field("database_name", &self.database_name)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("secret_arn", &self.secret_arn)
            .field("secret_role_arn", &self.secret_role_arn)
            .field("ssl_mode", &self.ssl_mode)
            .field("certificate_arn", &self.certificate_arn)
            .finish()
    }
}

/// A Kinesis target. The message shape is fixed (JSON with transaction details and partition
/// values, no control records, DDL or null/empty columns): the pipeline's decoder relies on it.
#[derive(Debug, Clone, PartialEq)]
pub struct KinesisTarget {
    pub stream_arn: String,
    /// The role DMS assumes to write to the stream.
    pub role_arn: String,
    pub partition_include_schema_table: bool,
}

/// What an endpoint connects to.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointKind {
    MySql(MySqlSource),
    Kinesis(KinesisTarget),
}

impl EndpointKind {
    fn engine(&self) -> &'static str {
        match self {
            EndpointKind::MySql(_) => "mysql",
            EndpointKind::Kinesis(_) => "kinesis",
        }
    }

    fn endpoint_type(&self) -> ReplicationEndpointTypeValue {
        match self {
            EndpointKind::MySql(_) => ReplicationEndpointTypeValue::Source,
            EndpointKind::Kinesis(_) => ReplicationEndpointTypeValue::Target,
        }
    }
}

/// The settings an endpoint should have.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSpec {
    pub identifier: String,
    pub kind: EndpointKind,
    pub tags: BTreeMap<String, String>,
}

/// An endpoint as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub identifier: String,
    pub arn: String,
    pub status: String,
    /// The engine name (`mysql`, `kinesis`, ...).
    pub engine: String,
    /// As read; the MySQL password is always `None`. Engines other than `kinesis` are read as
    /// MySQL (and differ from a spec by their engine name).
    pub kind: EndpointKind,
    pub tags: BTreeMap<String, String>,
    /// `source` or `target` (AWS answers in upper case).
    endpoint_type: String,
    /// The fixed Kinesis message settings are as this module sets them.
    kinesis_fixed: bool,
}

/// Describes the endpoint `id`, with its tags; `None` if it does not exist.
pub async fn find_endpoint_by_id(client: &Client, id: &str) -> AwsResult<Option<Endpoint>> {
    let Some(endpoint) = describe_endpoint_by_id(client, id).await? else {
        return Ok(None);
    };
    Ok(Some(with_endpoint_tags(client, endpoint).await?))
}

/// Describes the endpoint `id` without its tags (a refresh does not compare them).
pub async fn describe_endpoint_by_id(client: &Client, id: &str) -> AwsResult<Option<Endpoint>> {
    for id in id_variants(id) {
        if let Some(endpoint) = describe_endpoint(client, filter("endpoint-id", &id)).await? {
            return Ok(Some(endpoint));
        }
    }
    Ok(None)
}

async fn find_endpoint_by_arn(client: &Client, arn: &str) -> AwsResult<Option<Endpoint>> {
    let Some(endpoint) = describe_endpoint(client, filter("endpoint-arn", arn)).await? else {
        return Ok(None);
    };
    Ok(Some(with_endpoint_tags(client, endpoint).await?))
}

async fn with_endpoint_tags(client: &Client, endpoint: Endpoint) -> AwsResult<Endpoint> {
    let tags = tags_of(client, &endpoint.arn).await?;
    Ok(Endpoint { tags, ..endpoint })
}

async fn describe_endpoint(client: &Client, by: Filter) -> AwsResult<Option<Endpoint>> {
    let out = found(
        client
            .describe_endpoints()
            .filters(by)
            .send()
            .await
            .map_err(AwsError::from),
    )?;
    Ok(out
        .and_then(|o| o.endpoints)
        .and_then(|all| all.into_iter().next())
        .map(flatten_endpoint))
}

/// An endpoint as DMS describes it (or answers its creation with), without tags.
fn flatten_endpoint(e: aws_sdk_databasemigration::types::Endpoint) -> Endpoint {
    let engine = e.engine_name.clone().unwrap_or_default();
    let mut kinesis_fixed = true;
    let kind = if engine == "kinesis" {
        let k = e
            .kinesis_settings
            .clone()
            .unwrap_or_else(|| KinesisSettings::builder().build());
        kinesis_fixed = matches!(k.message_format, None | Some(MessageFormatValue::Json))
            && k.include_transaction_details == Some(true)
            && k.include_partition_value == Some(true)
            && k.include_control_details != Some(true)
            && k.include_table_alter_operations != Some(true)
            && k.include_null_and_empty != Some(true);
        EndpointKind::Kinesis(KinesisTarget {
            stream_arn: k.stream_arn.unwrap_or_default(),
            role_arn: non_empty(k.service_access_role_arn)
                .or_else(|| non_empty(e.service_access_role_arn.clone()))
                .unwrap_or_default(),
            partition_include_schema_table: k.partition_include_schema_table.unwrap_or(false),
        })
    } else {
        let m = e
            .my_sql_settings
            .clone()
            .unwrap_or_else(|| MySqlSettings::builder().build());
        EndpointKind::MySql(MySqlSource {
            server_name: non_empty(m.server_name).or_else(|| non_empty(e.server_name.clone())),
            port: m.port.or(e.port),
            database_name: non_empty(m.database_name)
                .or_else(|| non_empty(e.database_name.clone())),
            username: non_empty(m.username).or_else(|| non_empty(e.username.clone())),
            password: None,
            secret_arn: non_empty(m.secrets_manager_secret_id),
            secret_role_arn: non_empty(m.secrets_manager_access_role_arn),
            ssl_mode: e
                .ssl_mode
                .as_ref()
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "none".to_string()),
            certificate_arn: non_empty(e.certificate_arn.clone()),
        })
    };
    Endpoint {
        identifier: e.endpoint_identifier.unwrap_or_default(),
        arn: e.endpoint_arn.unwrap_or_default(),
        status: e.status.unwrap_or_default(),
        engine,
        kind,
        tags: BTreeMap::new(),
        endpoint_type: e
            .endpoint_type
            .map(|t| t.as_str().to_lowercase())
            .unwrap_or_default(),
        kinesis_fixed,
    }
}

/// The MySQL settings to send: credentials, or the secret and its role, never both; the
/// database name goes with either.
fn expand_mysql(source: &MySqlSource) -> MySqlSettings {
    let credentials = credentials(source);
    let settings = MySqlSettings::builder()
        .set_database_name(source.database_name.clone())
        .set_server_name(credentials.server_name)
        .set_port(credentials.port)
        .set_username(credentials.username)
        .set_password(credentials.password);
    match &source.secret_arn {
        Some(secret) => settings
            .secrets_manager_secret_id(secret)
            .set_secrets_manager_access_role_arn(source.secret_role_arn.clone()),
        None => settings,
    }
    .build()
}

/// The connection details sent with the MySQL settings — and at the top level of the request
/// as well: DMS also keeps them there (a port given only in MySqlSettings does not replace a
/// top-level one), as the Terraform AWS provider does. None of them with a secret.
struct Credentials {
    server_name: Option<String>,
    port: Option<i32>,
    username: Option<String>,
    password: Option<String>,
}

fn credentials(source: &MySqlSource) -> Credentials {
    if source.secret_arn.is_some() {
        return Credentials {
            server_name: None,
            port: None,
            username: None,
            password: None,
        };
    }
    Credentials {
        server_name: source.server_name.clone(),
        port: source.port,
        username: source.username.clone(),
        password: source.password.clone(),
    }
}

fn expand_kinesis(target: &KinesisTarget) -> KinesisSettings {
    KinesisSettings::builder()
        .stream_arn(&target.stream_arn)
        .service_access_role_arn(&target.role_arn)
        .message_format(MessageFormatValue::Json)
        .include_transaction_details(true)
        .include_partition_value(true)
        .partition_include_schema_table(target.partition_include_schema_table)
        .include_control_details(false)
        .include_table_alter_operations(false)
        .include_null_and_empty(false)
        .build()
}

/// Creates the endpoint.
pub async fn create_endpoint(client: &Client, spec: &EndpointSpec) -> AwsResult<Endpoint> {
    let err = |e: AwsError| context("creating", ENDPOINT, &spec.identifier, e);
    // A freshly created access role (Kinesis, or the secret's) may not be assumable yet.
    let created = wait::retry_while(is_role_propagation, || async {
        let request = client
            .create_endpoint()
            .endpoint_identifier(&spec.identifier)
            .endpoint_type(spec.kind.endpoint_type())
            .engine_name(spec.kind.engine())
            .set_tags(to_tags(&spec.tags));
        let request = match &spec.kind {
            EndpointKind::MySql(source) => {
                let credentials = credentials(source);
                request
                    .my_sql_settings(expand_mysql(source))
                    .set_server_name(credentials.server_name)
                    .set_port(credentials.port)
                    .set_username(credentials.username)
                    .set_password(credentials.password)
                    .set_database_name(source.database_name.clone())
                    .ssl_mode(DmsSslModeValue::from(source.ssl_mode.as_str()))
                    .set_certificate_arn(source.certificate_arn.clone())
            }
            EndpointKind::Kinesis(target) => request.kinesis_settings(expand_kinesis(target)),
        };
        AwsResult::Ok(request.send().await?.endpoint)
    })
    .await
    .map_err(err)?;
    // DMS answers with the endpoint as made; its tags are the ones just given.
    let endpoint = created.ok_or_else(|| err(disappeared("created")))?;
    Ok(Endpoint {
        tags: spec.tags.clone(),
        ..flatten_endpoint(endpoint)
    })
}

/// Whether the endpoint differs from `spec`, ignoring the password (AWS never returns it; the
/// caller knows from its state whether it changed). Connection details the spec leaves out
/// (port, a certificate) are DMS's to choose and do not count.
pub fn endpoint_differs(current: &Endpoint, spec: &EndpointSpec) -> bool {
    if current.engine != spec.kind.engine()
        || current.endpoint_type != spec.kind.endpoint_type().as_str()
    {
        return true;
    }
    match (&current.kind, &spec.kind) {
        (EndpointKind::Kinesis(have), EndpointKind::Kinesis(want)) => {
            have != want || !current.kinesis_fixed
        }
        (EndpointKind::MySql(have), EndpointKind::MySql(want)) => {
            let given_and_differs =
                |want: &Option<String>, have: &Option<String>| want.is_some() && want != have;
            // With a secret, the connection details come from the secret and are not sent.
            let credentials_differ = want.secret_arn.is_none()
                && (given_and_differs(&want.server_name, &have.server_name)
                    || given_and_differs(&want.username, &have.username)
                    || (want.port.is_some() && want.port != have.port));
            credentials_differ
                || given_and_differs(&want.database_name, &have.database_name)
                || want.secret_arn != have.secret_arn
                || want.secret_role_arn != have.secret_role_arn
                || want.ssl_mode != have.ssl_mode
                || given_and_differs(&want.certificate_arn, &have.certificate_arn)
        }
        _ => true,
    }
}

/// Brings an existing endpoint to `spec`. When it differs (or the password changed), the
/// tasks that use it are stopped (DMS must not run a task while its endpoint changes), the
/// endpoint is modified with every setting, and the tasks that were running are resumed —
/// also when the modification failed, since the endpoint is then unchanged. Then tags.
///
/// With MySQL credentials, `spec` must carry the password whenever the endpoint is modified:
/// the settings are replaced as a whole (`ExactSettings`), so that removed ones go. Without a
/// password (nor a secret), the given settings are merged instead and the stored password is
/// kept.
pub async fn update_endpoint(
    client: &Client,
    current: &Endpoint,
    spec: &EndpointSpec,
    password_changed: bool,
    timeout: Duration,
) -> AwsResult<Endpoint> {
    let err = |e: AwsError| context("updating", ENDPOINT, &spec.identifier, e);
    if password_changed || endpoint_differs(current, spec) {
        let stopped = stop_tasks_using(client, &current.arn, timeout)
            .await
            .map_err(err)?;
        let modified = modify_endpoint(client, current, spec, timeout).await;
        let resumed = resume_tasks(client, &stopped, timeout).await;
        modified.map_err(err)?;
        resumed.map_err(err)?;
    }
    update_tags(client, &current.arn, &current.tags, &spec.tags)
        .await
        .map_err(err)?;
    find_endpoint_by_arn(client, &current.arn)
        .await
        .map_err(err)?
        .ok_or_else(|| err(disappeared("updated")))
}

async fn modify_endpoint(
    client: &Client,
    current: &Endpoint,
    spec: &EndpointSpec,
    timeout: Duration,
) -> AwsResult<()> {
    let exact = match &spec.kind {
        EndpointKind::MySql(source) => source.password.is_some() || source.secret_arn.is_some(),
        EndpointKind::Kinesis(_) => true,
    };
    wait::retry_while(is_role_propagation, || async {
        let request = client
            .modify_endpoint()
            .endpoint_arn(&current.arn)
            .endpoint_type(spec.kind.endpoint_type())
            .engine_name(spec.kind.engine())
            .exact_settings(exact);
        let request = match &spec.kind {
            EndpointKind::MySql(source) => {
                let credentials = credentials(source);
                request
                    .my_sql_settings(expand_mysql(source))
                    .set_server_name(credentials.server_name)
                    .set_port(credentials.port)
                    .set_username(credentials.username)
                    .set_password(credentials.password)
                    .set_database_name(source.database_name.clone())
                    .ssl_mode(DmsSslModeValue::from(source.ssl_mode.as_str()))
                    .set_certificate_arn(source.certificate_arn.clone())
            }
            EndpointKind::Kinesis(target) => request.kinesis_settings(expand_kinesis(target)),
        };
        request.send().await.map(|_| ()).map_err(AwsError::from)
    })
    .await?;
    wait_endpoint_active(client, &current.arn, &current.identifier, timeout).await
}

/// Stops the running tasks that use the endpoint `arn` and waits until they are stopped;
/// returns them (to be resumed). Tasks in transition are waited for first.
async fn stop_tasks_using(client: &Client, arn: &str, timeout: Duration) -> AwsResult<Vec<Task>> {
    let mut stopped = Vec::new();
    for task in describe_tasks(client, filter("endpoint-arn", arn), false).await? {
        let task = if is_settled(&task) {
            task
        } else {
            wait_task_settled(client, &task, timeout).await?
        };
        if task.status == "running" {
            stop_task(client, &task).await?;
            stopped.push(task);
        }
    }
    let mut result = Vec::new();
    for task in stopped {
        result.push(wait_task_stopped(client, &task, timeout).await?);
    }
    Ok(result)
}

/// Resumes the tasks `stopped` and waits until they run. All are resumed even if one fails;
/// the first error is returned.
async fn resume_tasks(client: &Client, stopped: &[Task], timeout: Duration) -> AwsResult<()> {
    let mut first_error = None;
    for task in stopped {
        if let Err(e) = start_task(client, task, timeout).await {
            first_error.get_or_insert(context("resuming", TASK, &task.identifier, e));
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Deletes the endpoint and waits until it is gone; not-found is success. The tasks that use
/// it must be deleted first (DMS refuses otherwise).
pub async fn delete_endpoint(client: &Client, arn: &str, timeout: Duration) -> AwsResult<()> {
    let Some(endpoint) = describe_endpoint(client, filter("endpoint-arn", arn)).await? else {
        return Ok(());
    };
    let id = endpoint.identifier.clone();
    let err = |e: AwsError| context("deleting", ENDPOINT, &id, e);
    if endpoint.status != "deleting" {
        // A task deleted just before can keep the endpoint "in use" for a moment.
        wait::retry_while(is_in_use, || async {
            gone(
                client
                    .delete_endpoint()
                    .endpoint_arn(arn)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(AwsError::from),
            )
        })
        .await
        .map_err(err)?;
    }
    wait_endpoint_deleted(client, arn, &id, timeout)
        .await
        .map_err(err)
}

/// Waits until the endpoint is active.
async fn wait_endpoint_active(
    client: &Client,
    arn: &str,
    name: &str,
    timeout: Duration,
) -> AwsResult<()> {
    wait::until(
        &format!("{ENDPOINT} ({name}) to be active"),
        timeout,
        || async {
            match describe_endpoint(client, filter("endpoint-arn", arn)).await? {
                Some(e) => Ok((e.status == "active").then_some(())),
                None => Err(AwsError::other(format!(
                    "{ENDPOINT} ({name}) disappeared while waiting for it to be active"
                ))),
            }
        },
    )
    .await
}

async fn wait_endpoint_deleted(
    client: &Client,
    arn: &str,
    name: &str,
    timeout: Duration,
) -> AwsResult<()> {
    wait::until(
        &format!("{ENDPOINT} ({name}) to be deleted"),
        timeout,
        || async {
            let endpoint = describe_endpoint(client, filter("endpoint-arn", arn)).await?;
            Ok(endpoint.is_none().then_some(()))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_source_debug_hides_the_password() {
        let source = MySqlSource {
            server_name: Some("db.example.com".into()),
            port: Some(3306),
            database_name: None,
            username: Some("dms".into()),
            password: Some("hunter2-secret".into()),
            secret_arn: None,
            secret_role_arn: None,
            ssl_mode: "require".into(),
            certificate_arn: None,
        };
        let spec = EndpointSpec {
            identifier: "orders-source".into(),
            kind: EndpointKind::MySql(source),
            tags: BTreeMap::new(),
        };
        let shown = format!("{spec:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }

    fn endpoint(kind: EndpointKind) -> Endpoint {
        Endpoint {
            identifier: "e".into(),
            arn: "arn:aws:dms:us-east-1:123456789012:endpoint:E".into(),
            status: "active".into(),
            engine: kind.engine().into(),
            endpoint_type: kind.endpoint_type().as_str().into(),
            kind,
            tags: BTreeMap::new(),
            kinesis_fixed: true,
        }
    }

    #[test]
    fn endpoint_differs_ignores_the_password_and_defaults() {
        let read = MySqlSource {
            server_name: Some("db".into()),
            port: Some(3306),
            database_name: Some("shop".into()),
            username: Some("dms".into()),
            password: None,
            secret_arn: None,
            secret_role_arn: None,
            ssl_mode: "none".into(),
            certificate_arn: None,
        };
        let current = endpoint(EndpointKind::MySql(read.clone()));
        let mut wanted = MySqlSource {
            port: None,
            password: Some("pw".into()),
            ..read.clone()
        };
        let spec = |source: &MySqlSource| EndpointSpec {
            identifier: "e".into(),
            kind: EndpointKind::MySql(source.clone()),
            tags: BTreeMap::new(),
        };
        assert!(!endpoint_differs(&current, &spec(&wanted)));
        wanted.ssl_mode = "require".into();
        assert!(endpoint_differs(&current, &spec(&wanted)));
        let kinesis = KinesisTarget {
            stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/s".into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            partition_include_schema_table: true,
        };
        assert!(endpoint_differs(
            &current,
            &EndpointSpec {
                identifier: "e".into(),
                kind: EndpointKind::Kinesis(kinesis),
                tags: BTreeMap::new(),
            }
        ));
    }
}
