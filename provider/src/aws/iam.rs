//! IAM roles for the pipeline's services: one role per service, trusted by that service only,
//! with one inline policy scoped to this pipeline's own ARNs.
//!
//! IAM is eventually consistent: a role that was just created may not be assumable for some
//! seconds, which the callers handle with [`crate::wait::retry_while`].

use std::collections::BTreeMap;

use aws_sdk_iam::types::Tag;
use aws_sdk_iam::Client;
use serde_json::{json, Value as Json};

use crate::aws::tags::{tag_diff, TagDiff};
use crate::aws::{context, found, gone, AwsError, AwsResult, Expect};

/// What errors call this service's component.
const COMPONENT: &str = "IAM role";

/// The settings a role should have.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleSpec {
    pub name: String,
    /// The principals of the one service allowed to assume the role, e.g.
    /// `lambda.amazonaws.com` (DMS also needs its regional principal to read a secret).
    pub services: Vec<String>,
    pub policy_name: String,
    pub policy: Json,
    pub tags: BTreeMap<String, String>,
}

/// A role as AWS reports it, with the inline policy the pipeline manages.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: String,
    pub arn: String,
    pub trust: Option<Json>,
    pub policy: Option<Json>,
    pub tags: BTreeMap<String, String>,
}

/// The trust policy that lets exactly one AWS service assume a role.
pub fn trust_policy(services: &[String]) -> Json {
    let service = match services {
        [one] => json!(one),
        many => json!(many),
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": service },
            "Action": "sts:AssumeRole"
        }]
    })
}

/// Describes the role `name` and its inline policy `policy_name`; `None` if the role is gone.
pub async fn find_by_name(
    client: &Client,
    name: &str,
    policy_name: &str,
) -> AwsResult<Option<Role>> {
    find(client, name, policy_name, Expect::Present).await
}

/// Whether a role named `name` exists (GetRole).
pub async fn exists(client: &Client, name: &str) -> AwsResult<bool> {
    Ok(found(
        client
            .get_role()
            .role_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(AwsError::from),
    )?
    .is_some())
}

/// [`find_by_name`], spending calls as `expect` says.
pub async fn find(
    client: &Client,
    name: &str,
    policy_name: &str,
    expect: Expect,
) -> AwsResult<Option<Role>> {
    let get_role = || async { client.get_role().role_name(name).send().await };
    let get_policy = || async {
        client
            .get_role_policy()
            .role_name(name)
            .policy_name(policy_name)
            .send()
            .await
    };
    let (role, policy) = match expect {
        // Both calls need only the names: asked at once.
        Expect::Present => {
            let (role, policy) = tokio::join!(get_role(), get_policy());
            (found(role.map_err(AwsError::from))?, policy)
        }
        Expect::Absent => match found(get_role().await.map_err(AwsError::from))? {
            None => return Ok(None),
            role => (role, get_policy().await),
        },
    };
    let Some(role) = role.and_then(|o| o.role) else {
        return Ok(None);
    };
    let policy = policy.map_err(AwsError::from);
    let policy = found(policy)?.and_then(|p| decode_document(&p.policy_document));
    Ok(Some(Role {
        name: role.role_name.clone(),
        arn: role.arn.clone(),
        trust: role.assume_role_policy_document().and_then(decode_document),
        policy,
        tags: role
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
    }))
}

/// Whether the role `name` exists with its inline policy `policy_name` (GetRolePolicy: IAM
/// answers NoSuchEntity alike for a missing role and a missing policy).
pub async fn has_policy(client: &Client, name: &str, policy_name: &str) -> AwsResult<bool> {
    let out = client
        .get_role_policy()
        .role_name(name)
        .policy_name(policy_name)
        .send()
        .await
        .map_err(AwsError::from);
    Ok(found(out)?.is_some())
}

/// IAM returns policy documents URL-encoded.
fn decode_document(raw: &str) -> Option<Json> {
    let text = urlencoding::decode(raw)
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| raw.to_string());
    serde_json::from_str(&text).ok()
}

fn iam_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("key and value are set")
        })
        .collect()
}

