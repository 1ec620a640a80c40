//! Apply-time orchestration of the `source` (DMS) and `data_lake` (Firehose) blocks.
//!
//! ```text
//!   DMS role ─┬─▶ MySQL endpoint ───┐
//!             └─▶ Kinesis endpoint ─┤
//!   subnet group ─▶ instance ───────┼─▶ replication task (started)
//!   cdc stream ─────────────────────┘
//!   Firehose role, lake bucket ─┬─▶ delivery stream
//!   cdc stream ─────────────────┘
//! ```
//! Each part starts as soon as the parts it needs are up ([`converge_source`]): the slow
//! replication instance is created while the streams and endpoints are. The lake is split in a
//! part that needs nothing else of the pipeline ([`prepare_lake`]: role, bucket) and one that
//! needs the CDC stream ([`finish_lake`]).

use std::collections::BTreeMap;
use std::time::Duration;

use tf_provider::value::Value;

use super::owner::{self as own, Adopted, Owner};
use super::roles::{ensure_service_role, ServiceRole};
use super::source_lake::{default_lake_bucket, security_group_ids, subnet_ids};
use super::state::{DataLakeBlock, PipelineState, SourceBlock};
use super::values::{known, need};
use futures::FutureExt;

use crate::aws::{account_of, partition_of, Aws, AwsError, AwsResult, Expect};
use crate::dms::{self, EndpointKind, EndpointSpec, KinesisTarget, MySqlSource, TaskSpec};
use crate::firehose::{self, DeliveryStreamSpec};
use crate::iam;
use crate::s3::{self, BucketSpec};

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

