//! Firehose: the data lake's delivery stream, which reads the CDC Kinesis stream and writes the
//! raw records to S3.
//!
//! Finders, create/update/delete and waiters, in that order. A delivery stream settles
//! asynchronously (CREATING → ACTIVE, DELETING → gone, for minutes on AWS), accepts changes
//! only while ACTIVE, and changes its destination through UpdateDestination, which is guarded
//! by the stream's version id. Its Kinesis source (stream and role) is fixed at creation: a
//! different source means a new delivery stream ([`needs_replacement`]).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DeliveryStreamDescription, DeliveryStreamStatus,
    DeliveryStreamType, ExtendedS3DestinationConfiguration, ExtendedS3DestinationUpdate,
    KinesisStreamSourceConfiguration, Tag,
};
use aws_sdk_firehose::Client;

use crate::aws::tags::{tag_diff, TagDiff};
use crate::aws::{context, found, gone, AwsError, AwsResult, Expect};
use crate::wait;

/// What errors call this service's component.
const COMPONENT: &str = "Firehose delivery stream";

/// Tag and UntagDeliveryStream take at most 50 tags (keys) per call.
const TAGS_PER_CALL: usize = 50;

/// The settings a delivery stream should have.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryStreamSpec {
    pub name: String,
    /// The Kinesis stream read (KinesisStreamAsSource).
    pub source_stream_arn: String,
    /// The role Firehose assumes both to read the source stream and to write the bucket.
    pub role_arn: String,
    pub bucket_arn: String,
    /// Object key prefix; may hold Firehose's `!{...}` expressions.
    pub prefix: String,
    /// Key prefix of the records Firehose could not deliver (needed when `prefix` has
    /// expressions; must then hold `!{firehose:error-output-type}`).
    pub error_prefix: String,
    pub buffering_size_mb: i32,
    pub buffering_interval_seconds: i32,
    /// `UNCOMPRESSED`, `GZIP`, `ZIP`, `Snappy` or `HADOOP_SNAPPY`.
    pub compression: String,
    pub tags: BTreeMap<String, String>,
}

/// A delivery stream as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryStream {
    pub name: String,
    pub arn: String,
    /// CREATING, CREATING_FAILED, ACTIVE, DELETING or DELETING_FAILED.
    pub status: String,
    /// Changes with every UpdateDestination; the next one must name it.
    pub version_id: String,
    pub destination_id: String,
    /// `None` when the stream does not read a Kinesis stream (not one the pipeline made).
    pub source_stream_arn: Option<String>,
    pub source_role_arn: Option<String>,
    /// The destination's role.
    pub role_arn: String,
    pub bucket_arn: String,
    pub prefix: String,
    pub error_prefix: String,
    pub buffering_size_mb: i32,
    pub buffering_interval_seconds: i32,
    pub compression: String,
    pub tags: BTreeMap<String, String>,
    /// Why the stream is CREATING_FAILED or DELETING_FAILED ("TYPE: details").
    failure: Option<String>,
}

/// Describes the delivery stream `name` with its tags; `None` if it does not exist or is
/// being deleted (it is going away whatever happens next).
pub async fn find_by_name(client: &Client, name: &str) -> AwsResult<Option<DeliveryStream>> {
    find(client, name, Expect::Present).await
}

/// [`find_by_name`], spending calls as `expect` says.
pub async fn find(
    client: &Client,
    name: &str,
    expect: Expect,
) -> AwsResult<Option<DeliveryStream>> {
    let (stream, tags) = match expect {
        // Both calls need only the name: asked at once.
        Expect::Present => tokio::join!(describe_by_name(client, name), list_tags(client, name)),
        Expect::Absent => match describe_by_name(client, name).await? {
            None => return Ok(None),
            described => (Ok(described), list_tags(client, name).await),
        },
    };
    let Some(stream) = stream? else {
        return Ok(None);
    };
    let tags = found(tags)?.unwrap_or_default();
    Ok(Some(DeliveryStream { tags, ..stream }))
}

