//! The DynamoDB sink table.
//!
//! Finders, create/update/delete and waiters. A table accepts one UpdateTable at a time and
//! settles through UPDATING, so billing and encryption changes are applied one after another.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    PointInTimeRecoveryStatus, ProvisionedThroughput, ScalarAttributeType, SseSpecification,
    SseStatus, SseType, TableStatus, Tag,
};
use aws_sdk_dynamodb::Client;

use crate::aws::tags::{tag_diff, TagDiff};
use crate::aws::{context, found, gone, AwsError, AwsResult};
use crate::wait;

/// What errors call this service's component.
const COMPONENT: &str = "DynamoDB table";

/// A key attribute: its name and its DynamoDB scalar type (`S`, `N` or `B`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub attr_type: String,
}

/// The settings a table should have.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    pub name: String,
    pub partition_key: Key,
    pub sort_key: Option<Key>,
    /// `(read, write)` capacity units for provisioned billing; `None` for on-demand.
    pub capacity: Option<(i64, i64)>,
    /// KMS encryption (AWS-managed key unless `kms_key_arn` is given); off means the
    /// AWS-owned key, which DynamoDB always uses at the least.
    pub sse: bool,
    pub kms_key_arn: Option<String>,
    /// DeleteTable refused while on: the table is deleted only by turning it off first.
    pub deletion_protection: bool,
    /// Point-in-time recovery (continuous backups of the last 35 days).
    pub point_in_time_recovery: bool,
    pub tags: BTreeMap<String, String>,
}

/// A table as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: String,
    pub arn: String,
    pub status: TableStatus,
    pub partition_key: Option<Key>,
    pub sort_key: Option<Key>,
    pub capacity: Option<(i64, i64)>,
    pub sse: bool,
    pub kms_key_arn: Option<String>,
    pub deletion_protection: bool,
    /// Point-in-time recovery, when read ([`find_by_name`] reads it; a description alone does
    /// not hold it).
    pub point_in_time_recovery: Option<bool>,
    pub tags: BTreeMap<String, String>,
}

/// Describes the table named `name`, with its tags and point-in-time recovery; `None` if it does not exist. Tags are
/// listed by ARN: given the ARN the table should have (`arn_hint`, e.g. from the state), they
/// are asked at the same time as the description, and again only if the table's ARN differs.
pub async fn find_by_name(
    client: &Client,
    name: &str,
    arn_hint: Option<&str>,
) -> AwsResult<Option<Table>> {
    let (table, hinted_tags, recovery) = tokio::join!(
        describe_by_name(client, name),
        async {
            match arn_hint {
                Some(arn) => Some(found(list_tags(client, arn).await)),
                None => None,
            }
        },
        point_in_time_recovery(client, name)
    );
    let Some(mut table) = table? else {
        return Ok(None);
    };
    table.point_in_time_recovery = recovery?;
    table.tags = match hinted_tags {
        Some(tags) if arn_hint == Some(table.arn.as_str()) => tags?.unwrap_or_default(),
        _ => found(list_tags(client, &table.arn).await)?.unwrap_or_default(),
    };
    Ok(Some(table))
}

/// Describes the table named `name` without its tags (where they are not compared): one call.
pub async fn describe_by_name(client: &Client, name: &str) -> AwsResult<Option<Table>> {
    let out = found(
        client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(AwsError::from),
    )?;
    let Some(desc) = out.and_then(|o| o.table) else {
        return Ok(None);
    };
    let attr_type = |attr: &str| {
        desc.attribute_definitions()
            .iter()
            .find(|d| d.attribute_name() == attr)
            .map(|d| d.attribute_type().as_str().to_string())
            .unwrap_or_default()
    };
    let key = |kind: KeyType| {
        desc.key_schema()
            .iter()
            .find(|k| *k.key_type() == kind)
            .map(|k| Key {
                name: k.attribute_name().to_string(),
                attr_type: attr_type(k.attribute_name()),
            })
    };
    let on_demand = matches!(
        desc.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(BillingMode::PayPerRequest)
    );
    let capacity = if on_demand {
        None
    } else {
        desc.provisioned_throughput().map(|t| {
            (
                t.read_capacity_units().unwrap_or_default(),
                t.write_capacity_units().unwrap_or_default(),
            )
        })
    };
    let sse_desc = desc.sse_description();
    let sse = matches!(
        sse_desc.and_then(|s| s.status()),
        Some(SseStatus::Enabled | SseStatus::Enabling | SseStatus::Updating)
    );
    Ok(Some(Table {
        name: desc.table_name().unwrap_or(name).to_string(),
        arn: desc.table_arn().unwrap_or_default().to_string(),
        status: desc.table_status().cloned().unwrap_or(TableStatus::Active),
        partition_key: key(KeyType::Hash),
        sort_key: key(KeyType::Range),
        capacity,
        sse,
        kms_key_arn: sse_desc
            .filter(|_| sse)
            .and_then(|s| s.kms_master_key_arn())
            .map(str::to_string),
        deletion_protection: desc.deletion_protection_enabled().unwrap_or(false),
        point_in_time_recovery: None,
        tags: BTreeMap::new(),
    }))
}

