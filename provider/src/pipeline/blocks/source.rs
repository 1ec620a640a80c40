//! The `source` block: DMS carrying a MySQL database's changes into the CDC stream. Its whole
//! life but its schema (`state.rs`), as a [`Block`]:
//!
//! 1. plan: validation with attribute paths, defaults, the table mappings generated from `tables`
//!    ([`validate_source`], [`plan_source`]);
//! 2. apply: each part starts as soon as the parts it needs are up ([`converge_source`]), so the
//!    slow replication instance is created while the streams and endpoints are;
//! 3. parts renamed in place or a removed block: the old parts go once the new are up
//!    ([`remove_replaced_source`]);
//! 4. refresh ([`refresh_source`]), import (the task first: it names the rest,
//!    [`adopt_source`]), what a failed apply left, destroy.
//!
//! ```text
//!   DMS role ─┬─▶ MySQL endpoint ───┐
//!             └─▶ Kinesis endpoint ─┤
//!   subnet group ─▶ instance ───────┼─▶ replication task (started)
//!   cdc stream ─────────────────────┘
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use crate::schema::{block, computed, defaulted, optional, sensitive, string_list};
use async_trait::async_trait;
use futures::FutureExt;
use tf_provider::schema::{AttributeType, NestedBlock};
use tf_provider::value::Value;
use tf_provider::Diagnostics;

use crate::aws::dms::{EndpointKind, EndpointSpec, KinesisTarget, MySqlSource, TaskSpec};
use crate::aws::tags::PIPELINE_TAG;
use crate::aws::{account_of, dms, iam, partition_of, Aws, AwsError, AwsResult, Expect, Identity};
use crate::pipeline::block::{
    Applied, Block, Core, Destroying, ImportId, ImportKey, Importing, Ours, Record, Refreshed,
};
use crate::pipeline::owner::{self as own, Adopted, Owner};
use crate::pipeline::roles::{arn_in, ensure_service_role, role_arn, ServiceRole};
use crate::pipeline::state::{first_mut, one, PipelineState, SourceBlock, Str, Strings};
use crate::pipeline::values::{
    arn_name, derive, in_range, keep, known, name_like, need, nullable, one_of, path, pick, some,
    text,
};