/// Like [`find_by_name`] without the tags (a refresh does not compare them): one call.
pub async fn describe_by_name(client: &Client, name: &str) -> AwsResult<Option<DeliveryStream>> {
    Ok(describe(client, name)
        .await?
        .filter(|s| s.status != DeliveryStreamStatus::Deleting.as_str()))
}

/// DescribeDeliveryStream, whatever the status, without the tags.
async fn describe(client: &Client, name: &str) -> AwsResult<Option<DeliveryStream>> {
    let out = found(
        client
            .describe_delivery_stream()
            .delivery_stream_name(name)
            .send()
            .await
            .map_err(AwsError::from),
    )?;
    Ok(out
        .and_then(|o| o.delivery_stream_description)
        .map(|d| flatten(&d)))
}

fn flatten(d: &DeliveryStreamDescription) -> DeliveryStream {
    let source = d
        .source()
        .and_then(|s| s.kinesis_stream_source_description());
    let destination = d.destinations().first();
    let s3 = destination.and_then(|d| d.extended_s3_destination_description());
    let hints = s3.and_then(|s| s.buffering_hints());
    DeliveryStream {
        name: d.delivery_stream_name().to_string(),
        arn: d.delivery_stream_arn().to_string(),
        status: d.delivery_stream_status().as_str().to_string(),
        version_id: d.version_id().to_string(),
        destination_id: destination
            .map(|d| d.destination_id().to_string())
            .unwrap_or_default(),
        source_stream_arn: source
            .and_then(|s| s.kinesis_stream_arn())
            .map(str::to_string),
        source_role_arn: source.and_then(|s| s.role_arn()).map(str::to_string),
        role_arn: s3.map(|s| s.role_arn().to_string()).unwrap_or_default(),
        bucket_arn: s3.map(|s| s.bucket_arn().to_string()).unwrap_or_default(),
        prefix: s3.and_then(|s| s.prefix()).unwrap_or_default().to_string(),
        error_prefix: s3
            .and_then(|s| s.error_output_prefix())
            .unwrap_or_default()
            .to_string(),
        // AWS always reports the hints; 5 MiB / 300 s are its defaults should one be absent.
        buffering_size_mb: hints.and_then(|h| h.size_in_mbs()).unwrap_or(5),
        buffering_interval_seconds: hints.and_then(|h| h.interval_in_seconds()).unwrap_or(300),
        compression: s3
            .map(|s| s.compression_format().as_str().to_string())
            .unwrap_or_default(),
        tags: BTreeMap::new(),
        failure: d
            .failure_description()
            .map(|f| format!("{}: {}", f.r#type().as_str(), f.details())),
    }
}

async fn list_tags(client: &Client, name: &str) -> AwsResult<BTreeMap<String, String>> {
    let mut tags = BTreeMap::new();
    let mut start: Option<String> = None;
    loop {
        let out = client
            .list_tags_for_delivery_stream()
            .delivery_stream_name(name)
            .set_exclusive_start_tag_key(start.clone())
            .send()
            .await?;
        for tag in out.tags {
            start = Some(tag.key.clone());
            tags.insert(tag.key, tag.value.unwrap_or_default());
        }
        if !out.has_more_tags {
            return Ok(tags);
        }
    }
}

/// Whether the source must change, which only a new delivery stream can do: Firehose has no
/// call to change a stream's source.
pub fn needs_replacement(current: &DeliveryStream, spec: &DeliveryStreamSpec) -> bool {
    current.source_stream_arn.as_deref() != Some(spec.source_stream_arn.as_str())
        // Older descriptions may leave the role out: only a role reported and different counts.
        || current
            .source_role_arn
            .as_deref()
            .is_some_and(|role| role != spec.role_arn)
}

/// Whether any setting the pipeline manages differs from `spec` (drift).
pub fn differs(current: &DeliveryStream, spec: &DeliveryStreamSpec) -> bool {
    needs_replacement(current, spec)
        || destination_differs(current, spec)
        || current.tags != spec.tags
}

/// Whether UpdateDestination has something to change.
fn destination_differs(current: &DeliveryStream, spec: &DeliveryStreamSpec) -> bool {
    current.role_arn != spec.role_arn
        || current.bucket_arn != spec.bucket_arn
        || current.prefix != spec.prefix
        || current.error_prefix != spec.error_prefix
        || current.buffering_size_mb != spec.buffering_size_mb
        || current.buffering_interval_seconds != spec.buffering_interval_seconds
        || current.compression != spec.compression
}

fn buffering_hints(spec: &DeliveryStreamSpec) -> BufferingHints {
    BufferingHints::builder()
        .size_in_mbs(spec.buffering_size_mb)
        .interval_in_seconds(spec.buffering_interval_seconds)
        .build()
}

fn build_error(err: aws_smithy_types::error::operation::BuildError) -> AwsError {
    AwsError::other(err.to_string())
}

fn tag_list(tags: &BTreeMap<String, String>) -> AwsResult<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(build_error))
        .collect()
}