/// Creates the role with its trust policy, tags and inline policy.
pub async fn create(client: &Client, spec: &RoleSpec) -> AwsResult<Role> {
    let err = |e: AwsError| context("creating", COMPONENT, &spec.name, e);
    let tags = iam_tags(&spec.tags);
    let out = client
        .create_role()
        .role_name(&spec.name)
        .assume_role_policy_document(trust_policy(&spec.services).to_string())
        .description("Managed by unifiedetl")
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .map_err(|e| err(e.into()))?;
    let arn = out.role.map(|r| r.arn).unwrap_or_default();
    // A null policy means the caller puts it once the role's ARN (and so the account) is known.
    if !spec.policy.is_null() {
        put_policy(client, spec).await.map_err(err)?;
    }
    Ok(Role {
        name: spec.name.clone(),
        arn,
        trust: Some(trust_policy(&spec.services)),
        policy: (!spec.policy.is_null()).then(|| spec.policy.clone()),
        tags: spec.tags.clone(),
    })
}

async fn put_policy(client: &Client, spec: &RoleSpec) -> AwsResult<()> {
    client
        .put_role_policy()
        .role_name(&spec.name)
        .policy_name(&spec.policy_name)
        .policy_document(spec.policy.to_string())
        .send()
        .await?;
    Ok(())
}

/// Brings an existing role to `spec`: trust policy, inline policy and tags.
pub async fn update(client: &Client, current: &Role, spec: &RoleSpec) -> AwsResult<Role> {
    let err = |e: AwsError| context("updating", COMPONENT, &spec.name, e);
    let trust = trust_policy(&spec.services);
    if current.trust.as_ref() != Some(&trust) {
        client
            .update_assume_role_policy()
            .role_name(&spec.name)
            .policy_document(trust.to_string())
            .send()
            .await
            .map_err(|e| err(e.into()))?;
    }
    if current.policy.as_ref() != Some(&spec.policy) {
        put_policy(client, spec).await.map_err(err)?;
    }
    let TagDiff { set, remove } = tag_diff(&current.tags, &spec.tags);
    if !remove.is_empty() {
        client
            .untag_role()
            .role_name(&spec.name)
            .set_tag_keys(Some(remove))
            .send()
            .await
            .map_err(|e| err(e.into()))?;
    }
    if !set.is_empty() {
        client
            .tag_role()
            .role_name(&spec.name)
            .set_tags(Some(iam_tags(&set)))
            .send()
            .await
            .map_err(|e| err(e.into()))?;
    }
    Ok(Role {
        trust: Some(trust),
        policy: Some(spec.policy.clone()),
        tags: spec.tags.clone(),
        ..current.clone()
    })
}

/// The policies the role `name` carries besides its inline policy `own`: inline policy names,
/// then the ARNs of attached managed policies.
pub async fn other_policies(client: &Client, name: &str, own: &str) -> AwsResult<Vec<String>> {
    let (inline, attached) = tokio::join!(
        client.list_role_policies().role_name(name).send(),
        client.list_attached_role_policies().role_name(name).send(),
    );
    let err = |e: AwsError| context("reading the policies of", COMPONENT, name, e);
    let mut others: Vec<String> = inline
        .map_err(|e| err(e.into()))?
        .policy_names()
        .iter()
        .filter(|p| p.as_str() != own)
        .cloned()
        .collect();
    others.extend(
        attached
            .map_err(|e| err(e.into()))?
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string)),
    );
    Ok(others)
}

/// Deletes the role after its inline and attached policies (IAM refuses otherwise).
pub async fn delete(client: &Client, name: &str) -> AwsResult<()> {
    let err = |e: AwsError| context("deleting", COMPONENT, name, e);
    let result: AwsResult<()> = async {
        let inline = client.list_role_policies().role_name(name).send().await?;
        for policy in inline.policy_names() {
            gone(
                client
                    .delete_role_policy()
                    .role_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(AwsError::from),
            )?;
        }
        let attached = client
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await?;
        for policy in attached.attached_policies() {
            if let Some(arn) = policy.policy_arn() {
                gone(
                    client
                        .detach_role_policy()
                        .role_name(name)
                        .policy_arn(arn)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(AwsError::from),
                )?;
            }
        }
        client.delete_role().role_name(name).send().await?;
        Ok(())
    }
    .await;
    gone(result).map_err(err)
}

/// What the persist function's policy is scoped to: the pipeline's own ARNs.
pub struct PersistScope<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub function_name: &'a str,
    pub stream_arn: &'a str,
    pub table_arn: &'a str,
    pub stream_kms_key: Option<&'a str>,
    pub dead_letter_bucket_arn: &'a str,
    pub dead_letter_prefix: &'a str,
    /// With the analytics engine: its state table and reference bucket.
    pub engine: Option<EngineScope<'a>>,
}