/// Whether point-in-time recovery is on; `None` when the table does not exist.
async fn point_in_time_recovery(client: &Client, name: &str) -> AwsResult<Option<bool>> {
    let out = found(
        client
            .describe_continuous_backups()
            .table_name(name)
            .send()
            .await
            .map_err(AwsError::from),
    )?;
    Ok(out.map(|o| {
        o.continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            == Some(&PointInTimeRecoveryStatus::Enabled)
    }))
}

/// Backups of a table just made are still being enabled: ContinuousBackupsUnavailableException
/// ("Backups are being enabled for the table"), waited out.
fn is_enabling_backups(err: &AwsError) -> bool {
    err.code_is("ContinuousBackupsUnavailableException") || is_settling(err)
}

/// Turns point-in-time recovery on or off.
async fn set_point_in_time_recovery(client: &Client, name: &str, on: bool) -> AwsResult<()> {
    let spec = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(on)
        .build()
        .expect("enabled is set");
    wait::retry_while(is_enabling_backups, || {
        client
            .update_continuous_backups()
            .table_name(name)
            .point_in_time_recovery_specification(spec.clone())
            .send()
    })
    .await
    .map(|_| ())
}

/// Whether the table holds at least one item (one item read at most).
pub async fn holds_items(client: &Client, name: &str) -> AwsResult<bool> {
    let out = client
        .scan()
        .table_name(name)
        .limit(1)
        .send()
        .await
        .map_err(|e| context("reading", COMPONENT, name, e.into()))?;
    Ok(out.count() > 0)
}

async fn list_tags(client: &Client, arn: &str) -> AwsResult<BTreeMap<String, String>> {
    let mut tags = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(token)
            .send()
            .await?;
        for tag in out.tags() {
            tags.insert(tag.key().to_string(), tag.value().to_string());
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(tags);
        }
    }
}

fn key_element(key: &Key, kind: KeyType) -> (AttributeDefinition, KeySchemaElement) {
    (
        AttributeDefinition::builder()
            .attribute_name(&key.name)
            .attribute_type(ScalarAttributeType::from(key.attr_type.as_str()))
            .build()
            .expect("name and type are set"),
        KeySchemaElement::builder()
            .attribute_name(&key.name)
            .key_type(kind)
            .build()
            .expect("name and kind are set"),
    )
}

fn throughput((read, write): (i64, i64)) -> ProvisionedThroughput {
    ProvisionedThroughput::builder()
        .read_capacity_units(read)
        .write_capacity_units(write)
        .build()
        .expect("both capacities are set")
}

fn billing_mode(capacity: Option<(i64, i64)>) -> BillingMode {
    match capacity {
        Some(_) => BillingMode::Provisioned,
        None => BillingMode::PayPerRequest,
    }
}

fn sse_specification(spec: &TableSpec) -> SseSpecification {
    let builder = SseSpecification::builder().enabled(spec.sse);
    if spec.sse {
        builder
            .sse_type(SseType::Kms)
            .set_kms_master_key_id(spec.kms_key_arn.clone())
            .build()
    } else {
        builder.build()
    }
}

/// Creates the table with its tags and waits for it to be ACTIVE.
pub async fn create(client: &Client, spec: &TableSpec) -> AwsResult<Table> {
    let mut keys = vec![key_element(&spec.partition_key, KeyType::Hash)];
    if let Some(sort) = &spec.sort_key {
        keys.push(key_element(sort, KeyType::Range));
    }
    let (definitions, schema): (Vec<_>, Vec<_>) = keys.into_iter().unzip();
    let tags = spec
        .tags
        .iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("key and value are set")
        })
        .collect::<Vec<_>>();
    client
        .create_table()
        .table_name(&spec.name)
        .set_attribute_definitions(Some(definitions))
        .set_key_schema(Some(schema))
        .billing_mode(billing_mode(spec.capacity))
        .set_provisioned_throughput(spec.capacity.map(throughput))
        .sse_specification(sse_specification(spec))
        .deletion_protection_enabled(spec.deletion_protection)
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .map_err(|e| context("creating", COMPONENT, &spec.name, e.into()))?;
    // Made with these tags: not read back.
    let table = wait_until_active(client, &spec.name).await?;
    if spec.point_in_time_recovery {
        set_point_in_time_recovery(client, &spec.name, true)
            .await
            .map_err(|e| {
                context(
                    "enabling point-in-time recovery of",
                    COMPONENT,
                    &spec.name,
                    e,
                )
            })?;
    }
    Ok(Table {
        tags: spec.tags.clone(),
        point_in_time_recovery: Some(spec.point_in_time_recovery),
        ..table
    })
}

/// The table is still settling from its previous change: ResourceInUseException ("Attempt to
/// change a resource which is still in use"), waited out.
fn is_settling(err: &AwsError) -> bool {
    err.code_is("ResourceInUseException")
}