/// Firehose tries to assume the role (and, through it, to describe the source stream) while
/// creating or updating; a role just created, or just given its policy, is refused for a few
/// seconds until IAM has propagated it. These are the messages AWS gives then.
fn is_role_propagation(err: &AwsError) -> bool {
    err.code_is("InvalidArgumentException")
        && (err.message.contains("Firehose is unable to assume role")
            || err.message.contains("is not authorized to")
            || err.message.contains("Access was denied"))
}

/// Creates the delivery stream (reading `spec.source_stream_arn`, writing `spec.bucket_arn`)
/// and waits for it to be ACTIVE.
pub async fn create(
    client: &Client,
    spec: &DeliveryStreamSpec,
    timeout: Duration,
) -> AwsResult<DeliveryStream> {
    let name = spec.name.as_str();
    let err = |e: AwsError| context("creating", COMPONENT, name, e);
    let source = KinesisStreamSourceConfiguration::builder()
        .kinesis_stream_arn(&spec.source_stream_arn)
        .role_arn(&spec.role_arn)
        .build()
        .map_err(|e| err(build_error(e)))?;
    let destination = ExtendedS3DestinationConfiguration::builder()
        .role_arn(&spec.role_arn)
        .bucket_arn(&spec.bucket_arn)
        .prefix(&spec.prefix)
        .error_output_prefix(&spec.error_prefix)
        .buffering_hints(buffering_hints(spec))
        .compression_format(CompressionFormat::from(spec.compression.as_str()))
        .build()
        .map_err(|e| err(build_error(e)))?;
    let tags = tag_list(&spec.tags).map_err(err)?;
    let create = || {
        wait::retry_while(is_role_propagation, || {
            client
                .create_delivery_stream()
                .delivery_stream_name(name)
                .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
                .kinesis_stream_source_configuration(source.clone())
                .extended_s3_destination_configuration(destination.clone())
                // At most 50 tags here, and none is not the same as an empty list (at least 1).
                .set_tags((!tags.is_empty()).then(|| tags.clone()))
                .send()
        })
    };
    match create().await {
        // A stream of the same name still being deleted keeps the name taken until it is gone.
        Err(e) if e.code_is("ResourceInUseException") => {
            let deleting = describe(client, name)
                .await
                .map_err(err)?
                .is_some_and(|s| s.status == DeliveryStreamStatus::Deleting.as_str());
            if !deleting {
                return Err(err(e));
            }
            wait_deleted(client, name, timeout).await.map_err(err)?;
            create().await.map_err(err)?;
        }
        other => {
            other.map_err(err)?;
        }
    }
    let stream = wait_active(client, name, timeout).await.map_err(err)?;
    // Its tags are the ones just given.
    Ok(DeliveryStream {
        tags: spec.tags.clone(),
        ..stream
    })
}

