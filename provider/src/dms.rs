//! DMS: the replication subnet group, the replication instance, the MySQL source and Kinesis
//! target endpoints, and the replication task that carries the source's changes into the
//! stream.
//!
//! For each resource, its finders then create/update/delete; then the waiters; then the pure
//! helpers for the task's JSON documents and for identifiers. DMS resources settle
//! asynchronously (instances creating → available, tasks creating → ready, starting → running,
//! stopping → stopped), and a task must be stopped before it — or an endpoint it uses — can
//! change, so every such change stops what runs, changes, waits, and resumes what ran. DMS
//! answers a lookup that matches nothing with `ResourceNotFoundFault`, which
//! [`crate::aws::found`] does not know: this module has its own `found` and `gone`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_databasemigration::types::{
    DmsSslModeValue, Filter, KinesisSettings, MessageFormatValue, MigrationTypeValue,
    MySqlSettings, ReplicationEndpointTypeValue, StartReplicationTaskTypeValue, Tag,
};
use aws_sdk_databasemigration::Client;
use serde_json::{Map, Value};

use crate::aws::{AwsError, AwsResult, Expect, Identity};
use crate::tags::{tag_diff, TagDiff};
use crate::wait;

/// The longest identifier DMS accepts for endpoints and tasks.
const MAX_IDENTIFIER_LEN: usize = 255;
/// The longest identifier DMS accepts for replication instances.
const MAX_INSTANCE_IDENTIFIER_LEN: usize = 63;

const SUBNET_GROUP: &str = "DMS replication subnet group";
const INSTANCE: &str = "DMS replication instance";
const ENDPOINT: &str = "DMS endpoint";
const TASK: &str = "DMS replication task";

// ------------------------------------------------------------------------------ subnet groups

/// The settings a replication subnet group should have.
#[derive(Debug, Clone, PartialEq)]
pub struct SubnetGroupSpec {
    pub identifier: String,
    pub description: String,
    pub subnet_ids: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

/// A replication subnet group as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct SubnetGroup {
    /// Lowercase: DMS stores subnet group identifiers in lowercase.
    pub identifier: String,
    /// `arn:<partition>:dms:<region>:<account>:subgrp:<identifier>`, built here: DMS does not
    /// return it, but tagging needs it.
    pub arn: String,
    pub description: String,
    pub vpc_id: String,
    /// Sorted.
    pub subnet_ids: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

/// The ARN of the subnet group `id` in the client's region and the caller's account.
fn subnet_group_arn(client: &Client, identity: &Identity, id: &str) -> String {
    let region = client
        .config()
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default();
    format!(
        "arn:{}:dms:{region}:{}:subgrp:{}",
        identity.partition,
        identity.account,
        id.to_lowercase()
    )
}

/// Describes the subnet group `id`, with its tags; `None` if it does not exist.
pub async fn find_subnet_group_by_id(
    client: &Client,
    identity: &Identity,
    id: &str,
) -> AwsResult<Option<SubnetGroup>> {
    find_subnet_group(client, identity, id, Expect::Present).await
}

/// [`find_subnet_group_by_id`], spending calls as `expect` says.
pub async fn find_subnet_group(
    client: &Client,
    identity: &Identity,
    id: &str,
    expect: Expect,
) -> AwsResult<Option<SubnetGroup>> {
    let id = id.to_lowercase();
    let describe = || {
        client
            .describe_replication_subnet_groups()
            .filters(filter("replication-subnet-group-id", &id))
            .send()
    };
    // The ARN is built from the identifier: the tags can be asked with the description.
    let arn = subnet_group_arn(client, identity, &id);
    let (out, tags) = match expect {
        Expect::Present => {
            let (out, tags) = tokio::join!(describe(), tags_of(client, &arn));
            (out, Some(tags))
        }
        Expect::Absent => (describe().await, None),
    };
    let Some(group) = found(out.map_err(AwsError::from))?
        .and_then(|o| o.replication_subnet_groups)
        .and_then(|groups| groups.into_iter().next())
    else {
        return Ok(None);
    };
    let group = flatten_subnet_group(client, identity, group, &id);
    let tags = match tags {
        Some(tags) if group.arn == arn => tags?,
        _ => tags_of(client, &group.arn).await?,
    };
    Ok(Some(SubnetGroup { tags, ..group }))
}

/// A subnet group as DMS describes it (or answers its creation with), without tags.
fn flatten_subnet_group(
    client: &Client,
    identity: &Identity,
    group: aws_sdk_databasemigration::types::ReplicationSubnetGroup,
    id: &str,
) -> SubnetGroup {
    let identifier = group
        .replication_subnet_group_identifier
        .unwrap_or_else(|| id.to_string());
    let mut subnet_ids: Vec<String> = group
        .subnets
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.subnet_identifier)
        .collect();
    subnet_ids.sort();
    SubnetGroup {
        arn: subnet_group_arn(client, identity, &identifier),
        identifier,
        description: group
            .replication_subnet_group_description
            .unwrap_or_default(),
        vpc_id: group.vpc_id.unwrap_or_default(),
        subnet_ids,
        tags: BTreeMap::new(),
    }
}

/// Creates the subnet group.
pub async fn create_subnet_group(
    client: &Client,
    identity: &Identity,
    spec: &SubnetGroupSpec,
) -> AwsResult<SubnetGroup> {
    let err = |e: AwsError| context("creating", SUBNET_GROUP, &spec.identifier, e);
    // The first subnet group of an account needs the `dms-vpc-role`, which may have just been
    // created and not be usable yet.
    let created = wait::retry_while(is_role_propagation, || async {
        client
            .create_replication_subnet_group()
            .replication_subnet_group_identifier(&spec.identifier)
            .replication_subnet_group_description(&spec.description)
            .set_subnet_ids(Some(spec.subnet_ids.clone()))
            .set_tags(to_tags(&spec.tags))
            .send()
            .await
            .map(|out| out.replication_subnet_group)
            .map_err(AwsError::from)
    })
    .await
    .map_err(err)?;
    // DMS answers with the group as made; its tags are the ones just given.
    let group = created.ok_or_else(|| err(disappeared("created")))?;
    Ok(SubnetGroup {
        tags: spec.tags.clone(),
        ..flatten_subnet_group(client, identity, group, &spec.identifier.to_lowercase())
    })
}