/// Brings an existing table to `spec` in place (billing, capacity, encryption, tags). Key
/// schema changes are not updates: the plan replaces the pipeline for those.
pub async fn update(client: &Client, current: &Table, spec: &TableSpec) -> AwsResult<Table> {
    let name = spec.name.as_str();
    let err = |e: AwsError| context("updating", COMPONENT, name, e);
    let mut current = current.clone();
    if current.capacity != spec.capacity {
        wait::retry_while(is_settling, || {
            client
                .update_table()
                .table_name(name)
                .billing_mode(billing_mode(spec.capacity))
                .set_provisioned_throughput(spec.capacity.map(throughput))
                .send()
        })
        .await
        .map_err(err)?;
        current = Table {
            tags: current.tags,
            point_in_time_recovery: current.point_in_time_recovery,
            ..wait_until_active(client, name).await?
        };
    }
    let key_changed = spec.kms_key_arn.is_some() && current.kms_key_arn != spec.kms_key_arn;
    if current.sse != spec.sse || key_changed {
        wait::retry_while(is_settling, || {
            client
                .update_table()
                .table_name(name)
                .sse_specification(sse_specification(spec))
                .send()
        })
        .await
        .map_err(err)?;
        current = Table {
            tags: current.tags,
            point_in_time_recovery: current.point_in_time_recovery,
            ..wait_until_active(client, name).await?
        };
    }
    if current.deletion_protection != spec.deletion_protection {
        set_deletion_protection(client, name, spec.deletion_protection)
            .await
            .map_err(err)?;
    }
    if current.point_in_time_recovery != Some(spec.point_in_time_recovery) {
        set_point_in_time_recovery(client, name, spec.point_in_time_recovery)
            .await
            .map_err(err)?;
    }
    let TagDiff { set, remove } = tag_diff(&current.tags, &spec.tags);
    if !remove.is_empty() {
        wait::retry_while(is_settling, || {
            client
                .untag_resource()
                .resource_arn(&current.arn)
                .set_tag_keys(Some(remove.clone()))
                .send()
        })
        .await
        .map_err(err)?;
    }
    if !set.is_empty() {
        let tags: Vec<Tag> = set
            .iter()
            .map(|(k, v)| {
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("key and value are set")
            })
            .collect();
        wait::retry_while(is_settling, || {
            client
                .tag_resource()
                .resource_arn(&current.arn)
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await
        .map_err(err)?;
    }
    find_by_name(client, name, Some(&current.arn))
        .await?
        .ok_or_else(|| {
            err(AwsError::other(
                "the table disappeared while it was being updated",
            ))
        })
}

/// Turns deletion protection on or off, and waits for the table to be ACTIVE again.
async fn set_deletion_protection(client: &Client, name: &str, on: bool) -> AwsResult<()> {
    wait::retry_while(is_settling, || {
        client
            .update_table()
            .table_name(name)
            .deletion_protection_enabled(on)
            .send()
    })
    .await?;
    wait_until_active(client, name).await.map(|_| ())
}

/// DeleteTable refused because the table is protected ("Resource cannot be deleted as it is
/// currently protected against deletion. Disable deletion protection first.").
fn is_protected(err: &AwsError) -> bool {
    err.code_is("ValidationException") && err.message.contains("protected against deletion")
}

/// Deletes the table (turning its deletion protection off first: the caller decided it goes)
/// and waits until it is gone.
pub async fn delete(client: &Client, name: &str) -> AwsResult<()> {
    let delete = || async {
        gone(
            wait::retry_while(is_settling, || {
                client.delete_table().table_name(name).send()
            })
            .await
            .map(|_| ()),
        )
    };
    let deleted = match delete().await {
        Err(e) if is_protected(&e) => match set_deletion_protection(client, name, false).await {
            Ok(()) => delete().await,
            Err(e) => Err(e),
        },
        other => other,
    };
    deleted.map_err(|e| context("deleting", COMPONENT, name, e))?;
    wait::until(
        &format!("DynamoDB table ({name}) to be deleted"),
        wait::DEFAULT_TIMEOUT,
        || async {
            Ok(describe_by_name(client, name)
                .await?
                .is_none()
                .then_some(()))
        },
    )
    .await
}

/// Waits until the table is ACTIVE and returns it.
pub async fn wait_active(client: &Client, name: &str) -> AwsResult<Table> {
    let mut table = wait_until_active(client, name).await?;
    table.tags = found(list_tags(client, &table.arn).await)?.unwrap_or_default();
    Ok(table)
}

/// Polls the table's description (no tags) until it is ACTIVE.
async fn wait_until_active(client: &Client, name: &str) -> AwsResult<Table> {
    wait::settled(
        &format!("DynamoDB table ({name})"),
        "ACTIVE",
        wait::DEFAULT_TIMEOUT,
        || async {
            Ok(match describe_by_name(client, name).await? {
                Some(t) if t.status == TableStatus::Active => wait::Seen::Settled(t),
                Some(_) => wait::Seen::Settling,
                None => wait::Seen::Missing,
            })
        },
    )
    .await
}
