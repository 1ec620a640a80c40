//! Plan-time logic of the `source` (DMS) block: validation with attribute paths, defaults, the
//! table mappings generated from `tables`; and the timeouts.

use std::collections::BTreeMap;
use std::time::Duration;

use tf_provider::value::Value;
use tf_provider::Diagnostics;

use super::state::{SourceBlock, Str, Strings, TimeoutsBlock};
use super::values::{derive, in_range, keep, name_like, one_of, path, pick, text};
use crate::aws::dms;

const SOURCE: &str = "source";

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

/// How long each lifecycle step may wait.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub create: Duration,
    pub update: Duration,
    pub delete: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            create: Duration::from_secs(60 * 60),
            update: Duration::from_secs(60 * 60),
            delete: Duration::from_secs(40 * 60),
        }
    }
}

/// Go-style durations as Terraform users write them (`40m`, `1h30m`, `90s`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| e.to_string())
        .and_then(|d| {
            if d.is_zero() {
                Err("it must be longer than zero".to_string())
            } else {
                Ok(d)
            }
        })
}

/// The timeouts from the `timeouts` block; invalid values are reported by [`validate_timeouts`]
/// and fall back to the defaults here.
pub fn timeouts(t: &TimeoutsBlock) -> Timeouts {
    let defaults = Timeouts::default();
    let get = |v: &Str, default: Duration| {
        v.as_ref_option()
            .and_then(|s| parse_duration(s).ok())
            .unwrap_or(default)
    };
    Timeouts {
        create: get(&t.create, defaults.create),
        update: get(&t.update, defaults.update),
        delete: get(&t.delete, defaults.delete),
    }
}

pub fn validate_timeouts(t: &TimeoutsBlock, diags: &mut Diagnostics) {
    for (attr, value) in [
        ("create", &t.create),
        ("update", &t.update),
        ("delete", &t.delete),
    ] {
        if let Value::Value(text) = value {
            if let Err(why) = parse_duration(text) {
                diags.error(
                    format!("invalid timeouts.{attr}"),
                    format!("`timeouts.{attr}` \"{text}\" is not a duration ({why}): write it like `40m` or `1h30m`"),
                    path("timeouts", attr),
                );
            }
        }
    }
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
    fn timeouts_read_go_style_durations() {
        let t = timeouts(&TimeoutsBlock {
            create: text("1h30m"),
            update: text("45m"),
            delete: Value::Null,
        });
        assert_eq!(t.create, Duration::from_secs(5400));
        assert_eq!(t.update, Duration::from_secs(2700));
        assert_eq!(t.delete, Timeouts::default().delete);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