/// Brings an existing subnet group to `spec`: subnets and description (one call), then tags,
/// each only if it differs.
pub async fn update_subnet_group(
    client: &Client,
    identity: &Identity,
    current: &SubnetGroup,
    spec: &SubnetGroupSpec,
) -> AwsResult<SubnetGroup> {
    let err = |e: AwsError| context("updating", SUBNET_GROUP, &spec.identifier, e);
    if sorted(&spec.subnet_ids) != current.subnet_ids || spec.description != current.description {
        client
            .modify_replication_subnet_group()
            .replication_subnet_group_identifier(&current.identifier)
            .replication_subnet_group_description(&spec.description)
            .set_subnet_ids(Some(spec.subnet_ids.clone()))
            .send()
            .await
            .map_err(|e| err(e.into()))?;
    }
    update_tags(client, &current.arn, &current.tags, &spec.tags)
        .await
        .map_err(err)?;
    find_subnet_group_by_id(client, identity, &current.identifier)
        .await
        .map_err(err)?
        .ok_or_else(|| err(disappeared("updated")))
}

/// Deletes the subnet group; not-found is success.
pub async fn delete_subnet_group(client: &Client, id: &str) -> AwsResult<()> {
    // A replication instance that was just deleted can keep the group "in use" for a while.
    wait::retry_while(is_in_use, || async {
        gone(
            client
                .delete_replication_subnet_group()
                .replication_subnet_group_identifier(id)
                .send()
                .await
                .map(|_| ())
                .map_err(AwsError::from),
        )
    })
    .await
    .map_err(|e| context("deleting", SUBNET_GROUP, id, e))
}

// ------------------------------------------------------------------------------ instances

/// The settings a replication instance should have.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSpec {
    pub identifier: String,
    /// e.g. `dms.t3.medium`.
    pub class: String,
    /// GiB.
    pub allocated_storage: i32,
    /// `None`: DMS's default version, and no upgrade is ever asked for.
    pub engine_version: Option<String>,
    pub multi_az: bool,
    pub publicly_accessible: bool,
    /// Empty: the VPC's default security group, and the groups are not managed.
    pub vpc_security_group_ids: Vec<String>,
    /// `None`: the default subnet group of the default VPC.
    pub subnet_group: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// A replication instance as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Lowercase: DMS stores instance identifiers in lowercase.
    pub identifier: String,
    pub arn: String,
    pub status: String,
    pub class: String,
    pub allocated_storage: i32,
    pub engine_version: String,
    pub multi_az: bool,
    pub publicly_accessible: bool,
    /// Sorted.
    pub vpc_security_group_ids: Vec<String>,
    pub subnet_group: String,
    pub tags: BTreeMap<String, String>,
    /// Modifications not applied yet (PendingModifiedValues).
    pending: bool,
    /// Every security group membership is `active` (not being added or removed).
    security_groups_settled: bool,
}

/// Describes the replication instance `id`, with its tags; `None` if it does not exist.
pub async fn find_instance_by_id(client: &Client, id: &str) -> AwsResult<Option<Instance>> {
    let Some(instance) = describe_instance_by_id(client, id).await? else {
        return Ok(None);
    };
    Ok(Some(with_instance_tags(client, instance).await?))
}

/// Describes the replication instance `id` without its tags (a refresh does not compare
/// them): one call instead of two in a row.
pub async fn describe_instance_by_id(client: &Client, id: &str) -> AwsResult<Option<Instance>> {
    describe_instance(
        client,
        filter("replication-instance-id", &id.to_lowercase()),
    )
    .await
}

async fn find_instance_by_arn(client: &Client, arn: &str) -> AwsResult<Option<Instance>> {
    let by_arn = filter("replication-instance-arn", arn);
    let Some(instance) = describe_instance(client, by_arn).await? else {
        return Ok(None);
    };
    Ok(Some(with_instance_tags(client, instance).await?))
}

async fn with_instance_tags(client: &Client, instance: Instance) -> AwsResult<Instance> {
    let tags = tags_of(client, &instance.arn).await?;
    Ok(Instance { tags, ..instance })
}

/// The instance matching `by`, without tags (what the waiters poll).
async fn describe_instance(client: &Client, by: Filter) -> AwsResult<Option<Instance>> {
    let out = found(
        client
            .describe_replication_instances()
            .filters(by)
            .send()
            .await
            .map_err(AwsError::from),
    )?;
    let Some(i) = out
        .and_then(|o| o.replication_instances)
        .and_then(|all| all.into_iter().next())
    else {
        return Ok(None);
    };
    let pending = i.pending_modified_values.as_ref().is_some_and(|p| {
        p.replication_instance_class.is_some()
            || p.allocated_storage.is_some()
            || p.multi_az.is_some()
            || p.engine_version.is_some()
            || p.network_type.is_some()
    });
    let groups = i.vpc_security_groups.unwrap_or_default();
    let security_groups_settled = groups
        .iter()
        .all(|g| matches!(g.status.as_deref(), None | Some("active")));
    let mut vpc_security_group_ids: Vec<String> = groups
        .into_iter()
        .filter_map(|g| g.vpc_security_group_id)
        .collect();
    vpc_security_group_ids.sort();
    vpc_security_group_ids.dedup();
    Ok(Some(Instance {
        identifier: i.replication_instance_identifier.unwrap_or_default(),
        arn: i.replication_instance_arn.unwrap_or_default(),
        status: i.replication_instance_status.unwrap_or_default(),
        class: i.replication_instance_class.unwrap_or_default(),
        allocated_storage: i.allocated_storage,
        engine_version: i.engine_version.unwrap_or_default(),
        multi_az: i.multi_az,
        publicly_accessible: i.publicly_accessible,
        vpc_security_group_ids,
        subnet_group: i
            .replication_subnet_group
            .and_then(|g| g.replication_subnet_group_identifier)
            .unwrap_or_default(),
        tags: BTreeMap::new(),
        pending,
        security_groups_settled,
    }))
}

/// Creates the replication instance and waits for it to be available.
pub async fn create_instance(
    client: &Client,
    spec: &InstanceSpec,
    timeout: Duration,
) -> AwsResult<Instance> {
    let err = |e: AwsError| context("creating", INSTANCE, &spec.identifier, e);
    // An instance needs the `dms-vpc-role`, which may have just been created.
    let arn = wait::retry_while(is_role_propagation, || async {
        let out = client
            .create_replication_instance()
            .replication_instance_identifier(&spec.identifier)
            .replication_instance_class(&spec.class)
            .allocated_storage(spec.allocated_storage)
            .set_engine_version(spec.engine_version.clone())
            .multi_az(spec.multi_az)
            .publicly_accessible(spec.publicly_accessible)
            .set_vpc_security_group_ids(
                (!spec.vpc_security_group_ids.is_empty())
                    .then(|| spec.vpc_security_group_ids.clone()),
            )
            .set_replication_subnet_group_identifier(spec.subnet_group.clone())
            .set_tags(to_tags(&spec.tags))
            .send()
            .await?;
        Ok(out
            .replication_instance
            .and_then(|i| i.replication_instance_arn)
            .unwrap_or_default())
    })
    .await
    .map_err(err)?;
    let instance = wait_instance_available(client, &arn, &spec.identifier, timeout)
        .await
        .map_err(err)?;
    Ok(Instance {
        tags: spec.tags.clone(),
        ..instance
    })
}