/// What the analytics engine adds to the function's scope.
#[derive(Clone, Copy)]
pub struct EngineScope<'a> {
    pub state_table_arn: &'a str,
    pub reference_bucket_arn: &'a str,
    /// The enriched stream, when the engine publishes its rows there.
    pub publish_to: Option<&'a str>,
    /// The enriched stream's KMS key (id, ARN or alias), if it is encrypted.
    pub publish_kms_key: Option<&'a str>,
}

/// The function's least-privilege policy: read exactly its source stream (the enriched one, or
/// the CDC one with the analytics engine), write
/// exactly the sink table, log to exactly its own log group, and write dead letters under
/// exactly its prefix.
pub fn persist_policy(scope: &PersistScope) -> Json {
    let PersistScope {
        partition,
        region,
        account,
        function_name,
        stream_arn,
        table_arn,
        stream_kms_key,
        dead_letter_bucket_arn: bucket_arn,
        dead_letter_prefix: prefix,
        engine,
    } = *scope;
    let log_group =
        format!("arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/{function_name}");
    let mut statements = vec![
        json!({
            "Sid": "ReadSourceStream",
            "Effect": "Allow",
            "Action": [
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
                "kinesis:SubscribeToShard"
            ],
            "Resource": stream_arn
        }),
        json!({
            "Sid": "WriteSinkTable",
            "Effect": "Allow",
            "Action": ["dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:DescribeTable"],
            "Resource": table_arn
        }),
        json!({
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_group.clone(), format!("{log_group}:*")]
        }),
        // The function writes dead letters under the prefix; the event source mapping's S3
        // on-failure destination writes failed batches under `aws/lambda/` and must be able to
        // list the bucket.
        json!({
            "Sid": "WriteDeadLetters",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": [format!("{bucket_arn}/{prefix}*"), format!("{bucket_arn}/aws/lambda/*")]
        }),
        json!({
            "Sid": "ListDeadLetterBucket",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn
        }),
    ];
    if let Some(engine) = engine {
        // Transactions need the item-level action of each of their parts.
        statements.push(json!({
            "Sid": "EngineWritesSink",
            "Effect": "Allow",
            "Action": ["dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"],
            "Resource": table_arn
        }));
        statements.push(json!({
            "Sid": "EngineState",
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"],
            "Resource": engine.state_table_arn
        }));
        statements.push(json!({
            "Sid": "ReadReferenceData",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": format!("{}/reference/*", engine.reference_bucket_arn)
        }));
        if let Some(stream) = engine.publish_to {
            statements.push(json!({
                "Sid": "PublishEnrichedRows",
                "Effect": "Allow",
                "Action": ["kinesis:PutRecords", "kinesis:PutRecord"],
                "Resource": stream
            }));
        }
    }
    // A customer-managed key must be usable by the function: to read the encrypted source
    // stream, and to write to the enriched stream when the engine publishes there.
    let customer_key = |key| customer_key_arn(partition, region, account, key);
    if let Some(key) = customer_key(stream_kms_key) {
        statements.push(json!({
            "Sid": "DecryptSourceStream",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": key
        }));
    }
    if let Some(key) = engine
        .filter(|e| e.publish_to.is_some())
        .and_then(|e| customer_key(e.publish_kms_key))
    {
        statements.push(json!({
            "Sid": "EncryptEnrichedStream",
            "Effect": "Allow",
            "Action": "kms:GenerateDataKey",
            "Resource": key
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// The KMS key ARN a customer-managed stream key (id, ARN, alias name or alias ARN) needs a
/// grant on; `None` for no key or the AWS-managed `alias/aws/kinesis`, which needs none.
fn customer_key_arn(
    partition: &str,
    region: &str,
    account: &str,
    key: Option<&str>,
) -> Option<String> {
    let key = key.filter(|k| *k != "alias/aws/kinesis")?;
    Some(if key.starts_with("arn:") {
        key.to_string()
    } else if key.starts_with("alias/") {
        format!("arn:{partition}:kms:{region}:{account}:{key}")
    } else {
        format!("arn:{partition}:kms:{region}:{account}:key/{key}")
    })
}

/// What the DMS role is scoped to: the CDC stream it writes, and the secret it reads.
pub struct DmsScope<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub stream_arn: &'a str,
    pub stream_kms_key: Option<&'a str>,
    /// The Secrets Manager secret holding the database credentials, when one is used.
    pub secret_arn: Option<&'a str>,
}

/// The DMS role's policy: put records on exactly the CDC stream (DMS describes it first), and
/// read exactly the credentials secret when the source endpoint uses one.
pub fn dms_policy(scope: &DmsScope) -> Json {
    let mut statements = vec![json!({
        "Sid": "WriteCdcStream",
        "Effect": "Allow",
        "Action": ["kinesis:DescribeStream", "kinesis:PutRecord", "kinesis:PutRecords"],
        "Resource": scope.stream_arn
    })];
    if let Some(key) = customer_key_arn(
        scope.partition,
        scope.region,
        scope.account,
        scope.stream_kms_key,
    ) {
        statements.push(json!({
            "Sid": "EncryptCdcStream",
            "Effect": "Allow",
            "Action": "kms:GenerateDataKey",
            "Resource": key
        }));
    }
    if let Some(secret) = scope.secret_arn {
        statements.push(json!({
            "Sid": "ReadSourceCredentials",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": secret
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// What the Firehose role is scoped to: the CDC stream it reads and the lake prefixes it writes.
pub struct FirehoseScope<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub stream_arn: &'a str,
    pub stream_kms_key: Option<&'a str>,
    pub bucket_arn: &'a str,
    pub prefix: &'a str,
    pub error_prefix: &'a str,
}

/// The key pattern a Firehose prefix writes under: its literal part up to the first `!{...}`
/// expression (the date partitions), then anything.
fn prefix_pattern(bucket_arn: &str, prefix: &str) -> String {
    let literal = prefix.split("!{").next().unwrap_or_default();
    format!("{bucket_arn}/{literal}*")
}

/// The delivery stream's policy: read exactly the CDC stream, write objects under exactly the
/// lake's prefix and error prefix (multipart uploads included), and see the bucket itself.
pub fn firehose_policy(scope: &FirehoseScope) -> Json {
    let objects: Vec<String> = {
        let mut patterns = vec![
            prefix_pattern(scope.bucket_arn, scope.prefix),
            prefix_pattern(scope.bucket_arn, scope.error_prefix),
        ];
        patterns.dedup();
        patterns
    };
    let mut statements = vec![
        json!({
            "Sid": "ReadCdcStream",
            "Effect": "Allow",
            "Action": [
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards"
            ],
            "Resource": scope.stream_arn
        }),
        json!({
            "Sid": "WriteLakeObjects",
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            "Resource": objects
        }),
        json!({
            "Sid": "SeeLakeBucket",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            "Resource": scope.bucket_arn
        }),
    ];
    if let Some(key) = customer_key_arn(
        scope.partition,
        scope.region,
        scope.account,
        scope.stream_kms_key,
    ) {
        statements.push(json!({
            "Sid": "DecryptCdcStream",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": key
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// What the SQL application's role is scoped to: the CDC stream it reads, the streams its
/// outputs write, the reference objects it loads.
pub struct AnalyticsScope<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub input_stream_arn: &'a str,
    pub input_kms_key: Option<&'a str>,
    pub output_stream_arns: Vec<String>,
    /// KMS keys of the output streams (customer-managed ones need a grant).
    pub output_kms_keys: Vec<String>,
    /// `arn:…:s3:::bucket/key` of each reference object.
    pub reference_object_arns: Vec<String>,
}

/// The SQL application's policy: read exactly the input stream, write exactly the output
/// streams, read exactly the reference objects.
pub fn analytics_policy(scope: &AnalyticsScope) -> Json {
    let mut statements = vec![json!({
        "Sid": "ReadInputStream",
        "Effect": "Allow",
        "Action": [
            "kinesis:DescribeStream",
            "kinesis:GetRecords",
            "kinesis:GetShardIterator",
            "kinesis:ListShards"
        ],
        "Resource": scope.input_stream_arn
    })];
    let mut outputs = scope.output_stream_arns.clone();
    outputs.sort();
    outputs.dedup();
    if !outputs.is_empty() {
        statements.push(json!({
            "Sid": "WriteOutputStreams",
            "Effect": "Allow",
            "Action": ["kinesis:DescribeStream", "kinesis:PutRecord", "kinesis:PutRecords"],
            "Resource": outputs
        }));
    }
    if !scope.reference_object_arns.is_empty() {
        statements.push(json!({
            "Sid": "ReadReferenceData",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": scope.reference_object_arns
        }));
    }
    let key = |k: &str| customer_key_arn(scope.partition, scope.region, scope.account, Some(k));
    if let Some(key) = scope.input_kms_key.and_then(key) {
        statements.push(json!({
            "Sid": "DecryptInputStream",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": key
        }));
    }
    let mut keys: Vec<String> = scope
        .output_kms_keys
        .iter()
        .filter_map(|k| key(k))
        .collect();
    keys.sort();
    keys.dedup();
    if !keys.is_empty() {
        statements.push(json!({
            "Sid": "EncryptOutputStreams",
            "Effect": "Allow",
            "Action": "kms:GenerateDataKey",
            "Resource": keys
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persist_policy_is_scoped_to_the_pipeline_arns() {
        let policy = persist_policy(&PersistScope {
            partition: "aws",
            region: "us-east-1",
            account: "123456789012",
            function_name: "orders-persist",
            stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/orders-enriched",
            table_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/orders-sink",
            stream_kms_key: Some("alias/aws/kinesis"),
            dead_letter_bucket_arn: "arn:aws:s3:::orders-dlq-123456789012",
            dead_letter_prefix: "dead-letter/",
            engine: None,
        });
        let text = policy.to_string();
        assert!(!text.contains("\"*\""), "no wildcard resources: {text}");
        let statements = policy["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 5, "the AWS-managed key needs no grant");
        assert_eq!(
            statements[4]["Resource"],
            "arn:aws:s3:::orders-dlq-123456789012"
        );
        assert_eq!(
            statements[1]["Resource"],
            "arn:aws:dynamodb:us-east-1:123456789012:table/orders-sink"
        );
    }

    #[test]
    fn a_customer_key_adds_a_decrypt_grant_for_that_key_only() {
        let policy = persist_policy(&PersistScope {
            partition: "aws",
            region: "eu-west-1",
            account: "1",
            function_name: "f",
            stream_arn: "s",
            table_arn: "t",
            stream_kms_key: Some("alias/mine"),
            dead_letter_bucket_arn: "arn:aws:s3:::b",
            dead_letter_prefix: "p/",
            engine: None,
        });
        let last = policy["Statement"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["Resource"], "arn:aws:kms:eu-west-1:1:alias/mine");
    }

    #[test]
    fn the_engine_adds_its_state_reference_data_and_publication() {
        let policy = persist_policy(&PersistScope {
            partition: "aws",
            region: "us-east-1",
            account: "123456789012",
            function_name: "orders-persist",
            stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/orders-cdc",
            table_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/orders-sink",
            stream_kms_key: Some("alias/aws/kinesis"),
            dead_letter_bucket_arn: "arn:aws:s3:::orders-dlq-123456789012",
            dead_letter_prefix: "dead-letter/",
            engine: Some(EngineScope {
                state_table_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/orders-state",
                reference_bucket_arn: "arn:aws:s3:::orders-reference-123456789012",
                publish_to: Some("arn:aws:kinesis:us-east-1:123456789012:stream/orders-enriched"),
                publish_kms_key: Some("alias/mine"),
            }),
        });
        let by_sid = |sid: &str| {
            policy["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Sid"] == sid)
                .cloned()
                .unwrap_or_else(|| panic!("no {sid} in {policy}"))
        };
        assert_eq!(
            by_sid("EngineState")["Resource"],
            "arn:aws:dynamodb:us-east-1:123456789012:table/orders-state"
        );
        assert_eq!(
            by_sid("ReadReferenceData")["Resource"],
            "arn:aws:s3:::orders-reference-123456789012/reference/*"
        );
        assert_eq!(
            by_sid("PublishEnrichedRows")["Resource"],
            "arn:aws:kinesis:us-east-1:123456789012:stream/orders-enriched"
        );
        assert_eq!(
            by_sid("EncryptEnrichedStream")["Resource"],
            "arn:aws:kms:us-east-1:123456789012:alias/mine"
        );
        assert!(!policy.to_string().contains("\"*\""));
    }
}
