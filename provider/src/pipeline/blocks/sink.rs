//! The sink (`sink`): the DynamoDB table the enriched rows land in. Its whole life, in order:
//!
//! 1. validate and plan ([`validate`], [`plan`]): name, keys, billing and encryption, and the
//!    ARN, known while the name stays;
//! 2. desired ([`spec`]) and apply ([`ensure_table`], which the analytics engine's state table
//!    shares): created, or found by name and brought to the spec once `ACTIVE`;
//! 3. refresh ([`find`], [`refreshed`]): what AWS reports, on each attribute;
//! 4. import ([`import`]) and the leftovers of a failed apply ([`leftovers`]);
//! 5. destroy ([`destroy`]).
//!
//! A new name or key replaces the pipeline ([`replaced_by`]).

use std::collections::BTreeMap;

use crate::schema::{computed, defaulted, group, optional};
use tf_provider::schema::{AttributeType, NestedBlock};
use tf_provider::value::Value;
use tf_provider::Diagnostics;

use crate::aws::dynamodb::{self, Key, Table, TableSpec};
use crate::aws::{Aws, AwsResult, Identity};
use crate::pipeline::block::{Importing, Ours};
use crate::pipeline::owner::{self as own, Owner};
use crate::pipeline::state::{SinkBlock, Str};
use crate::pipeline::values::{
    arn_of, in_range, missing, name_like, need, one_of, opt, path, pick, some, text,
};

/// The block's schema: every attribute, its default and what a change to it does.
pub fn schema() -> NestedBlock {
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
            ("point_in_time_recovery", defaulted(AttributeType::Bool, "Point-in-time recovery: continuous backups, restorable to any second of the last 35 days (default `true`; billed per GB-month of table size). The engine's state table follows this setting. Updates in place.")),
            ("deletion_protection", defaulted(AttributeType::Bool, "Deletion protection (default `true`): DynamoDB refuses to delete the table, from the console, the CLI or another tool, while it is on. The pipeline's own destroy turns it off when it may delete the table (see `force_destroy`). The engine's state table follows this setting. Updates in place.")),
            ("force_destroy", defaulted(AttributeType::Bool, "Whether destroying (or replacing) the pipeline may delete a sink table that holds items (default `false`: destroy stops before deleting anything and says so, so no row is lost).")),
            ("arn", computed(AttributeType::String, "The table's ARN.")),
        ],
    )
}

pub fn validate(s: &SinkBlock, diags: &mut Diagnostics) {
    name_like(
        "sink",
        "name",
        &s.name,
        255,
        "_.-",
        "a DynamoDB table name",
        diags,
    );
    if let Value::Value(n) = &s.name {
        if n.len() < 3 {
            diags.error(
                "invalid sink.name",
                format!("`sink.name` must be at least 3 characters long (got \"{n}\")"),
                path("sink", "name"),
            );
        }
    }
    if s.partition_key.is_null() {
        diags.error(
            "missing sink.partition_key",
            "`sink.partition_key` is required: name the attribute that keys the enriched rows, e.g. `partition_key = \"orderId\"`",
            path("sink", "partition_key"),
        );
    }
    one_of(
        "sink",
        "partition_key_type",
        &s.partition_key_type,
        &["S", "N", "B"],
        diags,
    );
    one_of(
        "sink",
        "sort_key_type",
        &s.sort_key_type,
        &["S", "N", "B"],
        diags,
    );
    if s.sort_key.is_null() && s.sort_key_type.is_value() {
        diags.error(
            "invalid sink.sort_key_type",
            "`sink.sort_key_type` is set but `sink.sort_key` is not: name the sort key or remove its type",
            path("sink", "sort_key_type"),
        );
    }
    if let (Value::Value(pk), Value::Value(sk)) = (&s.partition_key, &s.sort_key) {
        if pk == sk {
            diags.error(
                "invalid sink.sort_key",
                format!(
                    "`sink.sort_key` must differ from `sink.partition_key` (both are \"{pk}\")"
                ),
                path("sink", "sort_key"),
            );
        }
    }
    one_of(
        "sink",
        "billing_mode",
        &s.billing_mode,
        &["PAY_PER_REQUEST", "PROVISIONED"],
        diags,
    );
    let provisioned = matches!(&s.billing_mode, Value::Value(m) if m == "PROVISIONED");
    let known_mode = !s.billing_mode.is_unknown();
    for (attr, value) in [
        ("read_capacity", &s.read_capacity),
        ("write_capacity", &s.write_capacity),
    ] {
        match value {
            Value::Value(n) if known_mode && !provisioned => diags.error(
                format!("invalid sink.{attr}"),
                format!("`sink.{attr}` is set ({n}) but `sink.billing_mode` is PAY_PER_REQUEST: remove it, or set `billing_mode = \"PROVISIONED\"`"),
                path("sink", attr),
            ),
            Value::Value(_) => in_range("sink", attr, value, 1, 40_000, diags),
            Value::Null if provisioned => diags.error(
                format!("missing sink.{attr}"),
                format!("`sink.{attr}` is required when `sink.billing_mode` is PROVISIONED, e.g. `{attr} = 5`"),
                path("sink", attr),
            ),
            _ => {}
        }
    }
    if matches!(s.server_side_encryption, Value::Value(false)) && s.kms_key_arn.is_value() {
        diags.error(
            "invalid sink.kms_key_arn",
            "`sink.kms_key_arn` is set but `sink.server_side_encryption` is false: remove the key or enable encryption",
            path("sink", "kms_key_arn"),
        );
    }
}