/// Whether going from `current` to `spec` needs a new instance: DMS cannot change public
/// accessibility or the subnet group of an instance, nor shrink its storage.
pub fn instance_needs_replacement(current: &Instance, spec: &InstanceSpec) -> bool {
    current.publicly_accessible != spec.publicly_accessible
        || spec
            .subnet_group
            .as_ref()
            .is_some_and(|g| !g.eq_ignore_ascii_case(&current.subnet_group))
        || spec.allocated_storage < current.allocated_storage
}

/// Brings an existing instance to `spec` in place: class, storage, Multi-AZ, engine version and
/// security groups that differ go in one ModifyReplicationInstance applied immediately, then
/// the instance is waited for; then tags. What cannot change in place is
/// [`instance_needs_replacement`]'s business.
pub async fn update_instance(
    client: &Client,
    current: &Instance,
    spec: &InstanceSpec,
    timeout: Duration,
) -> AwsResult<Instance> {
    let err = |e: AwsError| context("updating", INSTANCE, &spec.identifier, e);
    let class = (current.class != spec.class).then(|| spec.class.clone());
    let storage =
        (current.allocated_storage != spec.allocated_storage).then_some(spec.allocated_storage);
    let multi_az = (current.multi_az != spec.multi_az).then_some(spec.multi_az);
    let engine_version = spec
        .engine_version
        .clone()
        .filter(|v| *v != current.engine_version);
    let wanted_groups = sorted(&spec.vpc_security_group_ids);
    let security_groups = (!wanted_groups.is_empty()
        && wanted_groups != current.vpc_security_group_ids)
        .then_some(wanted_groups);
    let changes = class.is_some()
        || storage.is_some()
        || multi_az.is_some()
        || engine_version.is_some()
        || security_groups.is_some();
    if changes {
        // DMS refuses to modify an instance that is not available.
        if current.status != "available" {
            wait_instance_available(client, &current.arn, &spec.identifier, timeout)
                .await
                .map_err(err)?;
        }
        client
            .modify_replication_instance()
            .replication_instance_arn(&current.arn)
            .apply_immediately(true)
            .set_replication_instance_class(class)
            .set_allocated_storage(storage)
            .set_multi_az(multi_az)
            // The version is the user's explicit choice: a major upgrade is what they asked for.
            .set_allow_major_version_upgrade(engine_version.is_some().then_some(true))
            .set_engine_version(engine_version)
            .set_vpc_security_group_ids(security_groups)
            .send()
            .await
            .map_err(|e| err(e.into()))?;
        wait_instance_available(client, &current.arn, &spec.identifier, timeout)
            .await
            .map_err(err)?;
    }
    update_tags(client, &current.arn, &current.tags, &spec.tags)
        .await
        .map_err(err)?;
    find_instance_by_arn(client, &current.arn)
        .await
        .map_err(err)?
        .ok_or_else(|| err(disappeared("updated")))
}

/// Deletes the instance and waits until it is gone; not-found is success. The instance's
/// tasks must be deleted first (DMS refuses otherwise).
pub async fn delete_instance(client: &Client, arn: &str, timeout: Duration) -> AwsResult<()> {
    let Some(instance) = describe_instance(client, filter("replication-instance-arn", arn)).await?
    else {
        return Ok(());
    };
    let id = instance.identifier.clone();
    let err = |e: AwsError| context("deleting", INSTANCE, &id, e);
    if instance.status != "deleting" {
        // DMS refuses to delete an instance while it is being created or modified.
        if matches!(
            instance.status.as_str(),
            "creating" | "modifying" | "upgrading" | "rebooting"
        ) {
            wait_instance_settled(client, arn, &id, timeout)
                .await
                .map_err(err)?;
        }
        gone(
            client
                .delete_replication_instance()
                .replication_instance_arn(arn)
                .send()
                .await
                .map(|_| ())
                .map_err(AwsError::from),
        )
        .map_err(err)?;
    }
    wait_instance_deleted(client, arn, &id, timeout)
        .await
        .map_err(err)
}

// ------------------------------------------------------------------------------ endpoints

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
        Ok(request.send().await?.endpoint)
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

// ------------------------------------------------------------------------------ tasks

/// The settings a replication task should have.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    pub identifier: String,
    pub instance_arn: String,
    pub source_arn: String,
    pub target_arn: String,
    /// `cdc`, `full-load-and-cdc` or `full-load`.
    pub migration_type: String,
    /// The table mappings document (JSON).
    pub table_mappings: String,
    /// Task settings (JSON): only the keys given are managed, DMS fills in the rest.
    pub settings: Option<String>,
    /// Whether the task should run. `false` never stops a running task: stopping replication
    /// is an operator's decision, not a side effect of a plan.
    pub start: bool,
    pub tags: BTreeMap<String, String>,
}

/// A replication task as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub identifier: String,
    pub arn: String,
    pub status: String,
    pub instance_arn: String,
    pub source_arn: String,
    pub target_arn: String,
    pub migration_type: String,
    /// As returned (compare with [`json_equal`]).
    pub table_mappings: String,
    /// As returned: DMS's full settings document (compare with [`settings_match`]).
    pub settings: Option<String>,
    /// The task was started at least once (it has a start date), so a later start resumes it.
    pub has_run: bool,
    pub tags: BTreeMap<String, String>,
    /// Why the task stopped or failed, as DMS says it (LastFailureMessage, else StopReason).
    failure: Option<String>,
}

/// Describes the replication task `id`, with its settings and tags; `None` if it does not
/// exist.
pub async fn find_task_by_id(client: &Client, id: &str) -> AwsResult<Option<Task>> {
    let Some(task) = describe_task_by_id(client, id).await? else {
        return Ok(None);
    };
    Ok(Some(with_task_tags(client, task).await?))
}

/// Describes the replication task `id` with its settings, without its tags (a refresh does
/// not compare them).
pub async fn describe_task_by_id(client: &Client, id: &str) -> AwsResult<Option<Task>> {
    for id in id_variants(id) {
        if let Some(task) = describe_task(client, filter("replication-task-id", &id)).await? {
            return Ok(Some(task));
        }
    }
    Ok(None)
}

/// The tasks that run on the replication instance `instance_arn`, with their tags.
pub async fn find_tasks_by_instance(client: &Client, instance_arn: &str) -> AwsResult<Vec<Task>> {
    let mut tasks = Vec::new();
    for task in describe_tasks(
        client,
        filter("replication-instance-arn", instance_arn),
        true,
    )
    .await?
    {
        tasks.push(with_task_tags(client, task).await?);
    }
    Ok(tasks)
}