/// `source`: DMS from MySQL into the CDC stream.
pub fn schema() -> NestedBlock {
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

const SOURCE: &str = "source";

/// The `source` block.
pub struct DmsSource;

fn err(e: AwsError) -> String {
    e.message
}

/// The ids an apply came to, recorded in the planned block: null where a part could not be
/// brought up (the next plan shows it).
fn record(ready: Option<SourceReady>, done: Option<SourceDone>) -> Record {
    Box::new(move |state| {
        let Some(s) = first_mut(&mut state.source) else {
            return;
        };
        let (role, instance, version, mysql) = match ready {
            Some(r) => (
                Some(r.role_arn),
                Some(r.instance_arn),
                Some(r.engine_version),
                Some(r.mysql_arn),
            ),
            None => (None, None, None, None),
        };
        s.role_arn = nullable(role);
        s.replication_instance_arn = nullable(instance);
        if let Some(version) = version {
            s.engine_version = Value::Value(version);
        } else if s.engine_version.is_unknown() {
            s.engine_version = Value::Null;
        }
        s.source_endpoint_arn = nullable(mysql);
        let (target, task) = match done {
            Some(d) => (Some(d.target_arn), Some(d.task_arn)),
            None => (None, None),
        };
        s.target_endpoint_arn = nullable(target);
        s.replication_task_arn = nullable(task);
    })
}

#[async_trait]
impl Block for DmsSource {
    fn name(&self) -> &'static str {
        "source"
    }

    fn schema(&self) -> NestedBlock {
        schema()
    }

    fn import_keys(&self) -> &'static [ImportKey] {
        IMPORT_KEYS
    }

    fn validate(&self, config: &PipelineState, diags: &mut Diagnostics) {
        if let Some(source) = config.source() {
            validate_source(source, diags);
        }
    }

    fn plan(
        &self,
        config: &PipelineState,
        prior: Option<&PipelineState>,
        _identity: &Identity,
        planned: &mut PipelineState,
        diags: &mut Diagnostics,
    ) {
        let source = plan_source(
            config.source(),
            prior.and_then(|p| p.source()),
            &planned.name,
            diags,
        );
        planned.source = one(source);
    }

    async fn apply(
        &self,
        core: &Core<'_>,
        planned: &PipelineState,
        _config: &PipelineState,
        prior: Option<&PipelineState>,
    ) -> Applied {
        let mut applied = Applied::default();
        let prior_source = prior.and_then(|p| p.source());
        let want = match planned
            .source()
            .map(|b| Source::from_state(b, prior_source, core.tags))
        {
            Some(Ok(source)) => Some(source),
            Some(Err(message)) => {
                applied.errors.push(message);
                applied.record = Some(record(None, None));
                return applied;
            }
            None => None,
        };
        let mut task_arn = None;
        if let Some(src) = &want {
            // The Kinesis endpoint and the task wait for the CDC stream; when it is missing
            // its own error says why.
            let cdc_arn = core.cdc_arn.clone().map(|arn| arn.map(Ok));
            let (ready, done) = Box::pin(converge_source(
                core.aws,
                src,
                prior_source,
                core.cdc,
                cdc_arn,
                core.owner,
                core.tags,
                core.timeout,
            ))
            .await;
            let ready = ready.map_err(|e| applied.errors.push(e.message)).ok();
            let done = done.and_then(|d| d.map_err(|e| applied.errors.push(e.message)).ok());
            task_arn = done.as_ref().map(|d| d.task_arn.clone());
            applied.record = Some(record(ready, done));
        }
        // Parts renamed in place (or the block removed): the new ones are up, the old ones go.
        if let Some(p) = prior_source {
            if want.is_none() || task_arn.is_some() {
                applied
                    .errors
                    .extend(remove_replaced_source(core.aws, p, want.as_ref(), core.timeout).await);
            }
        }
        applied
    }

    async fn refresh(&self, aws: &Aws, prior: &PipelineState) -> AwsResult<Refreshed> {
        let mut source = prior.source().cloned();
        if let Some(s) = &mut source {
            // The CDC stream's ARN it writes is the state's (deterministic from its name).
            let cdc_arn = prior.cdc_stream.arn.as_ref_option().map(String::as_str);
            refresh_source(aws, s, cdc_arn).await?;
        }
        let exists = source.as_ref().is_some_and(|s| {
            [
                &s.role_arn,
                &s.replication_instance_arn,
                &s.source_endpoint_arn,
                &s.target_endpoint_arn,
                &s.replication_task_arn,
            ]
            .iter()
            .any(|arn| arn.is_value())
        });
        Ok(Refreshed {
            exists,
            record: Box::new(move |state| state.source = one(source)),
        })
    }

    async fn import(
        &self,
        importing: &mut Importing<'_>,
        state: &mut PipelineState,
    ) -> Result<bool, String> {
        state.source = one(None);
        let id = importing.id;
        let named = IMPORT_KEYS
            .iter()
            .any(|k| id.components.contains_key(k.key));
        if id.by_map() && !named {
            return Ok(false);
        }
        let (aws, identity) = (importing.aws, importing.identity);
        match adopt_source(aws, identity, id, importing).await? {
            Some(source) => {
                state.source = one(Some(source));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn adopted(
        &self,
        aws: &Aws,
        state: &PipelineState,
        adopted: &mut Adopted,
    ) -> Result<(), String> {
        let Some(s) = state.source() else {
            return Ok(());
        };
        if let Some(name) = s.role_name.as_ref_option() {
            let role = iam::find_by_name(&aws.iam, name, "unifiedetl-dms").await;
            if role.map_err(err)?.is_some() {
                adopted.add(own::ROLE, name);
            }
        }
        let named = |v: &Str, arn: &Str| v.as_ref_option().filter(|_| arn.is_value()).cloned();
        for (kind, id, arn) in [
            (
                own::INSTANCE,
                &s.replication_instance_id,
                &s.replication_instance_arn,
            ),
            (own::ENDPOINT, &s.source_endpoint_id, &s.source_endpoint_arn),
            (own::ENDPOINT, &s.target_endpoint_id, &s.target_endpoint_arn),
            (own::TASK, &s.replication_task_id, &s.replication_task_arn),
        ] {
            if let Some(id) = named(id, arn) {
                adopted.add(kind, &id);
            }
        }
        if let Some(group) = s.replication_subnet_group_id.as_ref_option() {
            adopted.add(own::SUBNET_GROUP, group);
        }
        Ok(())
    }

    async fn leftovers(
        &self,
        aws: &Aws,
        _identity: &Identity,
        state: &mut PipelineState,
        ours: &Ours<'_>,
    ) -> AwsResult<()> {
        let Some(s) = first_mut(&mut state.source) else {
            return Ok(());
        };
        let missing = |name: &Str, arn: &Str| name.as_ref_option().filter(|_| !known(arn)).cloned();
        if let Some(id) = missing(&s.replication_task_id, &s.replication_task_arn) {
            if let Some(found) = dms::find_task_by_id(&aws.dms, &id).await? {
                if ours(own::TASK, &id, &found.tags) {
                    s.replication_task_arn = Value::Value(found.arn);
                }
            }
        }
        for (id, arn) in [
            (&s.source_endpoint_id, &mut s.source_endpoint_arn),
            (&s.target_endpoint_id, &mut s.target_endpoint_arn),
        ] {
            if let Some(id) = missing(id, &*arn) {
                if let Some(found) = dms::find_endpoint_by_id(&aws.dms, &id).await? {
                    if ours(own::ENDPOINT, &id, &found.tags) {
                        *arn = Value::Value(found.arn);
                    }
                }
            }
        }
        if let Some(id) = missing(&s.replication_instance_id, &s.replication_instance_arn) {
            if let Some(found) = dms::find_instance_by_id(&aws.dms, &id).await? {
                if ours(own::INSTANCE, &id, &found.tags) {
                    s.replication_instance_arn = Value::Value(found.arn);
                }
            }
        }
        if let Some(name) = missing(&s.role_name, &s.role_arn) {
            if let Some(found) = iam::find_by_name(&aws.iam, &name, "unifiedetl-dms").await? {
                if ours(own::ROLE, &name, &found.tags) {
                    s.role_arn = Value::Value(found.arn);
                }
            }
        }
        Ok(())
    }

    async fn refuses_destroy(&self, _d: &Destroying<'_>, _state: &PipelineState) -> Option<String> {
        None
    }

    async fn destroy(&self, d: &Destroying<'_>, state: &PipelineState) -> Vec<String> {
        match state.source() {
            Some(source) => destroy_source(d.aws, source, d.timeout).await,
            None => Vec::new(),
        }
    }
}

const IMPORT_KEYS: &[ImportKey] = &[
    ImportKey {
        key: "replication_subnet_group",
        what: "the DMS replication subnet group",
        kind: own::SUBNET_GROUP,
    },
    ImportKey {
        key: "replication_instance",
        what: "the DMS replication instance",
        kind: own::INSTANCE,
    },
    ImportKey {
        key: "source_endpoint",
        what: "the DMS MySQL endpoint",
        kind: own::ENDPOINT,
    },
    ImportKey {
        key: "target_endpoint",
        what: "the DMS Kinesis endpoint",
        kind: own::ENDPOINT,
    },
    ImportKey {
        key: "replication_task",
        what: "the DMS replication task",
        kind: own::TASK,
    },
    ImportKey {
        key: "dms_role",
        what: "the DMS IAM role",
        kind: own::ROLE,
    },
];

fn dms_default(name: &str, suffix: &str) -> String {
    format!("{}-{suffix}", name.to_ascii_lowercase().replace('_', "-"))
}

/// DMS: the task first (it names the instance and both endpoints), else each by its id.
async fn adopt_source(
    aws: &Aws,
    identity: &Identity,
    id: &ImportId,
    importing: &mut Importing<'_>,
) -> Result<Option<SourceBlock>, String> {
    let name = id.name.as_str();
    let task_id = id.get("replication_task", || dms_default(name, "cdc"));
    let instance_id = id.get("replication_instance", || dms_default(name, "dms"));
    let source_id = id.get("source_endpoint", || dms_default(name, "mysql"));
    let target_id = id.get("target_endpoint", || dms_default(name, "kinesis"));
    importing.note("DMS replication task", &task_id);
    importing.note("DMS replication instance", &instance_id);
    let (task, instance, mysql, target) = tokio::join!(
        dms::find_task_by_id(&aws.dms, &task_id),
        dms::find_instance_by_id(&aws.dms, &instance_id),
        dms::find_endpoint_by_id(&aws.dms, &source_id),
        dms::find_endpoint_by_id(&aws.dms, &target_id),
    );
    let (task, instance, mysql, target) = (
        task.map_err(err)?,
        instance.map_err(err)?,
        mysql.map_err(err)?,
        target.map_err(err)?,
    );
    if task.is_none() && instance.is_none() && mysql.is_none() && target.is_none() {
        return Ok(None);
    }
    if let Some(t) = &task {
        importing.owned("DMS replication task", &task_id, &t.tags)?;
    }
    if let Some(i) = &instance {
        importing.owned("DMS replication instance", &instance_id, &i.tags)?;
    }
    let mut s = SourceBlock {
        replication_instance_id: some(instance_id),
        source_endpoint_id: some(source_id),
        target_endpoint_id: some(target_id),
        replication_task_id: some(task_id),
        start_replication: some(true),
        ..SourceBlock::default()
    };
    if let Some(i) = &instance {
        s.replication_instance_arn = some(i.arn.clone());
        if !i.subnet_group.is_empty() && !i.subnet_group.starts_with("default") {
            s.replication_subnet_group_id = some(i.subnet_group.clone());
            if let Some(group) = dms::find_subnet_group_by_id(&aws.dms, identity, &i.subnet_group)
                .await
                .map_err(err)?
            {
                // A group the pipeline made from `subnet_ids` carries its tag.
                if group.tags.get(PIPELINE_TAG).map(String::as_str) == Some(name) {
                    s.subnet_ids = some(group.subnet_ids.iter().map(|v| text(v)).collect());
                }
            }
        }
        // Security groups stay unset: AWS reports the VPC's default group for an instance
        // given none, so they cannot be told apart (documented with import).
    }
    if let Some(dms::Endpoint {
        kind: EndpointKind::MySql(m),
        arn,
        ..
    }) = &mysql
    {
        s.source_endpoint_arn = some(arn.clone());
        s.port = m.port.map_or(Value::Null, |p| some(p as i64));
        s.database_name = m.database_name.clone().map_or(Value::Null, some);
        s.username = m.username.clone().map_or(Value::Null, some);
        s.server_name = m.server_name.clone().map_or(Value::Null, some);
    }
    if let Some(dms::Endpoint {
        kind: EndpointKind::Kinesis(k),
        arn,
        ..
    }) = &target
    {
        s.target_endpoint_arn = some(arn.clone());
        s.role_arn = some(k.role_arn.clone());
        s.role_name = some(
            id.components
                .get("dms_role")
                .cloned()
                .unwrap_or_else(|| arn_name(&k.role_arn)),
        );
        s.partition_key_type = text(if k.partition_include_schema_table {
            "primary-key"
        } else {
            "schema-table"
        });
    }
    if let Some(t) = &task {
        s.replication_task_arn = some(t.arn.clone());
        s.table_mappings =
            some(dms::normalize_json(&t.table_mappings).unwrap_or(t.table_mappings.clone()));
        if let Some(tables) = tables_of(&t.table_mappings, &s.partition_key_type) {
            s.tables = some(tables);
        }
    }
    Ok(Some(s))
}

/// The `tables` map whose generated mappings are exactly `mappings`, if there is one.
fn tables_of(
    mappings: &str,
    partition_key_type: &Str,
) -> Option<BTreeMap<String, Value<Vec<Value<String>>>>> {
    let doc: serde_json::Value = serde_json::from_str(mappings).ok()?;
    let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rule in doc["rules"].as_array()? {
        if rule["rule-type"] == "selection" {
            let schema = rule["object-locator"]["schema-name"].as_str()?;
            let table = rule["object-locator"]["table-name"].as_str()?;
            tables
                .entry(schema.to_string())
                .or_default()
                .push(table.to_string());
        }
    }
    let kind = partition_key_type.as_ref_option()?;
    if tables.is_empty() {
        return None;
    }
    dms::json_equal(&generated_table_mappings(&tables, kind), mappings).then(|| {
        tables
            .into_iter()
            .map(|(schema, names)| (schema, some(names.into_iter().map(some).collect())))
            .collect()
    })
}

/// DMS: a component gone shows as its ARN becoming "known after apply"; a setting changed out
/// of band shows on its attribute. The password is never returned by AWS, so never compared.
async fn refresh_source(aws: &Aws, s: &mut SourceBlock, cdc_arn: Option<&str>) -> AwsResult<()> {
    let by_id = |v: &Str| v.as_ref_option().cloned();
    // Every component at once (each is named in the state); then compared in order.
    let endpoint = |id: Option<String>| async move {
        match id {
            Some(id) => dms::describe_endpoint_by_id(&aws.dms, &id).await,
            None => Ok(None),
        }
    };
    let (role, instance, mysql, target, task) = tokio::join!(
        role_arn(aws, &s.role_name, &s.role_arn, "unifiedetl-dms"),
        async {
            match by_id(&s.replication_instance_id) {
                Some(id) => dms::describe_instance_by_id(&aws.dms, &id).await,
                None => Ok(None),
            }
        },
        endpoint(by_id(&s.source_endpoint_id)),
        endpoint(by_id(&s.target_endpoint_id)),
        async {
            match by_id(&s.replication_task_id) {
                Some(id) => dms::describe_task_by_id(&aws.dms, &id).await,
                None => Ok(None),
            }
        },
    );
    let (instance, mysql, target, task) = (instance?, mysql?, target?, task?);
    // The role the endpoint should name, by its name: a role that lacks the pipeline's policy
    // reads as a null ARN (to show the update), yet it is the same role.
    let role_named = s.role_name.as_ref_option().cloned();
    s.role_arn = role?;
    // The ARNs the components have: the task is compared with these, so a component that is
    // only to be updated (its ARN shown as null for that) does not make the task look replaced.
    let instance_seen = instance.as_ref().map(|i| i.arn.clone());
    let mysql_seen = mysql.as_ref().map(|e| e.arn.clone());
    let target_seen = target.as_ref().map(|e| e.arn.clone());
    match instance {
        None => s.replication_instance_arn = Value::Null,
        Some(i) => {
            s.replication_instance_class = some(i.class);
            s.allocated_storage = some(i.allocated_storage as i64);
            s.engine_version = some(i.engine_version);
            s.multi_az = some(i.multi_az);
            s.publicly_accessible = some(i.publicly_accessible);
            // Without a configured list AWS reports the VPC's default group: not managed then.
            if s.vpc_security_group_ids.is_value()
                && security_group_ids(s) != i.vpc_security_group_ids
            {
                s.vpc_security_group_ids =
                    some(i.vpc_security_group_ids.into_iter().map(some).collect());
            }
            if s.replication_instance_arn.as_ref_option() != Some(&i.arn) {
                s.replication_instance_arn = Value::Null;
            }
        }
    }
    match mysql {
        Some(dms::Endpoint {
            kind: EndpointKind::MySql(m),
            arn,
            ..
        }) => {
            let opt_text = |v: Option<String>| v.map_or(Value::Null, some);
            if s.server_name.is_value() || m.server_name.is_some() {
                s.server_name = opt_text(m.server_name);
            }
            if s.port.is_value() {
                s.port = m.port.map_or(Value::Null, |p| some(p as i64));
            }
            if s.database_name.is_value() || m.database_name.is_some() {
                s.database_name = opt_text(m.database_name);
            }
            if s.username.is_value() || m.username.is_some() {
                s.username = opt_text(m.username);
            }
            s.secrets_manager_secret_arn = opt_text(m.secret_arn);
            s.ssl_mode = some(m.ssl_mode);
            s.certificate_arn = opt_text(m.certificate_arn);
            if s.source_endpoint_arn.as_ref_option() != Some(&arn) {
                s.source_endpoint_arn = Value::Null;
            }
        }
        _ => s.source_endpoint_arn = Value::Null,
    }
    let wanted_schema_table =
        matches!(&s.partition_key_type, Value::Value(t) if t == "primary-key");
    match target {
        // Writing to another stream, with another role or another partitioning: an update.
        Some(dms::Endpoint {
            kind: EndpointKind::Kinesis(k),
            arn,
            ..
        }) if Some(k.stream_arn.as_str()) == cdc_arn
            && role_named
                .as_deref()
                .is_some_and(|name| k.role_arn.rsplit('/').next() == Some(name))
            && k.partition_include_schema_table == wanted_schema_table
            && s.target_endpoint_arn.as_ref_option() == Some(&arn) => {}
        _ => s.target_endpoint_arn = Value::Null,
    }
    match task {
        Some(t)
            if s.replication_task_arn.as_ref_option() == Some(&t.arn)
                && instance_seen.as_ref() == Some(&t.instance_arn)
                && mysql_seen.as_ref() == Some(&t.source_arn)
                && target_seen.as_ref() == Some(&t.target_arn) =>
        {
            s.migration_type = some(t.migration_type);
            let same_mappings = s
                .table_mappings
                .as_ref_option()
                .is_some_and(|m| dms::json_equal(m, &t.table_mappings));
            if !same_mappings {
                // Shown in the plan as jsonencode would write it, so the difference reads.
                s.table_mappings =
                    some(dms::normalize_json(&t.table_mappings).unwrap_or(t.table_mappings));
            }
            if let (Value::Value(given), Some(actual)) = (&s.task_settings, &t.settings) {
                if !dms::settings_match(given, actual) {
                    s.task_settings = some(dms::project_settings(given, actual));
                }
            }
            // A task meant to run that was stopped (or failed) out of band shows as not started.
            if matches!(s.start_replication, Value::Value(true))
                && matches!(t.status.as_str(), "stopped" | "failed" | "ready")
            {
                s.start_replication = some(false);
            }
        }
        _ => s.replication_task_arn = Value::Null,
    }
    Ok(())
}

/// The migration types a CDC pipeline can use (`full-load` stops once the rows are copied).
const MIGRATION_TYPES: [&str; 2] = ["full-load-and-cdc", "cdc"];

const SSL_MODES: [&str; 4] = ["require", "verify-ca", "verify-full", "none"];

const PARTITION_KEY_TYPES: [&str; 2] = ["primary-key", "schema-table"];

/// DMS identifiers are lowercase letters, digits and hyphens: the pipeline name with `_` as `-`.
fn dms_name(name: &Str, suffix: &str) -> Str {
    name.as_ref()
        .map(|n| format!("{}-{suffix}", n.to_ascii_lowercase().replace('_', "-")))
}

fn strings(list: &Strings) -> Option<Vec<String>> {
    list.as_ref_option().map(|l| {
        l.iter()
            .filter_map(|v| v.as_ref_option().cloned())
            .collect()
    })
}

pub fn validate_source(s: &SourceBlock, diags: &mut Diagnostics) {
    one_of(
        SOURCE,
        "migration_type",
        &s.migration_type,
        &MIGRATION_TYPES,
        diags,
    );
    if matches!(&s.migration_type, Value::Value(m) if m == "full-load") {
        diags.error(
            "invalid source.migration_type",
            "`source.migration_type = \"full-load\"` copies the rows once and stops: a CDC pipeline needs `full-load-and-cdc` (rows, then changes) or `cdc` (changes only)",
            path(SOURCE, "migration_type"),
        );
    }
    one_of(SOURCE, "ssl_mode", &s.ssl_mode, &SSL_MODES, diags);
    if matches!(&s.ssl_mode, Value::Value(m) if m.starts_with("verify-"))
        && s.certificate_arn.is_null()
    {
        diags.error(
            "missing source.certificate_arn",
            "`source.ssl_mode` verify-ca and verify-full check the server against a certificate: set `certificate_arn` to a DMS certificate, or use `ssl_mode = \"require\"`",
            path(SOURCE, "certificate_arn"),
        );
    }
    one_of(
        SOURCE,
        "partition_key_type",
        &s.partition_key_type,
        &PARTITION_KEY_TYPES,
        diags,
    );
    in_range(SOURCE, "port", &s.port, 1, 65535, diags);
    in_range(
        SOURCE,
        "allocated_storage",
        &s.allocated_storage,
        5,
        6144,
        diags,
    );

    // Credentials: a password (with host and user) or a Secrets Manager secret, not both.
    let secret = !s.secrets_manager_secret_arn.is_null();
    if s.password.is_value() && secret {
        diags.error(
            "invalid source.password",
            "`source.password` and `source.secrets_manager_secret_arn` are both set: DMS reads the credentials from one place. Remove one",
            path(SOURCE, "password"),
        );
    } else if s.password.is_null() && !secret {
        diags.error(
            "missing source.password",
            "the MySQL endpoint needs credentials: set `source.password` (with `server_name` and `username`; pass it from a variable marked sensitive), or `source.secrets_manager_secret_arn`",
            path(SOURCE, "password"),
        );
    }
    if !secret {
        for attr in ["server_name", "username"] {
            let value = if attr == "server_name" {
                &s.server_name
            } else {
                &s.username
            };
            if value.is_null() {
                diags.error(
                    format!("missing source.{attr}"),
                    format!(
                        "`source.{attr}` is required unless `secrets_manager_secret_arn` is set"
                    ),
                    path(SOURCE, attr),
                );
            }
        }
    }

    // The tables: a list per schema, or raw mappings, exactly one.
    match (&s.tables, &s.table_mappings) {
        (Value::Null, Value::Null) => diags.error(
            "missing source.tables",
            "say which tables DMS replicates: `tables = { orders = [\"order\", \"order_item\"] }`, or raw `table_mappings` JSON",
            path(SOURCE, "tables"),
        ),
        (Value::Value(_), Value::Value(_)) => diags.error(
            "invalid source.table_mappings",
            "`source.tables` and `source.table_mappings` are both set: the mappings are generated from `tables`. Remove one",
            path(SOURCE, "table_mappings"),
        ),
        (Value::Value(tables), _) => {
            let empty = tables.is_empty()
                || tables
                    .values()
                    .any(|t| matches!(t, Value::Value(list) if list.is_empty()));
            if empty {
                diags.error(
                    "invalid source.tables",
                    "`source.tables` must name at least one table per schema, e.g. `{ orders = [\"order\", \"order_item\"] }` (`%` matches every table)",
                    path(SOURCE, "tables"),
                );
            }
        }
        (_, Value::Value(raw)) => {
            if let Err(why) = check_table_mappings(raw) {
                diags.error(
                    "invalid source.table_mappings",
                    format!("`source.table_mappings` is not valid DMS table mappings: {why}"),
                    path(SOURCE, "table_mappings"),
                );
            }
        }
        _ => {}
    }
    if let Value::Value(raw) = &s.task_settings {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(raw);
        match parsed {
            Ok(serde_json::Value::Object(_)) => {}
            Ok(_) => diags.error(
                "invalid source.task_settings",
                "`source.task_settings` must be a JSON object, e.g. `jsonencode({ Logging = { EnableLogging = true } })`",
                path(SOURCE, "task_settings"),
            ),
            Err(e) => diags.error(
                "invalid source.task_settings",
                format!("`source.task_settings` is not JSON: {e}"),
                path(SOURCE, "task_settings"),
            ),
        }
    }
    for attr in [
        "replication_instance_id",
        "source_endpoint_id",
        "target_endpoint_id",
        "replication_task_id",
    ] {
        let value = match attr {
            "replication_instance_id" => &s.replication_instance_id,
            "source_endpoint_id" => &s.source_endpoint_id,
            "target_endpoint_id" => &s.target_endpoint_id,
            _ => &s.replication_task_id,
        };
        if let Value::Value(id) = value {
            let checked = if attr == "replication_instance_id" {
                dms::check_instance_identifier(id)
            } else {
                dms::check_identifier(id)
            };
            if let Err(why) = checked {
                diags.error(
                    format!("invalid source.{attr}"),
                    format!("`source.{attr}` \"{id}\" is not a DMS identifier: {why}"),
                    path(SOURCE, attr),
                );
            }
        }
    }
    name_like(
        SOURCE,
        "role_name",
        &s.role_name,
        64,
        "_+=,.@-",
        "an IAM role name",
        diags,
    );
}

/// Checks raw table mappings the way DMS will: JSON, a `rules` array, at least one selection
/// rule. Returns why not.
fn check_table_mappings(raw: &str) -> Result<(), String> {
    let doc: serde_json::Value = serde_json::from_str(raw).map_err(|e| format!("not JSON: {e}"))?;
    let rules = doc
        .get("rules")
        .and_then(|r| r.as_array())
        .ok_or("it needs a `rules` array")?;
    let selection = rules
        .iter()
        .any(|r| r.get("rule-type").and_then(|t| t.as_str()) == Some("selection"));
    if selection {
        Ok(())
    } else {
        Err("it needs at least one rule with `\"rule-type\": \"selection\"`".to_string())
    }
}

/// The table mappings for `tables`: a selection rule per table, and an object-mapping rule per
/// table that sets how its records are partitioned over the stream's shards.
pub fn generated_table_mappings(
    tables: &BTreeMap<String, Vec<String>>,
    partition_key_type: &str,
) -> String {
    let mut selections = Vec::new();
    let mut mappings = Vec::new();
    let mut id = 0;
    for (schema, names) in tables {
        for table in names {
            let locator = serde_json::json!({ "schema-name": schema, "table-name": table });
            id += 1;
            selections.push(serde_json::json!({
                "rule-type": "selection",
                "rule-id": id.to_string(),
                "rule-name": format!("include-{schema}-{table}"),
                "object-locator": locator,
                "rule-action": "include",
            }));
            mappings.push((locator, format!("partition-{schema}-{table}")));
        }
    }
    let mut rules = selections;
    for (locator, name) in mappings {
        id += 1;
        rules.push(serde_json::json!({
            "rule-type": "object-mapping",
            "rule-id": id.to_string(),
            "rule-name": name,
            "rule-action": "map-record-to-record",
            "object-locator": locator,
            "mapping-parameters": { "partition-key-type": partition_key_type },
        }));
    }
    serde_json::json!({ "rules": rules }).to_string()
}

pub fn plan_source(
    config: Option<&SourceBlock>,
    prior: Option<&SourceBlock>,
    name: &Str,
    diags: &mut Diagnostics,
) -> Option<SourceBlock> {
    let c = config?;
    // Identifiers derived from the pipeline name must be DMS identifiers too (a name starting
    // with a digit, or with `__`, is not): say which attribute to set instead.
    for (attr, configured, suffix) in [
        ("replication_instance_id", &c.replication_instance_id, "dms"),
        ("source_endpoint_id", &c.source_endpoint_id, "mysql"),
        ("target_endpoint_id", &c.target_endpoint_id, "kinesis"),
        ("replication_task_id", &c.replication_task_id, "cdc"),
    ] {
        if let (Value::Null, Value::Value(derived)) = (configured, dms_name(name, suffix)) {
            if let Err(why) = dms::check_identifier(&derived) {
                diags.error(
                    format!("invalid source.{attr}"),
                    format!("the default `source.{attr}` \"{derived}\", made from the pipeline name, is not a DMS identifier ({why}): set `{attr}` to one"),
                    path(SOURCE, attr),
                );
            }
        }
    }
    let subnets = c.subnet_ids.is_value();
    let replication_subnet_group_id = pick(
        &c.replication_subnet_group_id,
        if subnets {
            dms_name(name, "dms")
        } else {
            Value::Null
        },
    );
    let replication_instance_id = pick(&c.replication_instance_id, dms_name(name, "dms"));
    let source_endpoint_id = pick(&c.source_endpoint_id, dms_name(name, "mysql"));
    let target_endpoint_id = pick(&c.target_endpoint_id, dms_name(name, "kinesis"));
    let replication_task_id = pick(&c.replication_task_id, dms_name(name, "cdc"));
    let role_name = pick(&c.role_name, derive(name, "dms"));
    let partition_key_type = pick(&c.partition_key_type, text("primary-key"));
    let table_mappings = match (&c.table_mappings, &c.tables, &partition_key_type) {
        (Value::Null, Value::Value(tables), Value::Value(kind)) => {
            let mut known = BTreeMap::new();
            let mut unknown = false;
            for (schema, list) in tables {
                match list {
                    Value::Value(list) if list.iter().all(|t| t.is_value()) => {
                        known.insert(
                            schema.clone(),
                            list.iter()
                                .filter_map(|t| t.as_ref_option().cloned())
                                .collect(),
                        );
                    }
                    _ => unknown = true,
                }
            }
            if unknown {
                Value::Unknown
            } else {
                text(&generated_table_mappings(&known, kind))
            }
        }
        (Value::Null, Value::Null, _) => Value::Null,
        (Value::Null, _, _) => Value::Unknown,
        (given, _, _) => given.clone(),
    };
    // The instance keeps the engine version AWS chose while it is the same instance.
    let engine_version = match (&c.engine_version, prior) {
        (Value::Null, Some(p)) if p.replication_instance_id == replication_instance_id => {
            match &p.engine_version {
                Value::Value(v) => text(v),
                _ => Value::Unknown,
            }
        }
        (Value::Null, _) => Value::Unknown,
        (given, _) => given.clone(),
    };
    let server = c.server_name.is_value();
    let instance_kept = |p: &SourceBlock| {
        p.replication_instance_id == replication_instance_id
            && p.publicly_accessible == pick(&c.publicly_accessible, Value::Value(false))
            && p.replication_subnet_group_id == replication_subnet_group_id
    };
    let instance_arn = match prior {
        Some(p) if instance_kept(p) => keep(
            Some((&p.replication_instance_id, &p.replication_instance_arn)),
            &replication_instance_id,
        ),
        _ => Value::Unknown,
    };
    let source_endpoint_arn = keep(
        prior.map(|p| (&p.source_endpoint_id, &p.source_endpoint_arn)),
        &source_endpoint_id,
    );
    let target_endpoint_arn = keep(
        prior.map(|p| (&p.target_endpoint_id, &p.target_endpoint_arn)),
        &target_endpoint_id,
    );
    // A task cannot move to another instance or endpoint: it is recreated with them.
    let task_kept =
        instance_arn.is_value() && source_endpoint_arn.is_value() && target_endpoint_arn.is_value();
    Some(SourceBlock {
        server_name: c.server_name.clone(),
        port: if server {
            pick(&c.port, Value::Value(3306))
        } else {
            c.port
        },
        database_name: c.database_name.clone(),
        username: c.username.clone(),
        password: c.password.clone(),
        secrets_manager_secret_arn: c.secrets_manager_secret_arn.clone(),
        ssl_mode: pick(&c.ssl_mode, text("require")),
        certificate_arn: c.certificate_arn.clone(),
        subnet_ids: c.subnet_ids.clone(),
        replication_subnet_group_id,
        replication_instance_class: pick(&c.replication_instance_class, text("dms.t3.medium")),
        allocated_storage: pick(&c.allocated_storage, Value::Value(50)),
        engine_version,
        multi_az: pick(&c.multi_az, Value::Value(false)),
        publicly_accessible: pick(&c.publicly_accessible, Value::Value(false)),
        vpc_security_group_ids: c.vpc_security_group_ids.clone(),
        partition_key_type,
        migration_type: pick(&c.migration_type, text("full-load-and-cdc")),
        tables: c.tables.clone(),
        table_mappings,
        task_settings: c.task_settings.clone(),
        start_replication: pick(&c.start_replication, Value::Value(true)),
        role_arn: keep(prior.map(|p| (&p.role_name, &p.role_arn)), &role_name),
        role_name,
        replication_instance_arn: instance_arn,
        source_endpoint_arn,
        target_endpoint_arn,
        replication_task_arn: match prior {
            Some(p) if task_kept => keep(
                Some((&p.replication_task_id, &p.replication_task_arn)),
                &replication_task_id,
            ),
            _ => Value::Unknown,
        },
        replication_instance_id,
        source_endpoint_id,
        target_endpoint_id,
        replication_task_id,
    })
}

/// The subnet ids the configuration gives, for the subnet group the pipeline creates.
pub fn subnet_ids(s: &SourceBlock) -> Option<Vec<String>> {
    strings(&s.subnet_ids)
}

/// The security groups the configuration gives (order does not matter).
pub fn security_group_ids(s: &SourceBlock) -> Vec<String> {
    let mut ids = strings(&s.vpc_security_group_ids).unwrap_or_default();
    ids.sort();
    ids
}

/// The `source` block, fully known.
pub struct Source {
    pub role_name: String,
    pub secret_arn: Option<String>,
    pub subnet_group: Option<dms::SubnetGroupSpec>,
    pub instance: dms::InstanceSpec,
    pub mysql: EndpointSpec,
    /// The password differs from the one last applied (AWS never returns it to compare).
    pub password_changed: bool,
    pub target_id: String,
    pub partition_include_schema_table: bool,
    pub task_id: String,
    pub migration_type: String,
    pub table_mappings: String,
    pub task_settings: Option<String>,
    pub start: bool,
}

fn opt<T: Clone>(v: &Value<T>) -> Option<T> {
    v.as_ref_option().cloned()
}

impl Source {
    pub fn from_state(
        s: &SourceBlock,
        prior: Option<&SourceBlock>,
        tags: &BTreeMap<String, String>,
    ) -> Result<Source, String> {
        let at = |attr: &str| format!("source.{attr}");
        let subnet_group = match (subnet_ids(s), opt(&s.replication_subnet_group_id)) {
            (Some(subnets), Some(identifier)) => Some(dms::SubnetGroupSpec {
                identifier,
                description: "Managed by unifiedetl".to_string(),
                subnet_ids: subnets,
                tags: tags.clone(),
            }),
            _ => None,
        };
        let secret_arn = opt(&s.secrets_manager_secret_arn);
        Ok(Source {
            role_name: need(&s.role_name, &at("role_name"))?,
            subnet_group,
            instance: dms::InstanceSpec {
                identifier: need(&s.replication_instance_id, &at("replication_instance_id"))?,
                class: need(
                    &s.replication_instance_class,
                    &at("replication_instance_class"),
                )?,
                allocated_storage: need(&s.allocated_storage, &at("allocated_storage"))? as i32,
                engine_version: opt(&s.engine_version),
                multi_az: need(&s.multi_az, &at("multi_az"))?,
                publicly_accessible: need(&s.publicly_accessible, &at("publicly_accessible"))?,
                vpc_security_group_ids: security_group_ids(s),
                subnet_group: opt(&s.replication_subnet_group_id),
                tags: tags.clone(),
            },
            mysql: EndpointSpec {
                identifier: need(&s.source_endpoint_id, &at("source_endpoint_id"))?,
                kind: EndpointKind::MySql(MySqlSource {
                    server_name: opt(&s.server_name),
                    port: opt(&s.port).map(|p| p as i32),
                    database_name: opt(&s.database_name),
                    username: opt(&s.username),
                    password: opt(&s.password),
                    secret_arn: secret_arn.clone(),
                    // Filled in with the DMS role's ARN once it is known.
                    secret_role_arn: None,
                    ssl_mode: need(&s.ssl_mode, &at("ssl_mode"))?,
                    certificate_arn: opt(&s.certificate_arn),
                }),
                tags: tags.clone(),
            },
            password_changed: prior.is_some_and(|p| p.password != s.password),
            secret_arn,
            target_id: need(&s.target_endpoint_id, &at("target_endpoint_id"))?,
            partition_include_schema_table: need(&s.partition_key_type, &at("partition_key_type"))?
                == "primary-key",
            task_id: need(&s.replication_task_id, &at("replication_task_id"))?,
            migration_type: need(&s.migration_type, &at("migration_type"))?,
            table_mappings: need(&s.table_mappings, &at("table_mappings"))?,
            task_settings: opt(&s.task_settings),
            start: need(&s.start_replication, &at("start_replication"))?,
        })
    }
}

/// The DMS parts every later part builds on: the role, the instance, the MySQL endpoint.
#[derive(Clone)]
pub struct SourceReady {
    pub role_arn: String,
    pub instance_arn: String,
    pub engine_version: String,
    pub mysql_arn: String,
}

/// What the CDC stream's creation gave: its ARN, its error, or nothing when another branch
/// reports why it is missing.
pub type CdcArn = Option<AwsResult<String>>;

/// Every DMS part, each as soon as what it needs is up (no part waits for one it does not
/// use): the role, and the subnet group then the instance, at once; the MySQL endpoint (which
/// may read a secret) and the Kinesis endpoint after the role; the task after the instance,
/// both endpoints and the CDC stream (`cdc_arn`, shared with the rest of the pipeline), its
/// current state read meanwhile. The task is not attempted if the role, instance or MySQL
/// endpoint failed (those errors are in the first result), nor if the stream is missing.
#[allow(clippy::too_many_arguments)]
pub async fn converge_source(
    aws: &Aws,
    src: &Source,
    prior: Option<&SourceBlock>,
    cdc: &crate::aws::kinesis::StreamSpec,
    cdc_arn: impl std::future::Future<Output = CdcArn>,
    owner: &Owner,
    tags: &BTreeMap<String, String>,
    timeout: Duration,
) -> (AwsResult<SourceReady>, Option<AwsResult<SourceDone>>) {
    let role_ours = prior
        .is_some_and(|p| known(&p.role_arn) && p.role_name.as_ref_option() == Some(&src.role_name));
    // Reading a secret is done by DMS's regional principal.
    let mut services = vec!["dms.amazonaws.com".to_string()];
    if src.secret_arn.is_some() {
        services.push(format!("dms.{}.amazonaws.com", aws.region));
    }
    let role = Box::pin(ensure_service_role(
        aws,
        ServiceRole {
            name: &src.role_name,
            services,
            policy_name: "unifiedetl-dms",
        },
        |role_arn| {
            iam::dms_policy(&iam::DmsScope {
                partition: partition_of(role_arn),
                region: &aws.region,
                account: account_of(role_arn).unwrap_or_default(),
                stream_arn: &arn_in(aws, role_arn, "kinesis", &format!("stream/{}", cdc.name)),
                stream_kms_key: cdc.kms_key_id.as_deref(),
                secret_arn: src.secret_arn.as_deref(),
            })
        },
        role_ours,
        owner,
        tags,
    ))
    .shared();
    let instance = Box::pin(async {
        let group = async {
            if let Some(group) = &src.subnet_group {
                // Subnet groups are tagged by an ARN DMS never returns: it is built from the
                // caller's account.
                let identity = aws.identity().await?;
                let ours = prior.is_some_and(|p| {
                    p.replication_subnet_group_id.as_ref_option() == Some(&group.identifier)
                });
                let expect = Expect::from_ours(ours);
                match dms::find_subnet_group(&aws.dms, &identity, &group.identifier, expect).await?
                {
                    None => {
                        require_dms_vpc_role(
                            aws,
                            "creating DMS replication subnet group",
                            &group.identifier,
                        )
                        .await?;
                        dms::create_subnet_group(&aws.dms, &identity, group).await?;
                    }
                    Some(current) => {
                        dms::update_subnet_group(&aws.dms, &identity, &current, group).await?;
                    }
                }
            }
            AwsResult::Ok(())
        };
        // The instance is looked up while its subnet group is brought up: only creating or
        // changing the instance needs the group.
        let (group, found) = tokio::join!(
            group,
            dms::find_instance_by_id(&aws.dms, &src.instance.identifier)
        );
        group?;
        ensure_instance(aws, src, found?, prior, owner, timeout).await
    })
    .shared();
    // Modifying an endpoint stops the running task that uses it, then resumes it: the two
    // endpoints take turns, or the second would find the task stopping (DMS refuses to stop a
    // task that is not running) or resumed under it.
    let endpoint_turn = futures::lock::Mutex::new(());
    // Each endpoint is looked up while the role is brought up: the lookup needs only its
    // identifier, and the task waits for both endpoints.
    let mysql = Box::pin(async {
        let (role_arn, found) = tokio::join!(
            role.clone(),
            dms::find_endpoint_by_id(&aws.dms, &src.mysql.identifier)
        );
        let (role_arn, found) = (role_arn?, found?);
        let mut mysql = src.mysql.clone();
        if let EndpointKind::MySql(m) = &mut mysql.kind {
            if m.secret_arn.is_some() {
                m.secret_role_arn = Some(role_arn);
            }
        }
        let _turn = endpoint_turn.lock().await;
        ensure_endpoint(aws, &mysql, found, src.password_changed, owner, timeout).await
    })
    .shared();
    // The Kinesis endpoint names the stream by its ARN (built from the name: DMS does not look
    // at the stream before the task starts), so it does not wait for it. None when the role
    // failed (reported by it).
    let target = async {
        let (role_arn, found) = tokio::join!(
            role.clone(),
            dms::find_endpoint_by_id(&aws.dms, &src.target_id)
        );
        let role_arn = role_arn.ok()?;
        let target = EndpointSpec {
            identifier: src.target_id.clone(),
            kind: EndpointKind::Kinesis(KinesisTarget {
                stream_arn: arn_in(aws, &role_arn, "kinesis", &format!("stream/{}", cdc.name)),
                role_arn,
                partition_include_schema_table: src.partition_include_schema_table,
            }),
            tags: tags.clone(),
        };
        let _turn = endpoint_turn.lock().await;
        Some(match found {
            Ok(found) => ensure_endpoint(aws, &target, found, false, owner, timeout).await,
            Err(e) => Err(e),
        })
    };
    // The task starts replicating into the stream: it waits for the stream too. It is looked
    // up once both endpoints are done: modifying an endpoint stops and resumes the task, so a
    // lookup made meanwhile could find it stopped and start it under the endpoint's resume.
    let endpoints_then_task = async {
        let (target_arn, mysql_arn) = tokio::join!(target, mysql.clone());
        let current = dms::find_task_by_id(&aws.dms, &src.task_id).await;
        (target_arn, mysql_arn, current)
    };
    let task = async {
        let ((target_arn, mysql_arn, current), instance, stream) =
            tokio::join!(endpoints_then_task, instance.clone(), cdc_arn);
        let (Some(target_arn), Ok(instance), Ok(mysql_arn), Some(Ok(_))) =
            (target_arn, instance, mysql_arn, stream)
        else {
            return None;
        };
        Some(
            Box::pin(ensure_task(
                aws,
                src,
                TaskParts {
                    instance_arn: instance.arn,
                    mysql_arn,
                    target_arn,
                    current,
                },
                owner,
                tags,
                timeout,
            ))
            .await,
        )
    };
    let (role, instance, mysql, done) =
        tokio::join!(role.clone(), instance.clone(), mysql.clone(), task);
    let ready = (|| {
        let instance = instance?;
        Ok(SourceReady {
            role_arn: role?,
            instance_arn: instance.arn,
            engine_version: instance.engine_version,
            mysql_arn: mysql?,
        })
    })();
    (ready, done)
}

/// What the task is made from: the ARNs of the parts it joins (the Kinesis endpoint's as it
/// came out), and the task as it is now.
struct TaskParts {
    instance_arn: String,
    mysql_arn: String,
    target_arn: AwsResult<String>,
    current: AwsResult<Option<dms::Task>>,
}

async fn ensure_task(
    aws: &Aws,
    src: &Source,
    parts: TaskParts,
    owner: &Owner,
    tags: &BTreeMap<String, String>,
    timeout: Duration,
) -> AwsResult<SourceDone> {
    let target_arn = parts.target_arn?;
    let spec = TaskSpec {
        identifier: src.task_id.clone(),
        instance_arn: parts.instance_arn,
        source_arn: parts.mysql_arn,
        target_arn: target_arn.clone(),
        migration_type: src.migration_type.clone(),
        table_mappings: src.table_mappings.clone(),
        settings: src.task_settings.clone(),
        start: src.start,
        tags: tags.clone(),
    };
    let task = match parts.current? {
        None => dms::create_task(&aws.dms, &spec, timeout).await?,
        Some(current) => {
            owner.check(own::TASK, &spec.identifier, &current.tags)?;
            if dms::task_needs_replacement(&current, &spec) {
                dms::delete_task(&aws.dms, &current.arn, timeout).await?;
                dms::create_task(&aws.dms, &spec, timeout).await?
            } else {
                dms::update_task(&aws.dms, &current, &spec, timeout).await?
            }
        }
    };
    Ok(SourceDone {
        target_arn,
        task_arn: task.arn,
    })
}

/// Creates the replication instance, or brings `found` (the instance by that identifier, as
/// DMS described it) to the spec.
/// The role DMS manages its instances' network interfaces with: one per account, made by
/// the console when DMS is first used there, never by the API.
pub const DMS_VPC_ROLE: &str = "dms-vpc-role";

/// DMS refuses to create a subnet group or an instance without the account's `dms-vpc-role`
/// (AccessDeniedFault, the same error as while the role still propagates). Looked for first,
/// so that a missing role fails at once with the fix instead of after minutes of retries
/// that cannot cure it.
async fn require_dms_vpc_role(aws: &Aws, doing: &str, id: &str) -> AwsResult<()> {
    if iam::exists(&aws.iam, DMS_VPC_ROLE).await? {
        return Ok(());
    }
    Err(AwsError::other(format!(
        "{doing} ({id}): the account has no `{DMS_VPC_ROLE}` IAM role, which DMS needs to manage its instances' network (the DMS console makes it on first use; the API does not). Create it once per account, then apply again:\n  aws iam create-role --role-name {DMS_VPC_ROLE} --assume-role-policy-document '{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"Service\":\"dms.amazonaws.com\"}},\"Action\":\"sts:AssumeRole\"}}]}}'\n  aws iam attach-role-policy --role-name {DMS_VPC_ROLE} --policy-arn arn:aws:iam::aws:policy/service-role/AmazonDMSVPCManagementRole"
    )))
}

async fn ensure_instance(
    aws: &Aws,
    src: &Source,
    found: Option<dms::Instance>,
    prior: Option<&SourceBlock>,
    owner: &Owner,
    timeout: Duration,
) -> AwsResult<dms::Instance> {
    let spec = &src.instance;
    let ours = prior.is_some_and(|p| {
        known(&p.replication_instance_arn)
            && p.replication_instance_id.as_ref_option() == Some(&spec.identifier)
    });
    match found {
        None => {
            require_dms_vpc_role(aws, "creating DMS replication instance", &spec.identifier)
                .await?;
            dms::create_instance(&aws.dms, spec, timeout).await
        }
        Some(current) => {
            if !ours {
                owner.check(own::INSTANCE, &spec.identifier, &current.tags)?;
            }
            if dms::instance_needs_replacement(&current, spec) {
                // Its tasks go first (DMS refuses otherwise); the task is recreated on the
                // new instance by `finish_source`.
                delete_tasks_on(aws, &current.arn, timeout).await?;
                dms::delete_instance(&aws.dms, &current.arn, timeout).await?;
                dms::create_instance(&aws.dms, spec, timeout).await
            } else {
                dms::update_instance(&aws.dms, &current, spec, timeout).await
            }
        }
    }
}

async fn delete_tasks_on(aws: &Aws, instance_arn: &str, timeout: Duration) -> AwsResult<()> {
    for task in dms::find_tasks_by_instance(&aws.dms, instance_arn).await? {
        dms::delete_task(&aws.dms, &task.arn, timeout).await?;
    }
    Ok(())
}

/// Brings an endpoint to `spec`, given what its finder found (`found`).
async fn ensure_endpoint(
    aws: &Aws,
    spec: &EndpointSpec,
    found: Option<dms::Endpoint>,
    password_changed: bool,
    owner: &Owner,
    timeout: Duration,
) -> AwsResult<String> {
    match found {
        None => Ok(dms::create_endpoint(&aws.dms, spec).await?.arn),
        Some(current) => {
            owner.check(own::ENDPOINT, &spec.identifier, &current.tags)?;
            if dms::endpoint_differs(&current, spec) || password_changed {
                Ok(
                    dms::update_endpoint(&aws.dms, &current, spec, password_changed, timeout)
                        .await?
                        .arn,
                )
            } else {
                Ok(current.arn)
            }
        }
    }
}

/// What the Kinesis endpoint and the task came to.
pub struct SourceDone {
    pub target_arn: String,
    pub task_arn: String,
}

/// After a successful update: components the source no longer uses (renamed ones) go, the
/// task first.
pub async fn remove_replaced_source(
    aws: &Aws,
    prior: &SourceBlock,
    src: Option<&Source>,
    timeout: Duration,
) -> Vec<String> {
    let mut errors = Vec::new();
    let renamed = |old: &Value<String>, arn: &Value<String>, new: Option<&String>| match (
        old.as_ref_option(),
        arn.as_ref_option(),
    ) {
        (Some(old), Some(arn)) if Some(old) != new => Some(arn.clone()),
        _ => None,
    };
    if let Some(arn) = renamed(
        &prior.replication_task_id,
        &prior.replication_task_arn,
        src.map(|s| &s.task_id),
    ) {
        if let Err(e) = dms::delete_task(&aws.dms, &arn, timeout).await {
            errors.push(e.message);
        }
    }
    let endpoints = [
        renamed(
            &prior.source_endpoint_id,
            &prior.source_endpoint_arn,
            src.map(|s| &s.mysql.identifier),
        ),
        renamed(
            &prior.target_endpoint_id,
            &prior.target_endpoint_arn,
            src.map(|s| &s.target_id),
        ),
    ];
    for arn in endpoints.into_iter().flatten() {
        if let Err(e) = dms::delete_endpoint(&aws.dms, &arn, timeout).await {
            errors.push(e.message);
        }
    }
    if let Some(arn) = renamed(
        &prior.replication_instance_id,
        &prior.replication_instance_arn,
        src.map(|s| &s.instance.identifier),
    ) {
        if let Err(e) = dms::delete_instance(&aws.dms, &arn, timeout).await {
            errors.push(e.message);
        }
    }
    let managed_group = prior.subnet_ids.is_value();
    if let (true, Some(old)) = (
        managed_group,
        renamed(
            &prior.replication_subnet_group_id,
            &prior.replication_subnet_group_id,
            src.and_then(|s| s.subnet_group.as_ref().map(|g| &g.identifier)),
        ),
    ) {
        if let Err(e) = dms::delete_subnet_group(&aws.dms, &old).await {
            errors.push(e.message);
        }
    }
    if let Some(old) = prior.role_name.as_ref_option() {
        if known(&prior.role_arn) && src.map(|s| &s.role_name) != Some(old) {
            if let Err(e) = iam::delete(&aws.iam, old).await {
                errors.push(e.message);
            }
        }
    }
    errors
}

/// Deletes every DMS component the state knows: the task, then the endpoints and the instance,
/// then the subnet group the pipeline created and the role. Not-found is success.
pub async fn destroy_source(aws: &Aws, prior: &SourceBlock, timeout: Duration) -> Vec<String> {
    remove_replaced_source(aws, prior, None, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> SourceBlock {
        SourceBlock {
            server_name: text("db.example"),
            username: text("dms"),
            password: text("secret"),
            tables: Value::Value(BTreeMap::from([(
                "orders".to_string(),
                Value::Value(vec![text("order"), text("order_item")]),
            )])),
            ..SourceBlock::default()
        }
    }

    #[test]
    fn source_defaults_derive_dms_identifiers_and_generate_the_mappings() {
        let mut diags = Diagnostics::default();
        let p = plan_source(Some(&source()), None, &text("Orders_EU"), &mut diags).unwrap();
        assert!(diags.errors.is_empty());
        assert_eq!(p.replication_instance_id, text("orders-eu-dms"));
        assert_eq!(p.source_endpoint_id, text("orders-eu-mysql"));
        assert_eq!(p.target_endpoint_id, text("orders-eu-kinesis"));
        assert_eq!(p.replication_task_id, text("orders-eu-cdc"));
        assert_eq!(p.role_name, text("Orders_EU-dms"));
        assert_eq!(
            p.replication_subnet_group_id,
            Value::Null,
            "no subnets: no group"
        );
        assert_eq!(p.port, Value::Value(3306));
        assert_eq!(p.ssl_mode, text("require"));
        assert_eq!(p.migration_type, text("full-load-and-cdc"));
        assert_eq!(p.start_replication, Value::Value(true));
        assert!(p.engine_version.is_unknown(), "AWS picks it on create");
        assert!(p.replication_task_arn.is_unknown());
        let mappings = p.table_mappings.as_ref_option().unwrap();
        assert!(mappings.contains("\"order_item\""), "{mappings}");
    }

    #[test]
    fn a_name_that_makes_no_dms_identifier_asks_for_one() {
        let mut diags = Diagnostics::default();
        plan_source(Some(&source()), None, &text("9lives"), &mut diags);
        assert_eq!(diags.errors.len(), 4, "one per derived identifier");
        assert!(diags.errors[0]
            .detail
            .contains("set `replication_instance_id`"));
    }

    #[test]
    fn credentials_must_come_from_one_place() {
        let errors = |s: &SourceBlock| {
            let mut diags = Diagnostics::default();
            validate_source(s, &mut diags);
            diags
                .errors
                .into_iter()
                .map(|d| d.detail)
                .collect::<Vec<_>>()
        };
        assert!(errors(&source()).is_empty());
        let neither = SourceBlock {
            password: Value::Null,
            ..source()
        };
        assert!(errors(&neither)[0].contains("needs credentials"));
        let both = SourceBlock {
            secrets_manager_secret_arn: text("arn:aws:secretsmanager:us-east-1:1:secret:db"),
            ..source()
        };
        assert!(errors(&both)[0].contains("both set"));
        let secret_only = SourceBlock {
            server_name: Value::Null,
            username: Value::Null,
            password: Value::Null,
            secrets_manager_secret_arn: text("arn:aws:secretsmanager:us-east-1:1:secret:db"),
            ..source()
        };
        assert!(errors(&secret_only).is_empty());
    }

    #[test]
    fn generated_mappings_select_each_table_and_set_its_partitioning() {
        let tables = BTreeMap::from([(
            "orders".to_string(),
            vec!["order".to_string(), "order_item".to_string()],
        )]);
        let doc: serde_json::Value =
            serde_json::from_str(&generated_table_mappings(&tables, "primary-key")).unwrap();
        let rules = doc["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[0]["rule-type"], "selection");
        assert_eq!(rules[1]["object-locator"]["table-name"], "order_item");
        assert_eq!(
            rules[3]["mapping-parameters"]["partition-key-type"],
            "primary-key"
        );
        let ids: Vec<&str> = rules
            .iter()
            .map(|r| r["rule-id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["1", "2", "3", "4"], "rule ids are unique");
        assert!(check_table_mappings(&doc.to_string()).is_ok());
    }

    #[test]
    fn raw_mappings_must_have_a_selection_rule() {
        assert!(check_table_mappings("{\"rules\": [")
            .unwrap_err()
            .contains("not JSON"));
        assert!(check_table_mappings("{}").unwrap_err().contains("rules"));
        assert!(check_table_mappings("{\"rules\": []}")
            .unwrap_err()
            .contains("selection"));
    }

    #[test]
    fn generated_mappings_are_read_back_as_tables() {
        let tables = BTreeMap::from([(
            "orders".to_string(),
            vec!["order".to_string(), "order_item".to_string()],
        )]);
        let mappings = generated_table_mappings(&tables, "primary-key");
        let back = tables_of(&mappings, &text("primary-key")).unwrap();
        assert_eq!(
            back["orders"],
            some(vec![text("order"), text("order_item")])
        );
        // Hand-written mappings (a transformation rule, say) stay as mappings.
        assert!(tables_of(r#"{"rules":[]}"#, &text("primary-key")).is_none());
        assert_eq!(arn_name("arn:aws:iam::1:role/orders-dms"), "orders-dms");
        assert_eq!(arn_name("arn:aws:s3:::bucket"), "bucket");
    }
}
