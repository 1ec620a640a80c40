//! Apply-time orchestration of the `source` (DMS) block.
//!
//! ```text
//!   DMS role ─┬─▶ MySQL endpoint ───┐
//!             └─▶ Kinesis endpoint ─┤
//!   subnet group ─▶ instance ───────┼─▶ replication task (started)
//!   cdc stream ─────────────────────┘
//! ```
//! Each part starts as soon as the parts it needs are up ([`converge_source`]): the slow
//! replication instance is created while the streams and endpoints are. (The `data_lake`
//! block is `lake.rs`.)

use std::collections::BTreeMap;
use std::time::Duration;

use tf_provider::value::Value;

use super::owner::{self as own, Owner};
use super::roles::{arn_in, ensure_service_role, ServiceRole};
use super::source_lake::{security_group_ids, subnet_ids};
use super::state::SourceBlock;
use super::values::{known, need};
use futures::FutureExt;

use crate::aws::dms::{self, EndpointKind, EndpointSpec, KinesisTarget, MySqlSource, TaskSpec};
use crate::aws::iam;
use crate::aws::{account_of, partition_of, Aws, AwsError, AwsResult, Expect};

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