async fn find_task_by_arn(client: &Client, arn: &str) -> AwsResult<Option<Task>> {
    let Some(task) = describe_task(client, filter("replication-task-arn", arn)).await? else {
        return Ok(None);
    };
    Ok(Some(with_task_tags(client, task).await?))
}

async fn with_task_tags(client: &Client, task: Task) -> AwsResult<Task> {
    let tags = tags_of(client, &task.arn).await?;
    Ok(Task { tags, ..task })
}

/// The task matching `by`, with its settings and without tags (what the waiters poll).
async fn describe_task(client: &Client, by: Filter) -> AwsResult<Option<Task>> {
    Ok(describe_tasks(client, by, true).await?.into_iter().next())
}

/// Every task matching `by`, without tags.
async fn describe_tasks(client: &Client, by: Filter, with_settings: bool) -> AwsResult<Vec<Task>> {
    let mut tasks = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = found(
            client
                .describe_replication_tasks()
                .filters(by.clone())
                .without_settings(!with_settings)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(AwsError::from),
        )?;
        let Some(out) = out else {
            return Ok(tasks);
        };
        tasks.extend(
            out.replication_tasks
                .unwrap_or_default()
                .into_iter()
                .map(flatten_task),
        );
        marker = out.marker.filter(|m| !m.is_empty());
        if marker.is_none() {
            return Ok(tasks);
        }
    }
}

fn flatten_task(t: aws_sdk_databasemigration::types::ReplicationTask) -> Task {
    let status = t.status.unwrap_or_default();
    let stats = t.replication_task_stats.as_ref();
    let has_run = t.replication_task_start_date.is_some()
        || stats.is_some_and(|s| s.start_date.is_some() || s.fresh_start_date.is_some())
        || matches!(status.as_str(), "running" | "stopping");
    Task {
        identifier: t.replication_task_identifier.unwrap_or_default(),
        arn: t.replication_task_arn.unwrap_or_default(),
        instance_arn: t.replication_instance_arn.unwrap_or_default(),
        source_arn: t.source_endpoint_arn.unwrap_or_default(),
        target_arn: t.target_endpoint_arn.unwrap_or_default(),
        migration_type: t
            .migration_type
            .map(|m| m.as_str().to_string())
            .unwrap_or_default(),
        table_mappings: t.table_mappings.unwrap_or_default(),
        settings: non_empty(t.replication_task_settings),
        has_run,
        tags: BTreeMap::new(),
        failure: non_empty(t.last_failure_message).or_else(|| non_empty(t.stop_reason)),
        status,
    }
}

/// Creates the task and waits for it to be ready; then, if `spec.start`, starts it and waits
/// for it to run.
pub async fn create_task(client: &Client, spec: &TaskSpec, timeout: Duration) -> AwsResult<Task> {
    let err = |e: AwsError| context("creating", TASK, &spec.identifier, e);
    let out = client
        .create_replication_task()
        .replication_task_identifier(&spec.identifier)
        .replication_instance_arn(&spec.instance_arn)
        .source_endpoint_arn(&spec.source_arn)
        .target_endpoint_arn(&spec.target_arn)
        .migration_type(MigrationTypeValue::from(spec.migration_type.as_str()))
        .table_mappings(&spec.table_mappings)
        .set_replication_task_settings(spec.settings.clone())
        .set_tags(to_tags(&spec.tags))
        .send()
        .await
        .map_err(|e| err(e.into()))?;
    let task = out
        .replication_task
        .map(flatten_task)
        .ok_or_else(|| err(disappeared("created")))?;
    let task = wait_task_ready(client, &task, timeout).await.map_err(err)?;
    let task = if spec.start {
        start_task(client, &task, timeout).await.map_err(err)?
    } else {
        task
    };
    Ok(Task {
        tags: spec.tags.clone(),
        ..task
    })
}

/// Whether going from `current` to `spec` needs a new task: DMS cannot move a task to another
/// instance or other endpoints.
pub fn task_needs_replacement(current: &Task, spec: &TaskSpec) -> bool {
    current.instance_arn != spec.instance_arn
        || current.source_arn != spec.source_arn
        || current.target_arn != spec.target_arn
}

/// Brings an existing task to `spec` in place.
///
/// When the migration type, the table mappings or the given settings differ, the task is
/// stopped if it runs (DMS modifies only stopped or ready tasks), modified with just what
/// changed, and started again if it ran before the change — or if `spec.start` asks for a
/// task that never ran. With nothing to modify, a ready or stopped task is started when
/// `spec.start` is true (except a full-load task that has run: it stopped because it
/// finished). `spec.start == false` never stops a running task. A start resumes a task that
/// ran before and starts a fresh replication otherwise. Then tags.
pub async fn update_task(
    client: &Client,
    current: &Task,
    spec: &TaskSpec,
    timeout: Duration,
) -> AwsResult<Task> {
    let err = |e: AwsError| context("updating", TASK, &spec.identifier, e);
    let type_changed = current.migration_type != spec.migration_type;
    let mappings_changed = !json_equal(&current.table_mappings, &spec.table_mappings);
    let settings_changed = spec.settings.as_deref().is_some_and(|given| {
        current
            .settings
            .as_deref()
            .is_none_or(|actual| !settings_match(given, actual))
    });
    let mut task = current.clone();
    if type_changed || mappings_changed || settings_changed {
        if !is_settled(&task) {
            task = wait_task_settled(client, &task, timeout)
                .await
                .map_err(err)?;
        }
        let was_running = task.status == "running";
        if was_running {
            stop_task(client, &task).await.map_err(err)?;
            task = wait_task_stopped(client, &task, timeout)
                .await
                .map_err(err)?;
        }
        let modified = async {
            client
                .modify_replication_task()
                .replication_task_arn(&task.arn)
                .set_migration_type(
                    type_changed.then(|| MigrationTypeValue::from(spec.migration_type.as_str())),
                )
                .set_table_mappings(mappings_changed.then(|| spec.table_mappings.clone()))
                .set_replication_task_settings(
                    settings_changed.then(|| spec.settings.clone()).flatten(),
                )
                .send()
                .await?;
            wait_task_modified(client, &task, timeout).await
        }
        .await;
        match modified {
            Ok(task) => {
                if was_running || (spec.start && !task.has_run) {
                    start_task(client, &task, timeout).await.map_err(err)?;
                }
            }
            // A refused change leaves the task as it was: it goes on replicating meanwhile.
            Err(e) if was_running => {
                return Err(match start_task(client, &task, timeout).await {
                    Ok(_) => err(e),
                    Err(resume) => err(AwsError {
                        message: format!("{}; resuming the task failed too: {resume}", e.message),
                        ..e
                    }),
                });
            }
            Err(e) => return Err(err(e)),
        }
    } else if spec.start && task.status != "running" {
        if !is_settled(&task) {
            task = wait_task_settled(client, &task, timeout)
                .await
                .map_err(err)?;
        }
        let finished = task.has_run && task.migration_type == "full-load";
        if task.status == "ready" || (task.status == "stopped" && !finished) {
            start_task(client, &task, timeout).await.map_err(err)?;
        }
    }
    update_tags(client, &current.arn, &current.tags, &spec.tags)
        .await
        .map_err(err)?;
    find_task_by_arn(client, &current.arn)
        .await
        .map_err(err)?
        .ok_or_else(|| err(disappeared("updated")))
}