pub fn plan(
    config: &SinkBlock,
    prior: Option<&SinkBlock>,
    default_name: Str,
    identity: &Identity,
) -> SinkBlock {
    let name = pick(&config.name, default_name);
    let sort_key_type = match (&config.sort_key_type, &config.sort_key) {
        (Value::Null, Value::Value(_)) => text("S"),
        (Value::Null, Value::Null) => Value::Null,
        (Value::Null, Value::Unknown) => Value::Unknown,
        (configured, _) => configured.clone(),
    };
    SinkBlock {
        arn: arn_of(prior.map(|p| (&p.name, &p.arn)), &name, |n| {
            identity.arn("dynamodb", true, &format!("table/{n}"))
        }),
        name,
        partition_key: config.partition_key.clone(),
        partition_key_type: pick(&config.partition_key_type, text("S")),
        sort_key: config.sort_key.clone(),
        sort_key_type,
        billing_mode: pick(&config.billing_mode, text("PAY_PER_REQUEST")),
        read_capacity: config.read_capacity,
        write_capacity: config.write_capacity,
        server_side_encryption: pick(&config.server_side_encryption, Value::Value(true)),
        kms_key_arn: config.kms_key_arn.clone(),
        point_in_time_recovery: pick(&config.point_in_time_recovery, Value::Value(true)),
        deletion_protection: pick(&config.deletion_protection, Value::Value(true)),
        force_destroy: pick(&config.force_destroy, Value::Value(false)),
    }
}

/// The attributes whose change replaces the pipeline: the name and the key schema (DynamoDB
/// cannot change a table's keys; the rows cannot move).
pub fn replaced_by(prior: &SinkBlock, planned: &SinkBlock) -> Vec<&'static str> {
    [
        ("name", &prior.name, &planned.name),
        (
            "partition_key",
            &prior.partition_key,
            &planned.partition_key,
        ),
        (
            "partition_key_type",
            &prior.partition_key_type,
            &planned.partition_key_type,
        ),
        ("sort_key", &prior.sort_key, &planned.sort_key),
        (
            "sort_key_type",
            &prior.sort_key_type,
            &planned.sort_key_type,
        ),
    ]
    .into_iter()
    .filter(|(_, before, after)| before != after)
    .map(|(attr, _, _)| attr)
    .collect()
}