/// The `data_lake` block, fully known.
pub struct Lake {
    pub role_name: String,
    pub bucket: String,
    pub bucket_arn: String,
    /// The pipeline created the bucket (none was named), so it also deletes it.
    pub bucket_managed: bool,
    pub delivery_stream: String,
    pub prefix: String,
    pub error_prefix: String,
    pub buffering_size_mb: i32,
    pub buffering_interval_seconds: i32,
    pub compression: String,
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

impl Lake {
    pub fn from_state(l: &DataLakeBlock, bucket_managed: bool) -> Result<Lake, String> {
        let at = |attr: &str| format!("data_lake.{attr}");
        Ok(Lake {
            role_name: need(&l.role_name, &at("role_name"))?,
            bucket: need(&l.bucket, &at("bucket"))?,
            bucket_arn: need(&l.bucket_arn, &at("bucket_arn"))?,
            bucket_managed,
            delivery_stream: need(&l.delivery_stream_name, &at("delivery_stream_name"))?,
            prefix: need(&l.prefix, &at("prefix"))?,
            error_prefix: need(&l.error_prefix, &at("error_prefix"))?,
            buffering_size_mb: need(&l.buffering_size_mb, &at("buffering_size_mb"))? as i32,
            buffering_interval_seconds: need(
                &l.buffering_interval_seconds,
                &at("buffering_interval_seconds"),
            )? as i32,
            compression: need(&l.compression, &at("compression"))?,
        })
    }
}

/// The ARN of a resource of this account and region, from a role's ARN (which carries the
/// account and partition).
fn arn_in(aws: &Aws, role_arn: &str, service: &str, resource: &str) -> String {
    format!(
        "arn:{}:{service}:{}:{}:{resource}",
        partition_of(role_arn),
        aws.region,
        account_of(role_arn).unwrap_or_default()
    )
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
    cdc: &crate::kinesis::StreamSpec,
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
    // The task starts replicating into the stream: it waits for the stream too.
    let task = async {
        let (target_arn, instance, mysql_arn, stream, current) = tokio::join!(
            target,
            instance.clone(),
            mysql.clone(),
            cdc_arn,
            dms::find_task_by_id(&aws.dms, &src.task_id)
        );
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

/// What [`prepare_lake`] brought up: the role's ARN.
pub async fn prepare_lake(
    aws: &Aws,
    lake: &Lake,
    prior: Option<&DataLakeBlock>,
    cdc: &crate::kinesis::StreamSpec,
    owner: &Owner,
    tags: &BTreeMap<String, String>,
) -> AwsResult<String> {
    let role_ours = prior.is_some_and(|p| {
        known(&p.role_arn) && p.role_name.as_ref_option() == Some(&lake.role_name)
    });
    let bucket_ours = prior
        .is_some_and(|p| known(&p.bucket_arn) && p.bucket.as_ref_option() == Some(&lake.bucket));
    let role = ensure_service_role(
        aws,
        ServiceRole {
            name: &lake.role_name,
            services: vec!["firehose.amazonaws.com".to_string()],
            policy_name: "unifiedetl-firehose",
        },
        |role_arn| {
            iam::firehose_policy(&iam::FirehoseScope {
                partition: partition_of(role_arn),
                region: &aws.region,
                account: account_of(role_arn).unwrap_or_default(),
                stream_arn: &arn_in(aws, role_arn, "kinesis", &format!("stream/{}", cdc.name)),
                stream_kms_key: cdc.kms_key_id.as_deref(),
                bucket_arn: &lake.bucket_arn,
                prefix: &lake.prefix,
                error_prefix: &lake.error_prefix,
            })
        },
        role_ours,
        owner,
        tags,
    );
    let bucket = async {
        let expect = Expect::from_ours(bucket_ours || !lake.bucket_managed);
        let found = s3::find(&aws.s3, &lake.bucket, expect).await?;
        if !lake.bucket_managed {
            return match found {
                Some(_) => Ok(()),
                None => Err(AwsError::other(format!(
                    "the lake bucket ({}) named by `data_lake.bucket` does not exist: create it, or leave the attribute unset for the pipeline to create one",
                    lake.bucket
                ))),
            };
        }
        let spec = BucketSpec {
            name: lake.bucket.clone(),
            region: aws.region.clone(),
            tags: tags.clone(),
        };
        match found {
            None => s3::create(&aws.s3, &spec).await.map(|_| ()),
            Some(current) => {
                if !bucket_ours {
                    owner.check(own::BUCKET, &spec.name, &current.tags)?;
                }
                s3::update(&aws.s3, &current, &spec).await.map(|_| ())
            }
        }
    };
    let (role, bucket) = tokio::join!(role, bucket);
    bucket?;
    role
}

/// The delivery stream from the (now existing) CDC stream into the lake bucket.
#[allow(clippy::too_many_arguments)]
pub async fn finish_lake(
    aws: &Aws,
    lake: &Lake,
    prior: Option<&DataLakeBlock>,
    role_arn: &str,
    cdc_arn: &str,
    owner: &Owner,
    tags: &BTreeMap<String, String>,
    timeout: Duration,
) -> AwsResult<String> {
    let spec = DeliveryStreamSpec {
        name: lake.delivery_stream.clone(),
        source_stream_arn: cdc_arn.to_string(),
        role_arn: role_arn.to_string(),
        bucket_arn: lake.bucket_arn.clone(),
        prefix: lake.prefix.clone(),
        error_prefix: lake.error_prefix.clone(),
        buffering_size_mb: lake.buffering_size_mb,
        buffering_interval_seconds: lake.buffering_interval_seconds,
        compression: lake.compression.clone(),
        tags: tags.clone(),
    };
    let ours = prior.is_some_and(|p| {
        known(&p.delivery_stream_arn)
            && p.delivery_stream_name.as_ref_option() == Some(&lake.delivery_stream)
    });
    let stream = match firehose::find(&aws.firehose, &spec.name, Expect::from_ours(ours)).await? {
        None => firehose::create(&aws.firehose, &spec, timeout).await?,
        Some(current) => {
            owner.check(own::DELIVERY_STREAM, &spec.name, &current.tags)?;
            if firehose::needs_replacement(&current, &spec) {
                firehose::delete(&aws.firehose, &spec.name, timeout).await?;
                firehose::create(&aws.firehose, &spec, timeout).await?
            } else if firehose::differs(&current, &spec) {
                firehose::update(&aws.firehose, &current, &spec, timeout).await?
            } else {
                current
            }
        }
    };
    Ok(stream.arn)
}

/// Deletes the lake's delivery stream (first: it reads the CDC stream), role, and the bucket
/// when the pipeline created it. A bucket that holds objects stops here unless `force_destroy`:
/// checked by [`lake_blocks_destroy`] before anything is deleted. `renamed_only`: after an
/// update, only what the new configuration no longer names.
pub async fn destroy_lake(
    aws: &Aws,
    prior: &DataLakeBlock,
    now: Option<&Lake>,
    managed_bucket: bool,
    timeout: Duration,
) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(name) = prior.delivery_stream_name.as_ref_option() {
        if known(&prior.delivery_stream_arn) && now.map(|l| &l.delivery_stream) != Some(name) {
            if let Err(e) = firehose::delete(&aws.firehose, name, timeout).await {
                errors.push(e.message);
            }
        }
    }
    if let Some(name) = prior.role_name.as_ref_option() {
        if known(&prior.role_arn) && now.map(|l| &l.role_name) != Some(name) {
            if let Err(e) = iam::delete(&aws.iam, name).await {
                errors.push(e.message);
            }
        }
    }
    if let Some(bucket) = prior.bucket.as_ref_option() {
        if managed_bucket && known(&prior.bucket_arn) && now.map(|l| &l.bucket) != Some(bucket) {
            let force = matches!(prior.force_destroy, Value::Value(true));
            if let Err(e) = s3::delete(&aws.s3, bucket, force).await {
                errors.push(e.message);
            }
        }
    }
    errors
}

/// Whether the pipeline created the lake bucket it names (the default name).
pub fn lake_bucket_managed(
    state: &PipelineState,
    lake: &DataLakeBlock,
    account: &str,
    adopted: &Adopted,
) -> bool {
    match (&state.name, &lake.bucket) {
        (Value::Value(name), Value::Value(bucket)) => {
            *bucket == default_lake_bucket(name, account) || adopted.contains(own::BUCKET, bucket)
        }
        _ => false,
    }
}

/// A lake bucket the pipeline created that still holds objects stops the destroy (nothing is
/// deleted), unless `force_destroy` allows emptying it.
pub async fn lake_blocks_destroy(
    aws: &Aws,
    state: &PipelineState,
    account: &str,
    adopted: &Adopted,
) -> Option<String> {
    let lake = state.data_lake()?;
    if !lake_bucket_managed(state, lake, account, adopted)
        || !known(&lake.bucket_arn)
        || matches!(lake.force_destroy, Value::Value(true))
    {
        return None;
    }
    let bucket = lake.bucket.as_ref_option()?;
    match s3::holds_objects(&aws.s3, bucket).await {
        Ok(false) => None,
        Ok(true) => Some(format!(
            "deleting S3 bucket ({bucket}): the lake bucket still holds objects (the pipeline's CDC history): copy what you need, or set `data_lake.force_destroy = true` to delete them with the bucket; nothing was deleted"
        )),
        Err(e) => Some(e.message),
    }
}