/// Brings an existing delivery stream's destination and tags to `spec` in place. The source
/// cannot change in place: the caller replaces the stream when [`needs_replacement`] says so.
pub async fn update(
    client: &Client,
    current: &DeliveryStream,
    spec: &DeliveryStreamSpec,
    timeout: Duration,
) -> AwsResult<DeliveryStream> {
    let name = spec.name.as_str();
    let err = |e: AwsError| context("updating", COMPONENT, name, e);
    if destination_differs(current, spec) {
        // UpdateDestination needs an ACTIVE stream and its current version id: take both from
        // a fresh description rather than from `current`, which may predate the plan.
        let fresh = wait_active(client, name, timeout).await.map_err(err)?;
        let update = ExtendedS3DestinationUpdate::builder()
            .role_arn(&spec.role_arn)
            .bucket_arn(&spec.bucket_arn)
            .prefix(&spec.prefix)
            .error_output_prefix(&spec.error_prefix)
            .buffering_hints(buffering_hints(spec))
            .compression_format(CompressionFormat::from(spec.compression.as_str()))
            .build();
        wait::retry_while(is_role_propagation, || {
            client
                .update_destination()
                .delivery_stream_name(name)
                .current_delivery_stream_version_id(&fresh.version_id)
                .destination_id(&fresh.destination_id)
                .extended_s3_destination_update(update.clone())
                .send()
        })
        .await
        .map_err(err)?;
        wait_active(client, name, timeout).await.map_err(err)?;
    }
    let TagDiff { set, remove } = tag_diff(&current.tags, &spec.tags);
    for keys in remove.chunks(TAGS_PER_CALL) {
        client
            .untag_delivery_stream()
            .delivery_stream_name(name)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| err(e.into()))?;
    }
    let set = tag_list(&set).map_err(err)?;
    for tags in set.chunks(TAGS_PER_CALL) {
        client
            .tag_delivery_stream()
            .delivery_stream_name(name)
            .set_tags(Some(tags.to_vec()))
            .send()
            .await
            .map_err(|e| err(e.into()))?;
    }
    find_by_name(client, name)
        .await
        .map_err(err)?
        .ok_or_else(|| {
            err(AwsError::other(
                "the delivery stream disappeared while it was being updated",
            ))
        })
}

/// Deletes the delivery stream and waits until it is gone; not-found is success.
pub async fn delete(client: &Client, name: &str, timeout: Duration) -> AwsResult<()> {
    let err = |e: AwsError| context("deleting", COMPONENT, name, e);
    // A stream still CREATING cannot be deleted yet (ResourceInUseException): let it settle.
    if describe(client, name)
        .await
        .map_err(err)?
        .is_some_and(|s| s.status == DeliveryStreamStatus::Creating.as_str())
    {
        wait_settled_from_creating(client, name, timeout)
            .await
            .map_err(err)?;
    }
    gone(
        client
            .delete_delivery_stream()
            .delivery_stream_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(AwsError::from),
    )
    .map_err(err)?;
    wait_deleted(client, name, timeout).await.map_err(err)
}

/// Waits until the delivery stream is ACTIVE and returns it (without its tags).
async fn wait_active(client: &Client, name: &str, timeout: Duration) -> AwsResult<DeliveryStream> {
    wait::until(
        &format!("Firehose delivery stream ({name}) to be ACTIVE"),
        timeout,
        || async {
            let Some(s) = describe(client, name).await? else {
                return Err(AwsError::other(format!(
                    "Firehose delivery stream ({name}) disappeared while waiting for it to be ACTIVE"
                )));
            };
            match DeliveryStreamStatus::from(s.status.as_str()) {
                DeliveryStreamStatus::Active => Ok(Some(s)),
                DeliveryStreamStatus::Creating => Ok(None),
                _ => Err(unexpected_status(&s, "ACTIVE")),
            }
        },
    )
    .await
}

/// Waits until a stream that was CREATING is no longer (ACTIVE, CREATING_FAILED or gone).
async fn wait_settled_from_creating(
    client: &Client,
    name: &str,
    timeout: Duration,
) -> AwsResult<()> {
    wait::until(
        &format!("Firehose delivery stream ({name}) to finish creating"),
        timeout,
        || async {
            let creating = describe(client, name)
                .await?
                .is_some_and(|s| s.status == DeliveryStreamStatus::Creating.as_str());
            Ok((!creating).then_some(()))
        },
    )
    .await
}

