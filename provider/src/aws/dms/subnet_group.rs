//! The replication subnet group: finders, then create/update/delete.

use std::collections::BTreeMap;

use aws_sdk_databasemigration::Client;

use crate::aws::{context, AwsError, AwsResult, Expect, Identity};
use crate::wait;

use super::common::{
    disappeared, filter, found, gone, is_in_use, is_role_propagation, sorted, tags_of, to_tags,
    update_tags, SUBNET_GROUP,
};

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