/// The table as the planned block (fully known) asks for it.
pub fn spec(sink: &SinkBlock, tags: &BTreeMap<String, String>) -> Result<TableSpec, String> {
    let capacity = match (opt(&sink.read_capacity), opt(&sink.write_capacity)) {
        (Some(r), Some(w)) if need(&sink.billing_mode, "sink.billing_mode")? == "PROVISIONED" => {
            Some((r, w))
        }
        _ => None,
    };
    Ok(TableSpec {
        name: need(&sink.name, "sink.name")?,
        partition_key: Key {
            name: need(&sink.partition_key, "sink.partition_key")?,
            attr_type: need(&sink.partition_key_type, "sink.partition_key_type")?,
        },
        sort_key: match opt(&sink.sort_key) {
            Some(name) => Some(Key {
                name,
                attr_type: need(&sink.sort_key_type, "sink.sort_key_type")?,
            }),
            None => None,
        },
        capacity,
        sse: need(&sink.server_side_encryption, "sink.server_side_encryption")?,
        kms_key_arn: opt(&sink.kms_key_arn),
        deletion_protection: need(&sink.deletion_protection, "sink.deletion_protection")?,
        point_in_time_recovery: need(&sink.point_in_time_recovery, "sink.point_in_time_recovery")?,
        tags: tags.clone(),
    })
}

/// Brings a table to `spec`: created, or updated once `ACTIVE`. `ours`: the state knows it
/// (else one found by name must be the pipeline's). Returns its ARN.
pub async fn ensure_table(
    aws: &Aws,
    spec: &TableSpec,
    ours: bool,
    owner: &Owner,
) -> AwsResult<String> {
    match dynamodb::find_by_name(&aws.dynamodb, &spec.name, None).await? {
        None => Ok(dynamodb::create(&aws.dynamodb, spec).await?.arn),
        Some(current) => {
            if !ours {
                owner.check(own::TABLE, &spec.name, &current.tags)?;
            }
            // What the finder read of its backups holds while it settles.
            let recovery = current.point_in_time_recovery;
            let mut current = dynamodb::wait_active(&aws.dynamodb, &spec.name).await?;
            current.point_in_time_recovery = recovery;
            Ok(dynamodb::update(&aws.dynamodb, &current, spec).await?.arn)
        }
    }
}

/// Reads the table the state names (compared by ARN: one re-created under the name is another).
pub async fn find(aws: &Aws, sink: &SinkBlock) -> AwsResult<Option<Table>> {
    match &sink.name {
        Value::Value(name) => {
            let arn = sink.arn.as_ref_option().map(String::as_str);
            dynamodb::find_by_name(&aws.dynamodb, name, arn).await
        }
        _ => Ok(None),
    }
}

/// The block as AWS reports it; a table gone shows as its ARN becoming "known after apply".
pub fn refreshed(prior: &SinkBlock, seen: Option<Table>) -> SinkBlock {
    let mut sink = prior.clone();
    let Some(t) = seen else {
        sink.arn = Value::Null;
        return sink;
    };
    sink.name = some(t.name);
    if let Some(k) = t.partition_key {
        sink.partition_key = some(k.name);
        sink.partition_key_type = some(k.attr_type);
    }
    match t.sort_key {
        Some(k) => {
            sink.sort_key = some(k.name);
            sink.sort_key_type = some(k.attr_type);
        }
        None => {
            sink.sort_key = Value::Null;
            sink.sort_key_type = Value::Null;
        }
    }
    match t.capacity {
        Some((r, w)) => {
            sink.billing_mode = some("PROVISIONED".to_string());
            sink.read_capacity = some(r);
            sink.write_capacity = some(w);
        }
        None => {
            sink.billing_mode = some("PAY_PER_REQUEST".to_string());
            sink.read_capacity = Value::Null;
            sink.write_capacity = Value::Null;
        }
    }
    sink.server_side_encryption = some(t.sse);
    // AWS reports the AWS-managed key's ARN when no key was chosen: only a key the
    // configuration names is compared.
    if sink.kms_key_arn.is_value() {
        sink.kms_key_arn = t.kms_key_arn.map_or(Value::Null, some);
    }
    sink.deletion_protection = some(t.deletion_protection);
    if let Some(on) = t.point_in_time_recovery {
        sink.point_in_time_recovery = some(on);
    }
    sink.arn = some(t.arn);
    sink
}