/// Waits until the delivery stream is gone (DELETING can last minutes on AWS).
async fn wait_deleted(client: &Client, name: &str, timeout: Duration) -> AwsResult<()> {
    wait::until(
        &format!("Firehose delivery stream ({name}) to be deleted"),
        timeout,
        || async {
            match describe(client, name).await? {
                None => Ok(Some(())),
                Some(s) if s.status == DeliveryStreamStatus::DeletingFailed.as_str() => {
                    Err(unexpected_status(&s, "deleted"))
                }
                Some(_) => Ok(None),
            }
        },
    )
    .await
}

/// A status a waiter cannot wait through (CREATING_FAILED, DELETING_FAILED...), with AWS's
/// reason when it gives one.
fn unexpected_status(stream: &DeliveryStream, wanted: &str) -> AwsError {
    let reason = stream
        .failure
        .as_deref()
        .map(|f| format!(" ({f})"))
        .unwrap_or_default();
    AwsError::other(format!(
        "Firehose delivery stream ({}) is {}{reason} while waiting for it to be {wanted}",
        stream.name, stream.status
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_firehose::types::{
        DeliveryStreamFailureType, DestinationDescription, EncryptionConfiguration,
        ExtendedS3DestinationDescription, FailureDescription, KinesisStreamSourceDescription,
        NoEncryptionConfig, SourceDescription,
    };

    const STREAM: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/orders-cdc";
    const ROLE: &str = "arn:aws:iam::123456789012:role/orders-firehose";
    const BUCKET: &str = "arn:aws:s3:::orders-lake-123456789012";

    fn spec() -> DeliveryStreamSpec {
        DeliveryStreamSpec {
            name: "orders-lake".to_string(),
            source_stream_arn: STREAM.to_string(),
            role_arn: ROLE.to_string(),
            bucket_arn: BUCKET.to_string(),
            prefix: "cdc/year=!{timestamp:yyyy}/".to_string(),
            error_prefix: "errors/!{firehose:error-output-type}/".to_string(),
            buffering_size_mb: 5,
            buffering_interval_seconds: 300,
            compression: "GZIP".to_string(),
            tags: BTreeMap::from([("unifiedetl:pipeline".to_string(), "orders".to_string())]),
        }
    }

    fn description(status: DeliveryStreamStatus) -> DeliveryStreamDescription {
        let s3 = ExtendedS3DestinationDescription::builder()
            .role_arn(ROLE)
            .bucket_arn(BUCKET)
            .prefix("cdc/year=!{timestamp:yyyy}/")
            .error_output_prefix("errors/!{firehose:error-output-type}/")
            .buffering_hints(
                BufferingHints::builder()
                    .size_in_mbs(5)
                    .interval_in_seconds(300)
                    .build(),
            )
            .compression_format(CompressionFormat::Gzip)
            .encryption_configuration(
                EncryptionConfiguration::builder()
                    .no_encryption_config(NoEncryptionConfig::NoEncryption)
                    .build(),
            )
            .build()
            .unwrap();
        DeliveryStreamDescription::builder()
            .delivery_stream_name("orders-lake")
            .delivery_stream_arn(
                "arn:aws:firehose:us-east-1:123456789012:deliverystream/orders-lake",
            )
            .delivery_stream_status(status)
            .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
            .version_id("3")
            .source(
                SourceDescription::builder()
                    .kinesis_stream_source_description(
                        KinesisStreamSourceDescription::builder()
                            .kinesis_stream_arn(STREAM)
                            .role_arn(ROLE)
                            .build(),
                    )
                    .build(),
            )
            .destinations(
                DestinationDescription::builder()
                    .destination_id("destinationId-000000000001")
                    .extended_s3_destination_description(s3)
                    .build()
                    .unwrap(),
            )
            .has_more_destinations(false)
            .build()
            .unwrap()
    }

    fn current() -> DeliveryStream {
        DeliveryStream {
            tags: spec().tags,
            ..flatten(&description(DeliveryStreamStatus::Active))
        }
    }

    #[test]
    fn flatten_reads_source_destination_and_version() {
        let s = flatten(&description(DeliveryStreamStatus::Active));
        assert_eq!(s.status, "ACTIVE");
        assert_eq!(s.version_id, "3");
        assert_eq!(s.destination_id, "destinationId-000000000001");
        assert_eq!(s.source_stream_arn.as_deref(), Some(STREAM));
        assert_eq!(s.source_role_arn.as_deref(), Some(ROLE));
        assert_eq!((s.role_arn.as_str(), s.bucket_arn.as_str()), (ROLE, BUCKET));
        assert_eq!(s.error_prefix, "errors/!{firehose:error-output-type}/");
        assert_eq!(
            (s.buffering_size_mb, s.buffering_interval_seconds),
            (5, 300)
        );
        assert_eq!(s.compression, "GZIP");
        assert_eq!(s.failure, None);
        assert!(!differs(&current(), &spec()));
    }

    #[test]
    fn a_failed_stream_reports_why() {
        let mut d = description(DeliveryStreamStatus::CreatingFailed);
        d.failure_description = Some(
            FailureDescription::builder()
                .r#type(DeliveryStreamFailureType::KmsAccessDenied)
                .details("no access to the key")
                .build()
                .unwrap(),
        );
        let err = unexpected_status(&flatten(&d), "ACTIVE");
        assert_eq!(
            err.message,
            "Firehose delivery stream (orders-lake) is CREATING_FAILED (KMS_ACCESS_DENIED: \
             no access to the key) while waiting for it to be ACTIVE"
        );
    }

    #[test]
    fn destination_changes_update_in_place_and_source_changes_replace() {
        let current = current();
        let mut wanted = spec();
        wanted.buffering_interval_seconds = 60;
        assert!(destination_differs(&current, &wanted));
        assert!(differs(&current, &wanted));
        assert!(!needs_replacement(&current, &wanted));

        let mut wanted = spec();
        wanted.source_stream_arn = format!("{STREAM}-v2");
        assert!(needs_replacement(&current, &wanted));
        assert!(!destination_differs(&current, &wanted));

        // The one role serves source and destination: a new role replaces the stream.
        let mut wanted = spec();
        wanted.role_arn = format!("{ROLE}-v2");
        assert!(needs_replacement(&current, &wanted));
        let unreported = DeliveryStream {
            source_role_arn: None,
            ..current.clone()
        };
        assert!(!needs_replacement(&unreported, &spec()));

        let not_from_kinesis = DeliveryStream {
            source_stream_arn: None,
            ..current.clone()
        };
        assert!(needs_replacement(&not_from_kinesis, &spec()));
    }

    #[test]
    fn tags_alone_are_drift_but_no_destination_update() {
        let mut wanted = spec();
        wanted.tags.insert("team".to_string(), "data".to_string());
        assert!(differs(&current(), &wanted));
        assert!(!destination_differs(&current(), &wanted));
    }

    #[test]
    fn only_iam_propagation_errors_are_retried() {
        let err = |code: &str, message: &str| AwsError {
            code: Some(code.to_string()),
            message: format!("{code}: {message}"),
        };
        assert!(is_role_propagation(&err(
            "InvalidArgumentException",
            &format!("Firehose is unable to assume role {ROLE}. Please check the role provided.")
        )));
        assert!(is_role_propagation(&err(
            "InvalidArgumentException",
            &format!("Role {ROLE} is not authorized to perform: kinesis:DescribeStream on resource {STREAM}.")
        )));
        assert!(!is_role_propagation(&err(
            "InvalidArgumentException",
            "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions"
        )));
        assert!(!is_role_propagation(&err(
            "ResourceInUseException",
            "Firehose orders-lake under accountId 123456789012 already exists"
        )));
    }
}
