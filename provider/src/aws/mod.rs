//! The AWS layer: one module per service, each owning its finders, create/update/delete,
//! waiters and expand/flatten helpers, kept the way terraform-provider-aws keeps
//! `internal/service/<svc>/`. This module holds what they share:
//!
//! 1. [`Aws`]: the clients every component uses, built once when Terraform configures the
//!    provider, and [`SharedAws`], where the resource finds them;
//! 2. [`Identity`]: the account, partition and region every ARN is built in;
//! 3. [`AwsError`]: an SDK failure as a code and one sentence, classified ([`found`], [`gone`],
//!    [`Expect`]) and given its context once, by [`context`]; the failures a person must act on
//!    (credentials, an unreachable endpoint, access denied, throttling) explained by
//!    [`explain`].

pub mod cloudwatch;
pub mod dms;
pub mod dynamodb;
pub mod explain;
pub mod firehose;
pub mod iam;
pub mod kinesis;
pub mod kinesisanalytics;
pub mod lambda;
pub mod log;
pub mod logs;
pub mod network;
pub mod s3;
pub mod sns;
pub mod tags;
pub mod web_identity;

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, RwLock};

use aws_smithy_runtime_api::client::http::HttpClient;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tf_provider::Diagnostics;

/// Clients for every service the pipeline touches, plus the provider-level settings that every
/// component needs (region, default tags).
pub struct Aws {
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub sns: aws_sdk_sns::Client,
    pub dms: aws_sdk_databasemigration::Client,
    pub firehose: aws_sdk_firehose::Client,
    pub kinesis: aws_sdk_kinesis::Client,
    pub kinesisanalytics: aws_sdk_kinesisanalytics::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    sts: aws_sdk_sts::Client,
    pub region: String,
    pub default_tags: BTreeMap<String, String>,
    identity: tokio::sync::OnceCell<Identity>,
    accounts: Accounts,
}

/// Where the caller's account comes from: STS, or (`skip_requesting_account_id`) the provider
/// block.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    /// Never call STS GetCallerIdentity.
    pub skip_requesting: bool,
    /// Do not ask STS ahead of time, when Terraform configures the provider.
    pub skip_validation: bool,
    /// The account the provider block names (`assume_role.role_arn`'s, the one allowed).
    pub named: Option<String>,
}

/// Where resources find the clients once the provider is configured.
#[derive(Clone, Default)]
pub struct SharedAws(Arc<RwLock<Option<Arc<Aws>>>>);

impl SharedAws {
    /// The configured clients, or an error diagnostic if Terraform has not configured the
    /// provider (which it always does before planning or applying a managed resource).
    pub fn get(&self, diags: &mut Diagnostics) -> Option<Arc<Aws>> {
        let aws = self.0.read().ok().and_then(|guard| guard.clone());
        if aws.is_none() {
            diags.root_error_short("the unifiedetl provider is not configured yet");
        }
        aws
    }

    pub(crate) fn set(&self, aws: Aws) {
        let aws = Arc::new(aws);
        if let Ok(mut guard) = self.0.write() {
            *guard = Some(aws.clone());
        }
        // A pipeline's first plan needs who the provider runs as (ARNs and default bucket names
        // embed the account), and Terraform plans it twice, in `plan` and again in `apply`: ask
        // now, while Terraform validates, rather than when it plans. (Later plans and applies
        // read the account off an ARN of the state.) A failure is not reported here; the plan
        // asks again and says why. Not with `skip_credentials_validation`.
        if !aws.accounts.skip_validation {
            tokio::spawn(async move {
                let _ = aws.identity().await;
            });
        }
    }
}

/// Who the provider runs as: the account and partition every ARN is built in.
#[derive(Debug, Clone)]
pub struct Identity {
    pub account: String,
    pub partition: String,
    /// The provider's region (not from STS): with the account, what ARNs are built in.
    pub region: String,
}

#[cfg(test)]
impl Identity {
    /// The caller the unit tests plan as.
    pub fn for_tests() -> Identity {
        Identity {
            account: "123456789012".into(),
            partition: "aws".into(),
            region: "us-east-1".into(),
        }
    }
}