/// An import: the table named `name` into `sink` (its name, and its ARN when it exists;
/// refresh fills in the rest). Returns what was found, for its tags.
pub async fn import(
    importing: &Importing<'_>,
    sink: &mut SinkBlock,
    name: String,
) -> Result<Option<Table>, String> {
    importing.note(own::TABLE, &name);
    let found = dynamodb::find_by_name(&importing.aws.dynamodb, &name, None)
        .await
        .map_err(|e| e.message)?;
    if let Some(found) = &found {
        importing.owned(own::TABLE, &name, &found.tags)?;
    }
    sink.name = some(name);
    sink.arn = found.as_ref().map_or(Value::Null, |t| some(t.arn.clone()));
    // Terraform's alone: AWS has no such setting.
    sink.force_destroy = some(false);
    Ok(found)
}

/// After a failed apply: a table's ARN (`name`, `arn`: the sink's, or the engine's state
/// table), when it exists under its name and is the pipeline's.
pub async fn leftovers(aws: &Aws, name: &Str, arn: &mut Str, ours: &Ours<'_>) -> AwsResult<()> {
    if let Some(name) = missing(name, arn) {
        if let Some(found) = dynamodb::find_by_name(&aws.dynamodb, &name, None).await? {
            if ours(own::TABLE, &name, &found.tags) {
                *arn = Value::Value(found.arn);
            }
        }
    }
    Ok(())
}

/// A destroy stops before anything is deleted when the sink holds items (the pipeline's
/// output), unless `force_destroy` allows deleting them with the table.
pub async fn refuses_destroy(aws: &Aws, sink: &SinkBlock) -> Option<String> {
    if matches!(sink.force_destroy, Value::Value(true)) {
        return None;
    }
    let name = sink.name.as_ref_option().filter(|_| sink.arn.is_value())?;
    match dynamodb::holds_items(&aws.dynamodb, name).await {
        Ok(false) => None,
        Ok(true) => Some(format!(
            "deleting DynamoDB table ({name}): the sink still holds items (the pipeline's enriched rows): export or back them up, or set `sink.force_destroy = true` to delete them with the table; nothing was deleted"
        )),
        Err(e) if e.code_is("ResourceNotFoundException") => None,
        Err(e) => Some(e.message),
    }
}

/// Deletes a table (the sink, or the engine's state table) when the state knows it.
pub async fn destroy(aws: &Aws, name: &Str, arn: &Str) -> AwsResult<()> {
    match name.as_ref_option().filter(|_| arn.is_value()) {
        Some(name) => dynamodb::delete(&aws.dynamodb, name).await,
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sink_is_protected_by_default_and_keeps_its_rows_on_destroy() {
        let config = SinkBlock {
            partition_key: text("orderId"),
            ..SinkBlock::default()
        };
        let planned = plan(&config, None, text("orders-sink"), &Identity::for_tests());
        assert!(planned.point_in_time_recovery == Value::Value(true));
        assert!(planned.deletion_protection == Value::Value(true));
        assert!(planned.force_destroy == Value::Value(false));
        let spec = spec(&planned, &BTreeMap::new()).unwrap();
        assert!(spec.point_in_time_recovery && spec.deletion_protection);
    }

    #[test]
    fn a_new_name_or_key_replaces_the_table_and_its_protection_does_not() {
        let config = SinkBlock {
            partition_key: text("orderId"),
            ..SinkBlock::default()
        };
        let prior = plan(&config, None, text("orders-sink"), &Identity::for_tests());
        let mut changed = prior.clone();
        changed.point_in_time_recovery = Value::Value(false);
        changed.deletion_protection = Value::Value(false);
        assert!(replaced_by(&prior, &changed).is_empty());
        changed.partition_key = text("id");
        changed.sort_key = text("itemId");
        assert_eq!(replaced_by(&prior, &changed), ["partition_key", "sort_key"]);
    }
}