/// Deletes the task (stopping it first if it runs) and waits until it is gone; not-found is
/// success.
pub async fn delete_task(client: &Client, arn: &str, timeout: Duration) -> AwsResult<()> {
    let Some(mut task) = describe_task(client, filter("replication-task-arn", arn)).await? else {
        return Ok(());
    };
    let id = task.identifier.clone();
    let err = |e: AwsError| context("deleting", TASK, &id, e);
    if task.status != "deleting" {
        if !is_settled(&task) {
            task = wait_task_settled(client, &task, timeout)
                .await
                .map_err(err)?;
        }
        if task.status == "running" {
            stop_task(client, &task).await.map_err(err)?;
            wait_task_stopped(client, &task, timeout)
                .await
                .map_err(err)?;
        }
        gone(
            client
                .delete_replication_task()
                .replication_task_arn(arn)
                .send()
                .await
                .map(|_| ())
                .map_err(AwsError::from),
        )
        .map_err(err)?;
    }
    wait_task_deleted(client, &task, timeout).await.map_err(err)
}

/// Starts a ready, stopped or failed task — resuming it if it ran before — and waits until it
/// runs.
async fn start_task(client: &Client, task: &Task, timeout: Duration) -> AwsResult<Task> {
    let start_type = if task.has_run {
        StartReplicationTaskTypeValue::ResumeProcessing
    } else {
        StartReplicationTaskTypeValue::StartReplication
    };
    // DMS starts (and resumes) a task only once its instance has connected to both endpoints.
    futures::try_join!(
        test_connection(client, &task.instance_arn, &task.source_arn, timeout),
        test_connection(client, &task.instance_arn, &task.target_arn, timeout),
    )?;
    // The target's access role may have been created moments ago.
    wait::retry_while(is_role_propagation, || async {
        client
            .start_replication_task()
            .replication_task_arn(&task.arn)
            .start_replication_task_type(start_type.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(AwsError::from)
    })
    .await?;
    wait_task_running(client, task, timeout).await
}

/// A connection test of a replication instance with an endpoint, as DMS reports it.
struct Connection {
    status: String,
    failure: Option<String>,
    endpoint: String,
}

async fn find_connection(
    client: &Client,
    instance_arn: &str,
    endpoint_arn: &str,
) -> AwsResult<Option<Connection>> {
    let out = client
        .describe_connections()
        .filters(filter("replication-instance-arn", instance_arn))
        .filters(filter("endpoint-arn", endpoint_arn))
        .send()
        .await;
    let out = match out.map_err(AwsError::from) {
        Ok(out) => out,
        Err(e) if e.code_is("ResourceNotFoundFault") => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(out
        .connections()
        .iter()
        .find(|c| c.endpoint_arn() == Some(endpoint_arn))
        .map(|c| Connection {
            status: c.status().unwrap_or_default().to_string(),
            failure: non_empty(c.last_failure_message().map(str::to_string)),
            endpoint: c.endpoint_identifier().unwrap_or(endpoint_arn).to_string(),
        }))
}

/// Makes sure the instance's connection to the endpoint has tested successful (DMS refuses to
/// start a task otherwise, and again after its endpoint changed): tests it unless it already
/// has, and waits for the result. A failed test is the user's to fix: its message (DMS's own:
/// the host, the port, the driver's error) says what could not be reached.
async fn test_connection(
    client: &Client,
    instance_arn: &str,
    endpoint_arn: &str,
    timeout: Duration,
) -> AwsResult<()> {
    let current = find_connection(client, instance_arn, endpoint_arn).await?;
    if current.as_ref().is_some_and(|c| c.status == "successful") {
        return Ok(());
    }
    if current.as_ref().is_none_or(|c| c.status != "testing") {
        client
            .test_connection()
            .replication_instance_arn(instance_arn)
            .endpoint_arn(endpoint_arn)
            .send()
            .await
            .map_err(|e| {
                let e = AwsError::from(e);
                AwsError {
                    message: format!(
                        "testing the connection to {ENDPOINT} ({endpoint_arn}): {}",
                        e.message
                    ),
                    ..e
                }
            })?;
    }
    let connection = wait::settled(
        &format!("the connection test of {ENDPOINT} ({endpoint_arn})"),
        "finished",
        timeout,
        || async {
            Ok(
                match find_connection(client, instance_arn, endpoint_arn).await? {
                    Some(c) if c.status == "testing" => wait::Seen::Settling,
                    Some(c) => wait::Seen::Settled(c),
                    None => wait::Seen::Missing,
                },
            )
        },
    )
    .await?;
    if connection.status == "successful" {
        return Ok(());
    }
    Err(AwsError::other(format!(
        "the replication instance could not connect to {ENDPOINT} ({}), so the task cannot start: {}. Check the endpoint's server name and port, that the database accepts connections from the instance's subnets and security groups (`source.vpc_security_group_ids`), and the credentials",
        connection.endpoint,
        connection
            .failure
            .unwrap_or_else(|| format!("the test ended {}", connection.status)),
    )))
}

async fn stop_task(client: &Client, task: &Task) -> AwsResult<()> {
    client
        .stop_replication_task()
        .replication_task_arn(&task.arn)
        .send()
        .await
        .map(|_| ())
        .map_err(AwsError::from)
}

// ------------------------------------------------------------------------------ waiters

/// Waits until the instance is available with no modification pending or security group
/// change in progress, and returns it (without its tags). Statuses other than available and
/// failed are transitions.
async fn wait_instance_available(
    client: &Client,
    arn: &str,
    name: &str,
    timeout: Duration,
) -> AwsResult<Instance> {
    wait::until(
        &format!("{INSTANCE} ({name}) to be available"),
        timeout,
        || async {
            let by_arn = filter("replication-instance-arn", arn);
            let Some(instance) = describe_instance(client, by_arn).await? else {
                return Err(AwsError::other(format!(
                    "{INSTANCE} ({name}) disappeared while waiting for it to be available"
                )));
            };
            if matches!(instance.status.as_str(), "failed" | "incompatible-network") {
                return Err(AwsError::other(format!(
                    "{INSTANCE} ({name}) is {}",
                    instance.status
                )));
            }
            let ready = instance.status == "available"
                && !instance.pending
                && instance.security_groups_settled;
            Ok(ready.then_some(instance))
        },
    )
    .await
}

/// Waits until the instance is no longer being created or modified (whatever it became).
async fn wait_instance_settled(
    client: &Client,
    arn: &str,
    name: &str,
    timeout: Duration,
) -> AwsResult<()> {
    wait::until(
        &format!("{INSTANCE} ({name}) to finish its current change"),
        timeout,
        || async {
            let instance =
                describe_instance(client, filter("replication-instance-arn", arn)).await?;
            Ok(match instance {
                None => Some(()),
                Some(i) => (!matches!(
                    i.status.as_str(),
                    "creating" | "modifying" | "upgrading" | "rebooting"
                ))
                .then_some(()),
            })
        },
    )
    .await
}

async fn wait_instance_deleted(
    client: &Client,
    arn: &str,
    name: &str,
    timeout: Duration,
) -> AwsResult<()> {
    wait::until(
        &format!("{INSTANCE} ({name}) to be deleted"),
        timeout,
        || async {
            let instance =
                describe_instance(client, filter("replication-instance-arn", arn)).await?;
            Ok(instance.is_none().then_some(()))
        },
    )
    .await
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

/// A task in one of these states is not in transition: it can be started, stopped, modified
/// or deleted. Anything else (creating, starting, stopping, modifying, moving, and whatever
/// DMS adds) is waited through.
fn is_settled(task: &Task) -> bool {
    matches!(
        task.status.as_str(),
        "ready" | "running" | "stopped" | "failed"
    )
}

/// Polls the task until `done` says it reached the awaited state; a task that disappears is
/// an error, and so is a failed task unless `done` accepts it.
async fn wait_task(
    client: &Client,
    task: &Task,
    state: &str,
    timeout: Duration,
    done: impl Fn(&Task) -> AwsResult<bool>,
) -> AwsResult<Task> {
    let name = task.identifier.as_str();
    wait::until(
        &format!("{TASK} ({name}) to be {state}"),
        timeout,
        || async {
            let Some(now) =
                describe_task(client, filter("replication-task-arn", &task.arn)).await?
            else {
                return Err(AwsError::other(format!(
                    "{TASK} ({name}) disappeared while waiting for it to be {state}"
                )));
            };
            if done(&now)? {
                Ok(Some(now))
            } else if now.status == "failed" {
                Err(failed(&now))
            } else {
                Ok(None)
            }
        },
    )
    .await
}

async fn wait_task_ready(client: &Client, task: &Task, timeout: Duration) -> AwsResult<Task> {
    wait_task(client, task, "ready", timeout, |t| Ok(t.status == "ready")).await
}

async fn wait_task_settled(client: &Client, task: &Task, timeout: Duration) -> AwsResult<Task> {
    wait_task(client, task, "settled", timeout, |t| Ok(is_settled(t))).await
}

/// After ModifyReplicationTask: the task goes back to ready, stopped or failed.
async fn wait_task_modified(client: &Client, task: &Task, timeout: Duration) -> AwsResult<Task> {
    wait_task(client, task, "modified", timeout, |t| {
        Ok(matches!(t.status.as_str(), "ready" | "stopped" | "failed"))
    })
    .await
}

async fn wait_task_stopped(client: &Client, task: &Task, timeout: Duration) -> AwsResult<Task> {
    wait_task(client, task, "stopped", timeout, |t| {
        Ok(matches!(t.status.as_str(), "stopped" | "failed" | "ready"))
    })
    .await
}

/// After StartReplicationTask: waits for running. A task that stops once it has been seen
/// starting either finished (a full-load task) or gave up (anything else: an error with its
/// stop reason); a `stopped` seen before that is the state from before the start.
async fn wait_task_running(client: &Client, task: &Task, timeout: Duration) -> AwsResult<Task> {
    let started = AtomicBool::new(false);
    wait_task(client, task, "running", timeout, |t| {
        match t.status.as_str() {
            "running" => return Ok(true),
            "starting" => started.store(true, Ordering::Relaxed),
            "stopped" if started.load(Ordering::Relaxed) => {
                return if t.migration_type == "full-load" {
                    Ok(true)
                } else {
                    Err(AwsError::other(format!(
                        "{TASK} ({}) stopped instead of running: {}",
                        t.identifier,
                        t.failure.as_deref().unwrap_or("no reason given")
                    )))
                };
            }
            _ => {}
        }
        Ok(false)
    })
    .await
}

async fn wait_task_deleted(client: &Client, task: &Task, timeout: Duration) -> AwsResult<()> {
    let name = task.identifier.as_str();
    wait::until(
        &format!("{TASK} ({name}) to be deleted"),
        timeout,
        || async {
            let now = describe_task(client, filter("replication-task-arn", &task.arn)).await?;
            Ok(now.is_none().then_some(()))
        },
    )
    .await
}

fn failed(task: &Task) -> AwsError {
    AwsError::other(format!(
        "{TASK} ({}) failed: {}",
        task.identifier,
        task.failure.as_deref().unwrap_or("no reason given")
    ))
}

// ------------------------------------------------------------------------------ shared

/// DMS answers "not found" with `ResourceNotFoundFault`, also for a Describe whose filters
/// match nothing.
fn is_not_found(err: &AwsError) -> bool {
    err.code_is("ResourceNotFoundFault") || err.is_not_found()
}

/// [`crate::aws::found`] for DMS's not-found fault.
fn found<T>(result: AwsResult<T>) -> AwsResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if is_not_found(&err) => Ok(None),
        Err(err) => Err(err),
    }
}

/// [`crate::aws::gone`] for DMS's not-found fault.
fn gone(result: AwsResult<()>) -> AwsResult<()> {
    match result {
        Err(err) if is_not_found(&err) => Ok(()),
        other => other,
    }
}

/// IAM has not propagated a freshly created role to DMS yet: DMS cannot assume it. DMS says
/// so with AccessDeniedFault (e.g. "The IAM Role ... is not configured properly"), or with a
/// parameter or state error about assuming the role.
fn is_role_propagation(err: &AwsError) -> bool {
    if err.code_is("AccessDeniedFault") {
        return true;
    }
    let message = err.message.to_lowercase();
    matches!(
        err.code.as_deref(),
        Some(
            "InvalidParameterValueException"
                | "InvalidParameterCombinationException"
                | "InvalidResourceStateFault"
        )
    ) && (message.contains("assume")
        || message.contains("not authorized")
        || message.contains("iam role"))
}

/// DMS still counts the resource as used by one being deleted.
fn is_in_use(err: &AwsError) -> bool {
    err.code_is("InvalidResourceStateFault")
}

/// Identifiers to look up, in order: as given, then in lowercase (AWS stores some
/// identifiers in lowercase; the emulator keeps endpoint and task identifiers as given).
fn id_variants(id: &str) -> Vec<String> {
    let lower = id.to_lowercase();
    if lower == id {
        vec![lower]
    } else {
        vec![id.to_string(), lower]
    }
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder()
        .name(name)
        .values(value)
        .build()
        .expect("name and values are set")
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn sorted(values: &[String]) -> Vec<String> {
    let mut values = values.to_vec();
    values.sort();
    values.dedup();
    values
}

fn disappeared(verb: &str) -> AwsError {
    AwsError::other(format!("it disappeared right after it was {verb}"))
}

fn context(verb: &str, what: &str, name: &str, err: AwsError) -> AwsError {
    AwsError {
        message: format!("{verb} {what} ({name}): {}", err.message),
        ..err
    }
}

/// The resource's tags; none if it vanished meanwhile (the finder that asks has just seen it).
async fn tags_of(client: &Client, arn: &str) -> AwsResult<BTreeMap<String, String>> {
    Ok(found(list_tags(client, arn).await)?.unwrap_or_default())
}

async fn list_tags(client: &Client, arn: &str) -> AwsResult<BTreeMap<String, String>> {
    let out = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await?;
    Ok(out
        .tag_list
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
        .collect())
}

/// `None` for no tags: DMS is not asked to tag with an empty list.
fn to_tags(tags: &BTreeMap<String, String>) -> Option<Vec<Tag>> {
    (!tags.is_empty()).then(|| {
        tags.iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    })
}

async fn update_tags(
    client: &Client,
    arn: &str,
    current: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> AwsResult<()> {
    let TagDiff { set, remove } = tag_diff(current, wanted);
    if !remove.is_empty() {
        client
            .remove_tags_from_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(remove))
            .send()
            .await?;
    }
    if !set.is_empty() {
        client
            .add_tags_to_resource()
            .resource_arn(arn)
            .set_tags(to_tags(&set))
            .send()
            .await?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------ JSON documents

/// The canonical form of a JSON document: object keys sorted, no whitespace. The error is
/// serde_json's (what is wrong, with line and column).
pub fn normalize_json(text: &str) -> Result<String, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(canonical(&value).to_string())
}

/// Whether two JSON documents are the same after normalisation. For table mappings, the order
/// of the `rules` does not matter and a `rule-id` or `rule-name` written as a number equals
/// the same written as a string: AWS echoes either. Text that is not JSON is compared as is.
pub fn json_equal(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(a), Ok(b)) => canonical_mappings(&a) == canonical_mappings(&b),
        _ => a.trim() == b.trim(),
    }
}

/// Whether every setting the user gave is in what AWS returned: objects are compared as
/// subsets (AWS adds its defaults), arrays whole — except arrays of objects keyed by `Id`
/// (`Logging.LogComponents`), which DMS merges into its own list by `Id`, so each given
/// element is looked up by its `Id`. A given `null` matches a missing key.
pub fn settings_match(given: &str, actual: &str) -> bool {
    match (
        serde_json::from_str::<Value>(given),
        serde_json::from_str::<Value>(actual),
    ) {
        (Ok(given), Ok(actual)) => contains(&given, &actual),
        _ => false,
    }
}

/// What AWS has for exactly the settings the user gave, normalised: equal to the given
/// settings' normal form when [`settings_match`] holds, and showing AWS's values where it does
/// not (drift). Unparseable input gives `actual` back, normalised if possible.
pub fn project_settings(given: &str, actual: &str) -> String {
    let Ok(actual_value) = serde_json::from_str::<Value>(actual) else {
        return actual.to_string();
    };
    let Ok(given_value) = serde_json::from_str::<Value>(given) else {
        return canonical(&actual_value).to_string();
    };
    canonical(&project(&given_value, &actual_value)).to_string()
}

/// Checks an endpoint or task identifier: 1 to 255 ASCII letters, digits and hyphens, starting
/// with a letter, not ending with a hyphen, without two consecutive hyphens. The error quotes
/// the value and names the rule broken.
pub fn check_identifier(value: &str) -> Result<(), String> {
    check_identifier_of_length(value, MAX_IDENTIFIER_LEN)
}

/// Checks a replication instance identifier: the rules of [`check_identifier`], with at most
/// 63 characters.
pub fn check_instance_identifier(value: &str) -> Result<(), String> {
    check_identifier_of_length(value, MAX_INSTANCE_IDENTIFIER_LEN)
}

fn check_identifier_of_length(value: &str, max_len: usize) -> Result<(), String> {
    let rule = if value.is_empty() {
        "it must not be empty".to_string()
    } else if value.len() > max_len {
        format!(
            "it is {} characters long; at most {max_len} are allowed",
            value.len()
        )
    } else if !value.starts_with(|c: char| c.is_ascii_alphabetic()) {
        "it must start with a letter".to_string()
    } else if let Some(c) = value
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && *c != '-')
    {
        format!("it may contain only ASCII letters, digits and hyphens, not {c:?}")
    } else if value.ends_with('-') {
        "it must not end with a hyphen".to_string()
    } else if value.contains("--") {
        "it must not contain two consecutive hyphens".to_string()
    } else {
        return Ok(());
    };
    Err(format!("`{value}` is not a valid DMS identifier: {rule}"))
}