impl Identity {
    /// The ARN of `resource` of `service` in this account and region (`region` false for
    /// global services such as IAM).
    pub fn arn(&self, service: &str, regional: bool, resource: &str) -> String {
        let region = if regional { self.region.as_str() } else { "" };
        format!(
            "arn:{}:{service}:{region}:{}:{resource}",
            self.partition, self.account
        )
    }
}

impl Aws {
    /// The clients of `config`, each sent to its entry of `endpoints` (the provider block's
    /// `endpoints`, by the AWS provider's service names) where there is one, and each logging
    /// its calls ([`log`]).
    pub fn new(
        config: &aws_config::SdkConfig,
        endpoints: &BTreeMap<String, String>,
        default_tags: BTreeMap<String, String>,
    ) -> Aws {
        macro_rules! client {
            ($krate:ident, $key:literal) => {{
                let mut builder = $krate::config::Builder::from(config).interceptor(log::CallLog);
                if let Some(url) = endpoints.get($key) {
                    builder = builder.endpoint_url(url);
                }
                $krate::Client::from_conf(builder.build())
            }};
        }
        // Path-style addressing off AWS: virtual-hosted bucket names do not resolve on an
        // emulator endpoint such as 127.0.0.1, and AWS still serves path-style for these calls.
        let s3_elsewhere = endpoints.contains_key("s3")
            || config.endpoint_url().is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let s3 = {
            let mut builder = aws_sdk_s3::config::Builder::from(config)
                .interceptor(log::CallLog)
                .force_path_style(s3_elsewhere);
            if let Some(url) = endpoints.get("s3") {
                builder = builder.endpoint_url(url);
            }
            aws_sdk_s3::Client::from_conf(builder.build())
        };
        Aws {
            cloudwatch: client!(aws_sdk_cloudwatch, "cloudwatch"),
            logs: client!(aws_sdk_cloudwatchlogs, "logs"),
            sns: client!(aws_sdk_sns, "sns"),
            dms: client!(aws_sdk_databasemigration, "dms"),
            firehose: client!(aws_sdk_firehose, "firehose"),
            kinesis: client!(aws_sdk_kinesis, "kinesis"),
            kinesisanalytics: client!(aws_sdk_kinesisanalytics, "kinesisanalytics"),
            dynamodb: client!(aws_sdk_dynamodb, "dynamodb"),
            lambda: client!(aws_sdk_lambda, "lambda"),
            iam: client!(aws_sdk_iam, "iam"),
            s3,
            sts: client!(aws_sdk_sts, "sts"),
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
            default_tags,
            identity: tokio::sync::OnceCell::new(),
            accounts: Accounts::default(),
        }
    }

    /// The same clients, with the caller's account found as `accounts` says.
    pub fn with_accounts(self, accounts: Accounts) -> Aws {
        Aws { accounts, ..self }
    }

    /// The caller's account and partition (STS GetCallerIdentity), asked once per provider
    /// process: names and ARNs that embed the account are then known at plan time.
    pub async fn identity(&self) -> AwsResult<Identity> {
        self.identity
            .get_or_try_init(|| async {
                if self.accounts.skip_requesting {
                    let account = self.accounts.named.clone().ok_or_else(|| {
                        AwsError::other("the AWS account is needed (ARNs and default bucket names embed it), but `skip_requesting_account_id` is set and the provider block names no account: name it in `assume_role.role_arn` or as the one entry of `allowed_account_ids`, or unset `skip_requesting_account_id`")
                    })?;
                    return Ok(Identity {
                        account,
                        partition: partition_of_region(&self.region).to_string(),
                        region: self.region.clone(),
                    });
                }
                let out = self.sts.get_caller_identity().send().await.map_err(|e| {
                    let e = AwsError::from(e);
                    AwsError {
                        message: format!("reading the caller's AWS identity: {}", e.message),
                        ..e
                    }
                })?;
                let arn = out.arn().unwrap_or_default();
                Ok(Identity {
                    account: out.account().unwrap_or_default().to_string(),
                    partition: partition_of(arn).to_string(),
                    region: self.region.clone(),
                })
            })
            .await
            .cloned()
    }
}

