//! What an AWS failure means to the person running Terraform, in one or two sentences that
//! say what to do, with the component (added by [`super::context`]) and AWS's error code —
//! never the SDK's `Debug` output. The classes, worded after terraform-provider-aws's own
//! messages:
//!
//! - no credentials anywhere in the SDK's chain (the SDK fails before sending anything);
//! - an endpoint that cannot be reached, named (the configured one, or AWS's for the region);
//! - credentials AWS does not recognise, or whose session has expired;
//! - access denied, with AWS's message (it names the action and the resource);
//! - throttling that outlasted the retries (`max_retries`).
//!
//! The settings the messages name (endpoint, region, retries) are the provider
//! configuration's: each provider configuration runs in a plugin process of its own.

use std::error::Error as StdError;
use std::sync::RwLock;

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::AwsError;

/// The provider configuration the messages refer to.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `endpoint_url` when set: every service is reached there…
    pub endpoint: Option<String>,
    /// …but those of `endpoints`, by the AWS provider's service names.
    pub endpoints: std::collections::BTreeMap<String, String>,
    pub region: String,
    pub max_retries: u32,
}

static SETTINGS: RwLock<Option<Settings>> = RwLock::new(None);

/// Records the provider's configuration for the messages (at configure time).
pub fn configure(settings: Settings) {
    if let Ok(mut guard) = SETTINGS.write() {
        *guard = Some(settings);
    }
}

fn settings() -> Settings {
    SETTINGS
        .read()
        .ok()
        .and_then(|s| s.clone())
        .unwrap_or_default()
}

/// The service a call of the SDK's error type `E` went to: its name in messages and its
/// key in `endpoints` (also its endpoint's host prefix, but for CloudWatch's), read off the
/// crate the type comes from.
fn service_of<E>() -> (&'static str, &'static str) {
    let path = std::any::type_name::<E>();
    let krate = path.split("::").next().unwrap_or_default();
    match krate {
        "aws_sdk_kinesis" => ("Kinesis", "kinesis"),
        "aws_sdk_dynamodb" => ("DynamoDB", "dynamodb"),
        "aws_sdk_lambda" => ("Lambda", "lambda"),
        "aws_sdk_iam" => ("IAM", "iam"),
        "aws_sdk_s3" => ("S3", "s3"),
        "aws_sdk_sts" => ("STS", "sts"),
        "aws_sdk_firehose" => ("Firehose", "firehose"),
        "aws_sdk_databasemigration" => ("DMS", "dms"),
        "aws_sdk_kinesisanalytics" => ("Kinesis Analytics", "kinesisanalytics"),
        "aws_sdk_cloudwatch" => ("CloudWatch", "cloudwatch"),
        "aws_sdk_cloudwatchlogs" => ("CloudWatch Logs", "logs"),
        "aws_sdk_sns" => ("SNS", "sns"),
        _ => ("AWS", "sts"),
    }
}

/// Where the service is reached: its own endpoint, the configured one, or AWS's regional one.
fn endpoint(settings: &Settings, key: &str) -> String {
    if let Some(url) = settings.endpoints.get(key) {
        return url.clone();
    }
    match &settings.endpoint {
        Some(url) => url.clone(),
        None if key == "iam" => "https://iam.amazonaws.com".to_string(),
        None => {
            let host = if key == "cloudwatch" {
                "monitoring"
            } else {
                key
            };
            format!("https://{host}.{}.amazonaws.com", settings.region)
        }
    }
}

/// Whether the service is reached on this machine (the local emulator).
fn is_local_for(settings: &Settings, key: &str) -> bool {
    is_local(&endpoint(settings, key))
}

/// Every error in `err`'s source chain, outermost first.
fn chain_of<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| e.source()).collect()
}

/// What the SDK's credentials chain said when it could not give the request credentials,
/// if that is why the request was not sent: `None` when credentials were not the problem.
fn credentials_failure(chain: &[&(dyn StdError + 'static)]) -> Option<Credentials> {
    for err in chain {
        if let Some(creds) = err.downcast_ref::<CredentialsError>() {
            return Some(match creds {
                CredentialsError::CredentialsNotLoaded(_) => Credentials::None,
                _ => Credentials::Failed(reason_of(
                    &chain_of(creds)
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>(),
                )),
            });
        }
    }
    // No credentials provider configured at all: no identity resolver for SigV4.
    chain
        .iter()
        .any(|e| e.to_string().contains("no identity resolver"))
        .then_some(Credentials::None)
}

/// Why a request had no credentials.
enum Credentials {
    /// Nothing in the chain had any.
    None,
    /// A source was configured but failed (an assumed role, SSO, a process): its words.
    Failed(String),
}

/// The innermost cause of a connection failure, as the operating system or resolver said it.
fn reason_of(texts: &[String]) -> String {
    texts
        .iter()
        .rev()
        .find(|t| !t.is_empty())
        .cloned()
        .unwrap_or_else(|| "no answer".to_string())
}

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
];

const EXPIRED: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "TokenRefreshRequired",
];