/// `value` with every object's keys in sorted order (whatever serde_json's map keeps).
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// [`canonical`], plus table mappings' `rules` with string ids and names, in a fixed order.
fn canonical_mappings(value: &Value) -> Value {
    let mut value = canonical(value);
    if let Some(Value::Array(rules)) = value.get_mut("rules") {
        for rule in rules.iter_mut() {
            if let Value::Object(rule) = rule {
                for key in ["rule-id", "rule-name"] {
                    if let Some(Value::Number(n)) = rule.get(key) {
                        let text = n.to_string();
                        rule.insert(key.to_string(), Value::String(text));
                    }
                }
            }
        }
        rules.sort_by_cached_key(|rule| {
            let id = match rule.get("rule-id") {
                Some(Value::String(id)) => id.clone(),
                _ => String::new(),
            };
            (id, rule.to_string())
        });
    }
    value
}

/// Whether `given` is contained in `actual` (see [`settings_match`]).
fn contains(given: &Value, actual: &Value) -> bool {
    match (given, actual) {
        (Value::Object(given), Value::Object(actual)) => {
            given.iter().all(|(key, value)| match actual.get(key) {
                Some(have) => contains(value, have),
                None => value.is_null(),
            })
        }
        (Value::Array(given), Value::Array(actual)) if keyed_by_id(given) => {
            given.iter().all(|element| {
                by_id(actual, &element["Id"]).is_some_and(|have| contains(element, have))
            })
        }
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        _ => canonical(given) == canonical(actual),
    }
}