impl Aws {
    /// Who the provider runs as, read from `arn` (one AWS reported for a component of the
    /// pipeline, so in this account) when there is one, else asked of STS. A plan after a
    /// refresh, an apply and a destroy all have such an ARN: only a pipeline's first plan and
    /// an import call STS.
    pub async fn identity_or_from(&self, arn: Option<&str>) -> AwsResult<Identity> {
        match arn.and_then(|arn| account_of(arn).map(|account| (arn, account))) {
            Some((arn, account)) => Ok(Identity {
                account: account.to_string(),
                partition: partition_of(arn).to_string(),
                region: self.region.clone(),
            }),
            None => self.identity().await,
        }
    }
}

/// Does ahead of time what the first HTTP connector of a process does once (loading and
/// decoding the system's root certificates: ~10 ms), so that it is done by the time Terraform
/// configures the provider rather than while Terraform waits for it. The connector itself is
/// dropped; building one makes no call.
pub async fn warm_up() {
    let _ = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
        .validate_base_client_config(
            &RuntimeComponentsBuilder::new("unifiedetl-warm-up"),
            &ConfigBag::base(),
        );
}

/// An AWS failure, flattened to what the components need: the service's error code (for
/// classification) and a readable message with the whole cause chain.
#[derive(Debug, Clone)]
pub struct AwsError {
    pub code: Option<String>,
    pub message: String,
}

/// An error with what was being done to which component in front of its cause, in
/// terraform-provider-aws's wording: "creating Kinesis stream (orders-cdc): …".
pub fn context(verb: &str, component: &str, name: &str, err: AwsError) -> AwsError {
    AwsError {
        message: format!("{verb} {component} ({name}): {}", err.message),
        ..err
    }
}

impl AwsError {
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("ResourceNotFoundException" | "NoSuchEntity" | "NoSuchEntityException")
        )
    }

    pub fn code_is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    pub fn other(message: impl Into<String>) -> AwsError {
        AwsError {
            code: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for AwsError {}

impl<E, R> From<SdkError<E, R>> for AwsError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    fn from(err: SdkError<E, R>) -> AwsError {
        if let Some(explained) = explain::explain(&err) {
            return explained;
        }
        let code = err.code().map(str::to_string);
        let message = match (err.code(), err.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_string(),
            _ => aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
        };
        AwsError { code, message }
    }
}

pub type AwsResult<T> = Result<T, AwsError>;

/// What a finder expects to find, which decides how it spends calls on a component that
/// takes more than one call to read (a description and its tags, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A component the pipeline already has: every call at once, one round.
    Present,
    /// A component an apply is about to create: asked for first, the rest read only if it
    /// exists after all (fewer calls when it does not, one more round when it does).
    Absent,
}

impl Expect {
    /// `Present` for a component the prior state records, else `Absent`.
    pub fn from_ours(ours: bool) -> Expect {
        if ours {
            Expect::Present
        } else {
            Expect::Absent
        }
    }
}

/// Turns a not-found error into `None`, the finders' convention.
pub fn found<T>(result: AwsResult<T>) -> AwsResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.is_not_found() => Ok(None),
        Err(err) => Err(err),
    }
}

/// Treats not-found as success, the delete functions' convention.
pub fn gone(result: AwsResult<()>) -> AwsResult<()> {
    match result {
        Err(err) if err.is_not_found() => Ok(()),
        other => other,
    }
}

/// The account id inside an ARN (`arn:aws:iam::123456789012:role/x` → `123456789012`).
pub fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// The partition inside an ARN (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition_of(arn: &str) -> &str {
    arn.split(':').nth(1).unwrap_or("aws")
}

/// The partition a region is in.
pub fn partition_of_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_and_partition_come_from_the_arn() {
        let arn = "arn:aws-cn:iam::123456789012:role/orders-persist";
        assert_eq!(account_of(arn), Some("123456789012"));
        assert_eq!(partition_of(arn), "aws-cn");
        assert_eq!(account_of("arn:aws:s3:::bucket"), None);
    }
}
