//! The replication instance: finders, create/update/delete, then its waiters (creating →
//! available, modifying → available, deleting → gone).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_databasemigration::types::Filter;
use aws_sdk_databasemigration::Client;

use crate::aws::{context, AwsError, AwsResult};
use crate::wait;

use super::common::{
    disappeared, filter, found, gone, is_role_propagation, sorted, tags_of, to_tags, update_tags,
    INSTANCE,
};

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
        AwsResult::Ok(
            out.replication_instance
                .and_then(|i| i.replication_instance_arn)
                .unwrap_or_default(),
        )
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