/// `actual` restricted to the shape of `given` (see [`project_settings`]).
fn project(given: &Value, actual: &Value) -> Value {
    if contains(given, actual) {
        return given.clone();
    }
    match (given, actual) {
        (Value::Object(given), Value::Object(actual)) => Value::Object(
            given
                .iter()
                .filter_map(|(key, value)| {
                    actual
                        .get(key)
                        .map(|have| (key.clone(), project(value, have)))
                })
                .collect(),
        ),
        (Value::Array(given), Value::Array(actual)) if keyed_by_id(given) => Value::Array(
            given
                .iter()
                .filter_map(|element| {
                    by_id(actual, &element["Id"]).map(|have| project(element, have))
                })
                .collect(),
        ),
        _ => actual.clone(),
    }
}

/// An array of objects that each have a distinct string `Id`.
fn keyed_by_id(items: &[Value]) -> bool {
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|item| item.get("Id").and_then(Value::as_str))
        .collect();
    !items.is_empty()
        && ids.len() == items.len()
        && ids.iter().enumerate().all(|(i, id)| !ids[..i].contains(id))
}

fn by_id<'a>(items: &'a [Value], id: &Value) -> Option<&'a Value> {
    items.iter().find(|item| item.get("Id") == Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_sorts_keys_and_drops_whitespace() {
        assert_eq!(
            normalize_json("{ \"b\": 1,\n \"a\": { \"d\": [1, 2], \"c\": null } }").unwrap(),
            r#"{"a":{"c":null,"d":[1,2]},"b":1}"#
        );
    }

    #[test]
    fn normalize_says_where_the_json_is_broken() {
        let err = normalize_json("{\n  \"rules\": [\n}").unwrap_err();
        assert!(err.contains("line 3 column 1"), "{err}");
    }

    #[test]
    fn mappings_equal_regardless_of_rule_order_and_id_type() {
        let a = r#"{"rules":[
            {"rule-type":"selection","rule-id":"1","rule-name":"1","object-locator":{"schema-name":"shop","table-name":"%"},"rule-action":"include"},
            {"rule-type":"selection","rule-id":"2","rule-name":"2","object-locator":{"schema-name":"audit","table-name":"%"},"rule-action":"exclude"}]}"#;
        let b = r#"{"rules":[
            {"rule-id":2,"rule-name":2,"rule-type":"selection","object-locator":{"table-name":"%","schema-name":"audit"},"rule-action":"exclude"},
            {"rule-id":1,"rule-name":"1","rule-type":"selection","object-locator":{"schema-name":"shop","table-name":"%"},"rule-action":"include"}]}"#;
        assert!(json_equal(a, b));
        let c = b.replace("exclude", "include");
        assert!(!json_equal(a, &c));
    }

    #[test]
    fn json_equal_compares_other_arrays_in_order() {
        assert!(json_equal(r#"{"a":[1,2]}"#, r#"{ "a" : [1,2] }"#));
        assert!(!json_equal(r#"{"a":[1,2]}"#, r#"{"a":[2,1]}"#));
        assert!(!json_equal("not json", r#"{"a":1}"#));
    }

    #[test]
    fn settings_match_ignores_server_defaults() {
        let given =
            r#"{"Logging":{"EnableLogging":true},"TargetMetadata":{"BatchApplyEnabled":false}}"#;
        let actual = r#"{"Logging":{"EnableLogging":true,"EnableLogContext":false,"CloudWatchLogGroup":"dms-tasks-x"},
            "TargetMetadata":{"BatchApplyEnabled":false,"LobMaxSize":32},"FullLoadSettings":{"CommitRate":10000}}"#;
        assert!(settings_match(given, actual));
        assert!(!settings_match(
            r#"{"TargetMetadata":{"BatchApplyEnabled":true}}"#,
            actual
        ));
        assert!(!settings_match(r#"{"Missing":{"X":1}}"#, actual));
        assert!(settings_match(
            r#"{"Logging":{"CloudWatchLogStream":null}}"#,
            actual
        ));
        assert!(!settings_match("{", actual));
    }

    #[test]
    fn settings_match_compares_arrays_whole_except_log_components_by_id() {
        let actual = r#"{"Logging":{"LogComponents":[
            {"Id":"SOURCE_UNLOAD","Severity":"LOGGER_SEVERITY_DEFAULT"},
            {"Id":"TARGET_APPLY","Severity":"LOGGER_SEVERITY_DEBUG"}]},
            "Rules":[1,2,3]}"#;
        assert!(settings_match(
            r#"{"Logging":{"LogComponents":[{"Id":"TARGET_APPLY","Severity":"LOGGER_SEVERITY_DEBUG"}]}}"#,
            actual
        ));
        assert!(!settings_match(
            r#"{"Logging":{"LogComponents":[{"Id":"SOURCE_UNLOAD","Severity":"LOGGER_SEVERITY_DEBUG"}]}}"#,
            actual
        ));
        assert!(settings_match(r#"{"Rules":[1,2,3]}"#, actual));
        assert!(!settings_match(r#"{"Rules":[1,2]}"#, actual));
    }

    #[test]
    fn projected_settings_show_what_aws_has_for_the_given_keys() {
        let actual = r#"{"TargetMetadata":{"BatchApplyEnabled":true,"LobMaxSize":32},
            "Logging":{"EnableLogging":false,"LogComponents":[{"Id":"IO","Severity":"LOGGER_SEVERITY_DEFAULT"},{"Id":"SORTER","Severity":"LOGGER_SEVERITY_DEFAULT"}]}}"#;
        let given = r#"{"TargetMetadata":{"BatchApplyEnabled":false},
            "Logging":{"LogComponents":[{"Id":"SORTER","Severity":"LOGGER_SEVERITY_DEBUG"}]}}"#;
        assert_eq!(
            project_settings(given, actual),
            r#"{"Logging":{"LogComponents":[{"Id":"SORTER","Severity":"LOGGER_SEVERITY_DEFAULT"}]},"TargetMetadata":{"BatchApplyEnabled":true}}"#
        );
        let matching = r#"{"TargetMetadata":{"LobMaxSize":32}}"#;
        assert_eq!(
            project_settings(matching, actual),
            normalize_json(matching).unwrap()
        );
    }

    #[test]
    fn identifiers_follow_the_dms_rules() {
        assert!(check_identifier("orders-cdc").is_ok());
        assert!(check_instance_identifier("A1-b2").is_ok());
        let cases = [
            ("", "empty"),
            ("1orders", "start with a letter"),
            ("orders_cdc", "only ASCII letters"),
            ("orders-", "end with a hyphen"),
            ("orders--cdc", "two consecutive hyphens"),
        ];
        for (value, rule) in cases {
            let err = check_identifier(value).unwrap_err();
            assert!(err.contains(rule), "{value}: {err}");
        }
        let long = "a".repeat(64);
        assert!(check_identifier(&long).is_ok());
        let err = check_instance_identifier(&long).unwrap_err();
        assert!(err.contains("at most 63"), "{err}");
    }

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