const UNRECOGNISED: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
];

const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
];

/// `err` explained, when it is one of the classes above; `None` leaves it to the caller's
/// general rendering (the service's code and message).
pub fn explain<E, R>(err: &SdkError<E, R>) -> Option<AwsError>
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let (service, prefix) = service_of::<E>();
    let settings = settings();
    let with = |code: &str, message: String| {
        Some(AwsError {
            code: Some(code.to_string()),
            message,
        })
    };
    match err {
        SdkError::DispatchFailure(failure) => {
            let chain = failure
                .as_connector_error()
                .map(|e| chain_of(e as &(dyn StdError + 'static)))
                .unwrap_or_default();
            let texts: Vec<String> = chain.iter().map(|e| e.to_string()).collect();
            match credentials_failure(&chain) {
                Some(Credentials::None) => return with(
                    "NoCredentialProviders",
                    "no valid credential sources found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, name a profile (`profile` in the provider block, or AWS_PROFILE), or run where a role's credentials are available (web identity, SSO, a container or instance role)".to_string(),
                ),
                Some(Credentials::Failed(why)) => return with(
                    "CredentialsUnavailable",
                    format!("the configured credential source could not give credentials ({why}). Check `assume_role`, the profile or the credential process it names"),
                ),
                None => {}
            }
            if failure.is_io() || failure.is_timeout() || failure.is_other() {
                let url = endpoint(&settings, prefix);
                let reason = reason_of(&texts);
                let hint = if reason.contains("certificate") {
                    "If the endpoint or a proxy on the way uses a private certificate authority, name its PEM bundle in `custom_ca_bundle` (or AWS_CA_BUNDLE)"
                } else if is_local_for(&settings, prefix) {
                    "Is the local emulator running? Start it with `make emulator`"
                } else {
                    "Check `endpoint_url`, the region and the network (a proxy, a firewall)"
                };
                return with(
                    "EndpointUnreachable",
                    format!("could not reach the {service} endpoint {url} ({reason}). {hint}"),
                );
            }
            None
        }
        SdkError::TimeoutError(_) => with(
            "RequestTimeout",
            format!(
                "the {service} endpoint {} did not answer in time. Check the network, or run again",
                endpoint(&settings, prefix)
            ),
        ),
        SdkError::ServiceError(_) => {
            let code = err.code()?;
            let aws = err.message().unwrap_or_default();
            if EXPIRED.contains(&code) {
                with(
                    code,
                    format!("{code}: the AWS credentials have expired ({aws}). Refresh them (`aws sso login`, or new session credentials) and run again"),
                )
            } else if UNRECOGNISED.contains(&code) {
                with(
                    code,
                    format!("{code}: AWS does not recognise the credentials ({aws}). Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the profile in use"),
                )
            } else if DENIED.contains(&code) {
                with(
                    code,
                    format!("{code}: {aws}. The caller's policies must allow that action: grant it, or use a role or profile that has it"),
                )
            } else if THROTTLING.contains(&code)
                || (code == "LimitExceededException" && aws.contains("Rate exceeded"))
            {
                with(
                    code,
                    format!(
                        "{code}: AWS went on throttling the call after {} retries ({aws}). Raise `max_retries` in the provider block, or run again when the account's API use is lower",
                        settings.max_retries
                    ),
                )
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A loopback endpoint: the local emulator's.
fn is_local(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    host == "localhost" || host.starts_with("127.") || rest.starts_with("[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_named_from_the_error_type() {
        assert_eq!(
            service_of::<aws_sdk_kinesis::operation::create_stream::CreateStreamError>(),
            ("Kinesis", "kinesis")
        );
        assert_eq!(
            service_of::<aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError>(),
            ("STS", "sts")
        );
    }

    #[test]
    fn the_endpoint_is_the_configured_one_or_aws_regional_one() {
        let mut s = Settings {
            region: "eu-west-1".into(),
            max_retries: 10,
            ..Settings::default()
        };
        assert_eq!(
            endpoint(&s, "kinesis"),
            "https://kinesis.eu-west-1.amazonaws.com"
        );
        assert_eq!(endpoint(&s, "iam"), "https://iam.amazonaws.com");
        s.endpoint = Some("http://127.0.0.1:4566".into());
        assert_eq!(endpoint(&s, "kinesis"), "http://127.0.0.1:4566");
        s.endpoints
            .insert("kinesis".into(), "http://127.0.0.1:4567".into());
        assert_eq!(endpoint(&s, "kinesis"), "http://127.0.0.1:4567");
        assert_eq!(endpoint(&s, "lambda"), "http://127.0.0.1:4566");
        assert!(is_local("http://127.0.0.1:4566"));
        assert!(is_local("http://localhost:4566/"));
        assert!(!is_local(
            "https://vpce-1.kinesis.eu-west-1.vpce.amazonaws.com"
        ));
    }
}
