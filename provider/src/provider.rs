//! The provider itself: its configuration block, and the shared AWS clients it builds once at
//! configure time for every resource to use.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeType, Block, Description, NestedBlock, Schema};
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{AttributePath, Diagnostics, DynamicResource, Provider};

use crate::aws::network::Network;
use crate::aws::{Aws, SharedAws};
use crate::pipeline::Pipeline;
use crate::schema::{block, optional, sensitive, string_list, string_map};

/// The provider block as Terraform sends it.
#[derive(Serialize, Deserialize, Default)]
pub struct ProviderConfig {
    #[serde(default)]
    pub region: Value<String>,
    #[serde(default)]
    pub profile: Value<String>,
    #[serde(default)]
    pub endpoint_url: Value<String>,
    #[serde(default, with = "tf_provider::value::serde_as_vec")]
    pub default_tags: Value<DefaultTags>,
    #[serde(default)]
    pub max_retries: Value<i64>,
    #[serde(default)]
    pub retry_mode: Value<String>,
    #[serde(default)]
    pub shared_config_files: Value<Vec<Value<String>>>,
    #[serde(default)]
    pub shared_credentials_files: Value<Vec<Value<String>>>,
    #[serde(default)]
    pub allowed_account_ids: Value<Vec<Value<String>>>,
    #[serde(default)]
    pub forbidden_account_ids: Value<Vec<Value<String>>>,
    #[serde(default, with = "tf_provider::value::serde_as_vec")]
    pub assume_role: Value<AssumeRole>,
    /// Service name → endpoint.
    #[serde(default, with = "tf_provider::value::serde_as_vec")]
    pub endpoints: Value<BTreeMap<String, Value<String>>>,
    #[serde(default)]
    pub http_proxy: Value<String>,
    #[serde(default)]
    pub https_proxy: Value<String>,
    #[serde(default)]
    pub no_proxy: Value<String>,
    #[serde(default)]
    pub custom_ca_bundle: Value<String>,
    #[serde(default, with = "tf_provider::value::serde_as_vec")]
    pub ignore_tags: Value<IgnoreTags>,
    #[serde(default, with = "tf_provider::value::serde_as_vec")]
    pub assume_role_with_web_identity: Value<WebIdentityRole>,
    #[serde(default)]
    pub skip_credentials_validation: Value<bool>,
    #[serde(default)]
    pub skip_requesting_account_id: Value<bool>,
}

/// The provider's `assume_role_with_web_identity` block, as the AWS provider's.
#[derive(Serialize, Deserialize, Default, Clone)]
pub struct WebIdentityRole {
    #[serde(default)]
    pub role_arn: Value<String>,
    #[serde(default)]
    pub web_identity_token: Value<String>,
    #[serde(default)]
    pub web_identity_token_file: Value<String>,
    #[serde(default)]
    pub session_name: Value<String>,
    #[serde(default)]
    pub duration: Value<String>,
}

/// The provider's `default_tags` block, as the AWS provider's.
#[derive(Serialize, Deserialize, Default, Clone)]
pub struct DefaultTags {
    #[serde(default)]
    pub tags: Value<BTreeMap<String, Value<String>>>,
}

/// The provider's `ignore_tags` block.
#[derive(Serialize, Deserialize, Default, Clone)]
pub struct IgnoreTags {
    #[serde(default)]
    pub keys: Value<Vec<Value<String>>>,
    #[serde(default)]
    pub key_prefixes: Value<Vec<Value<String>>>,
}

/// The services `endpoints` takes, by the AWS provider's names, with the variable the SDK reads
/// for each (`AWS_ENDPOINT_URL_<this>`).
const SERVICES: &[(&str, &str, &str)] = &[
    (
        "cloudwatch",
        "CloudWatch (alarms, dashboards)",
        "CLOUDWATCH",
    ),
    (
        "dms",
        "Database Migration Service",
        "DATABASE_MIGRATION_SERVICE",
    ),
    ("dynamodb", "DynamoDB", "DYNAMODB"),
    ("firehose", "Data Firehose", "FIREHOSE"),
    ("iam", "IAM", "IAM"),
    ("kinesis", "Kinesis Data Streams", "KINESIS"),
    (
        "kinesisanalytics",
        "Kinesis Data Analytics (SQL)",
        "KINESIS_ANALYTICS",
    ),
    ("lambda", "Lambda", "LAMBDA"),
    ("logs", "CloudWatch Logs", "CLOUDWATCH_LOGS"),
    ("s3", "S3", "S3"),
    ("sns", "SNS", "SNS"),
    ("sts", "STS (the caller's identity, `assume_role`)", "STS"),
];

/// The known entries of a string map.
fn known_map(map: &Value<BTreeMap<String, Value<String>>>) -> BTreeMap<String, String> {
    map.as_ref_option()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_ref_option().map(|v| (k.clone(), v.clone())))
                .collect()
        })
        .unwrap_or_default()
}

/// The provider's `assume_role` block, as the AWS provider's.
#[derive(Serialize, Deserialize, Default, Clone)]
pub struct AssumeRole {
    #[serde(default)]
    pub role_arn: Value<String>,
    #[serde(default)]
    pub session_name: Value<String>,
    #[serde(default)]
    pub external_id: Value<String>,
    #[serde(default)]
    pub duration: Value<String>,
    #[serde(default)]
    pub policy: Value<String>,
    #[serde(default)]
    pub tags: Value<BTreeMap<String, Value<String>>>,
}

/// The values of a list attribute that are known.
fn strings(list: &Value<Vec<Value<String>>>) -> Vec<String> {
    list.as_ref_option()
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_ref_option().cloned())
                .collect()
        })
        .unwrap_or_default()
}

/// `shared_config_files` and `shared_credentials_files` in place of the default files (each
/// kind's default stays when only the other kind is given); `None`: the defaults.
fn profile_files(config: &ProviderConfig) -> Option<EnvConfigFiles> {
    let configs = strings(&config.shared_config_files);
    let credentials = strings(&config.shared_credentials_files);
    if configs.is_empty() && credentials.is_empty() {
        return None;
    }
    let mut files = EnvConfigFiles::builder()
        .include_default_config_file(configs.is_empty())
        .include_default_credentials_file(credentials.is_empty());
    for file in configs {
        files = files.with_file(EnvConfigFileKind::Config, file);
    }
    for file in credentials {
        files = files.with_file(EnvConfigFileKind::Credentials, file);
    }
    Some(files.build())
}

/// `base` with the credentials of `role` assumed with `base`'s own (STS AssumeRole, refreshed
/// before they expire).
async fn assume(
    role: &AssumeRole,
    base: aws_config::SdkConfig,
    sts_endpoint: Option<&String>,
) -> aws_config::SdkConfig {
    let Some(arn) = role.role_arn.as_ref_option() else {
        return base;
    };
    // STS at `endpoints.sts` when set.
    let sts = match sts_endpoint {
        Some(url) => base.to_builder().endpoint_url(url).build(),
        None => base.clone(),
    };
    let mut provider = aws_config::sts::AssumeRoleProvider::builder(arn.clone()).configure(&sts);
    if let Some(name) = role.session_name.as_ref_option() {
        provider = provider.session_name(name.clone());
    }
    if let Some(id) = role.external_id.as_ref_option() {
        provider = provider.external_id(id.clone());
    }
    if let Some(length) = role
        .duration
        .as_ref_option()
        .and_then(|d| humantime::parse_duration(d).ok())
    {
        provider = provider.session_length(length);
    }
    if let Some(policy) = role.policy.as_ref_option() {
        provider = provider.policy(policy.clone());
    }
    if let Some(tags) = role.tags.as_ref_option() {
        provider = provider.tags(
            tags.iter()
                .filter_map(|(k, v)| v.as_ref_option().map(|v| (k.clone(), v.clone()))),
        );
    }
    let provider = provider.build().await;
    base.into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build()
}

/// `base` with the credentials of the web identity role (see [`crate::aws::web_identity`]),
/// each setting falling back to the variables the SDK's own web identity provider reads.
fn with_web_identity(
    role: &WebIdentityRole,
    base: aws_config::SdkConfig,
    sts_endpoint: Option<&String>,
) -> aws_config::SdkConfig {
    use crate::aws::web_identity::{Token, WebIdentity};
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let Some(role_arn) = role
        .role_arn
        .as_ref_option()
        .cloned()
        .or_else(|| var("AWS_ROLE_ARN"))
    else {
        return base;
    };
    let token = match (
        role.web_identity_token.as_ref_option(),
        role.web_identity_token_file.as_ref_option(),
    ) {
        (Some(token), _) => Token::Inline(token.clone()),
        (None, Some(file)) => Token::File(file.into()),
        (None, None) => Token::File(
            var("AWS_WEB_IDENTITY_TOKEN_FILE")
                .unwrap_or_default()
                .into(),
        ),
    };
    let mut sts = aws_sdk_sts::config::Builder::from(&base);
    if let Some(url) = sts_endpoint {
        sts = sts.endpoint_url(url);
    }
    let provider = WebIdentity {
        sts: aws_sdk_sts::Client::from_conf(sts.build()),
        role_arn,
        token,
        session_name: role
            .session_name
            .as_ref_option()
            .cloned()
            .or_else(|| var("AWS_ROLE_SESSION_NAME"))
            .unwrap_or_else(|| "unifiedetl".to_string()),
        duration: role
            .duration
            .as_ref_option()
            .and_then(|d| humantime::parse_duration(d).ok()),
    };
    base.into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build()
}

/// A role session's length as STS takes it: 15 minutes to 12 hours.
fn is_session_duration(text: &str) -> bool {
    humantime::parse_duration(text).is_ok_and(|d| (15 * 60..=12 * 3600).contains(&d.as_secs()))
}

/// Why `account` may not be acted in, given the provider's lists: the attribute and the
/// message naming both accounts; `None` when it may.
fn account_refused(
    account: &str,
    allowed: &[String],
    forbidden: &[String],
) -> Option<(&'static str, String)> {
    if !allowed.is_empty() && !allowed.iter().any(|a| a == account) {
        return Some((
            "allowed_account_ids",
            format!(
                "the credentials are for AWS account {account}, which `allowed_account_ids` ({}) does not list: use credentials (or a profile, or `assume_role`) for an allowed account, or add {account} to the list",
                allowed.join(", ")
            ),
        ));
    }
    if forbidden.iter().any(|f| f == account) {
        return Some((
            "forbidden_account_ids",
            format!(
                "the credentials are for AWS account {account}, which `forbidden_account_ids` lists: use credentials (or a profile, or `assume_role`) for another account"
            ),
        ));
    }
    None
}

#[derive(Default)]
pub struct UnifiedEtlProvider {
    aws: SharedAws,
}

const DEFAULT_MAX_RETRIES: i64 = 10;

#[async_trait]
impl Provider for UnifiedEtlProvider {
    type Config<'a> = ProviderConfig;
    type MetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        let attributes = [
            ("region", optional(AttributeType::String,
                "AWS region for every component, e.g. `us-east-1`. Falls back to `AWS_REGION`, `AWS_DEFAULT_REGION` and the shared config file, like every AWS tool.")),
            ("profile", optional(AttributeType::String,
                "Named profile from the shared AWS config and credentials files. Falls back to `AWS_PROFILE`. Credentials otherwise come from the standard AWS chain (environment, web identity, SSO, container and instance roles).")),
            ("endpoint_url", optional(AttributeType::String,
                "Endpoint for every AWS service, e.g. `http://127.0.0.1:4566` for the local emulator. Falls back to `AWS_ENDPOINT_URL` (and the service-specific `AWS_ENDPOINT_URL_<SERVICE>` variables).")),
            ("max_retries", optional(AttributeType::Number,
                "How many times a throttled or failed AWS call is retried (exponential back-off with jitter). Falls back to `AWS_MAX_ATTEMPTS` (less one). Default `10`.")),
            ("retry_mode", optional(AttributeType::String,
                "`standard` (the default) or `adaptive` (standard, plus client-side rate limiting once AWS throttles). Falls back to `AWS_RETRY_MODE`.")),
            ("shared_config_files", optional(string_list(),
                "Shared config files to read, in place of `~/.aws/config`. Falls back to `AWS_CONFIG_FILE`.")),
            ("shared_credentials_files", optional(string_list(),
                "Shared credentials files to read, in place of `~/.aws/credentials`. Falls back to `AWS_SHARED_CREDENTIALS_FILE`.")),
            ("allowed_account_ids", optional(string_list(),
                "The only AWS account IDs the provider may act in: with credentials for any other, every plan stops before calling anything else, naming both. Conflicts with `forbidden_account_ids`.")),
            ("forbidden_account_ids", optional(string_list(),
                "AWS account IDs the provider must not act in: with credentials for one of them, every plan stops, naming it. Conflicts with `allowed_account_ids`.")),
            ("http_proxy", optional(AttributeType::String,
                "URL of a proxy for HTTP requests to AWS (`http://` endpoints), e.g. `http://proxy.example.com:3128`. Falls back to `HTTP_PROXY` (or `http_proxy`).")),
            ("https_proxy", optional(AttributeType::String,
                "URL of a proxy for HTTPS requests to AWS, tunnelled with CONNECT, e.g. `http://proxy.example.com:3128`. Falls back to `HTTPS_PROXY` (or `https_proxy`).")),
            ("no_proxy", optional(AttributeType::String,
                "Comma-separated hosts, domains (`.internal`) and addresses (`10.0.0.0/8`) reached without a proxy. Falls back to `NO_PROXY` (or `no_proxy`).")),
            ("skip_credentials_validation", optional(AttributeType::Bool,
                "Skip asking STS who the caller is when Terraform configures the provider (an endpoint without STS). With it, the account comes from `skip_requesting_account_id`'s sources. Default `false`.")),
            ("skip_requesting_account_id", optional(AttributeType::Bool,
                "Never ask STS for the account: it is taken from `assume_role.role_arn`, else the one entry of `allowed_account_ids`, else a pipeline's ARNs in the state; a new pipeline's plan without any of these says so. Default `false`.")),
            ("custom_ca_bundle", optional(AttributeType::String,
                "Path of a PEM file of certificate authorities trusted besides the system's (a TLS-inspecting proxy's, a private endpoint's). Falls back to `AWS_CA_BUNDLE`.")),
        ];
        let web_identity = block(
            "Credentials from STS AssumeRoleWithWebIdentity: an OIDC token (a CI system's, a Kubernetes service account's) exchanged for a role's session. Used in place of the credentials chain; an `assume_role` block then assumes its role from this one.",
            vec![
                ("role_arn", optional(AttributeType::String, "The role's ARN. Falls back to `AWS_ROLE_ARN`. Required.")),
                ("web_identity_token", sensitive(optional(AttributeType::String, "The OIDC token itself. Conflicts with `web_identity_token_file`."))),
                ("web_identity_token_file", optional(AttributeType::String, "A file holding the OIDC token, read again at each refresh. Falls back to `AWS_WEB_IDENTITY_TOKEN_FILE`.")),
                ("session_name", optional(AttributeType::String, "The session's name. Falls back to `AWS_ROLE_SESSION_NAME`. Default `unifiedetl`.")),
                ("duration", optional(AttributeType::String, "How long the session lasts, `15m` to `12h`, e.g. `1h`. Default `1h`.")),
            ],
        );
        let endpoints = block(
            "Endpoints for single services, over `endpoint_url` (and the `AWS_ENDPOINT_URL_<SERVICE>` variables), e.g. `kinesis = \"https://vpce-0a1b.kinesis.us-east-1.vpce.amazonaws.com\"`.",
            SERVICES
                .iter()
                .map(|(name, service, var)| {
                    let text = format!(
                        "Endpoint for {service}. Over `endpoint_url`; else `AWS_ENDPOINT_URL_{var}` (over `AWS_ENDPOINT_URL`)."
                    );
                    (*name, optional(AttributeType::String, &text))
                })
                .collect(),
        );
        let default_tags = block(
            "Tags added to every component of every pipeline this provider manages, as the AWS provider's block: `default_tags { tags = { team = \"data\" } }`. A pipeline's own `tags` win on conflicts.",
            vec![("tags", optional(string_map(), "The tags."))],
        );
        let ignore_tags = block(
            "Tags other tools manage (a cost tagger, AWS Config): read back as if absent, so they never show as drift, and never removed.",
            vec![
                ("keys", optional(string_list(), "Tag keys to ignore, e.g. `[\"CostCenter\"]`.")),
                ("key_prefixes", optional(string_list(), "Prefixes of tag keys to ignore, e.g. `[\"config:\"]`.")),
            ],
        );
        let assume_role = block(
            "A role to assume (STS AssumeRole) with the credentials the provider found; every call is then made as that role, in its account.",
            vec![
                ("role_arn", optional(AttributeType::String, "The role's ARN. Required.")),
                ("session_name", optional(AttributeType::String, "The session's name (CloudTrail shows it). Default: one the SDK makes up.")),
                ("external_id", optional(AttributeType::String, "The external ID the role's trust policy asks for.")),
                ("duration", optional(AttributeType::String, "How long the session lasts, `15m` to `12h` (the role's maximum), e.g. `1h`. Default `1h`.")),
                ("policy", optional(AttributeType::String, "A JSON policy further restricting the session.")),
                ("tags", optional(string_map(), "Session tags.")),
            ],
        );
        Some(Schema {
            version: 1,
            block: Block {
                version: 1,
                attributes: attributes
                    .into_iter()
                    .map(|(name, attr)| (name.to_string(), attr))
                    .collect(),
                blocks: HashMap::from([
                    ("assume_role".to_string(), NestedBlock::Optional(assume_role)),
                    ("endpoints".to_string(), NestedBlock::Optional(endpoints)),
                    ("ignore_tags".to_string(), NestedBlock::Optional(ignore_tags)),
                    ("default_tags".to_string(), NestedBlock::Optional(default_tags)),
                    (
                        "assume_role_with_web_identity".to_string(),
                        NestedBlock::Optional(web_identity),
                    ),
                ]),
                description: Description::markdown(
                    "The unifiedetl provider manages `unifiedetl_pipeline`: a real-time MySQL CDC pipeline on AWS (DMS → Kinesis → enrichment → Kinesis → Lambda → DynamoDB) as one resource.",
                ),
                deprecated: false,
            },
        })
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: ProviderConfig) -> Option<()> {
        if let Value::Value(n) = config.max_retries {
            if !(0..=100).contains(&n) {
                diags.error(
                    "invalid max_retries",
                    format!("`max_retries` must be between 0 and 100 (got {n})"),
                    AttributePath::new("max_retries"),
                );
            }
        }
        if let Value::Value(mode) = &config.retry_mode {
            if mode != "standard" && mode != "adaptive" {
                diags.error(
                    "invalid retry_mode",
                    format!("`retry_mode` must be \"standard\" or \"adaptive\" (got \"{mode}\")"),
                    AttributePath::new("retry_mode"),
                );
            }
        }
        let (allowed, forbidden) = (
            strings(&config.allowed_account_ids),
            strings(&config.forbidden_account_ids),
        );
        if !allowed.is_empty() && !forbidden.is_empty() {
            diags.error(
                "conflicting account lists",
                "set `allowed_account_ids` or `forbidden_account_ids`, not both",
                AttributePath::new("forbidden_account_ids"),
            );
        }
        for (attribute, ids) in [
            ("allowed_account_ids", &allowed),
            ("forbidden_account_ids", &forbidden),
        ] {
            for id in ids
                .iter()
                .filter(|id| id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()))
            {
                diags.error(
                    format!("invalid {attribute}"),
                    format!("`{attribute}` holds \"{id}\": an AWS account ID is 12 digits, e.g. \"123456789012\""),
                    AttributePath::new(attribute),
                );
            }
        }
        if let Value::Value(role) = &config.assume_role {
            let at = || AttributePath::new("assume_role").index(0);
            match role.role_arn.as_ref_option() {
                Some(arn) if arn.starts_with("arn:") && arn.contains(":role/") => {}
                Some(arn) => diags.error(
                    "invalid assume_role.role_arn",
                    format!("`assume_role.role_arn` must be a role's ARN, e.g. \"arn:aws:iam::123456789012:role/deploy\" (got \"{arn}\")"),
                    at().attribute("role_arn"),
                ),
                None if role.role_arn.is_null() => diags.error(
                    "missing assume_role.role_arn",
                    "`assume_role` needs `role_arn`, the ARN of the role to assume",
                    at().attribute("role_arn"),
                ),
                None => {}
            }
            if let Some(duration) = role.duration.as_ref_option() {
                if !is_session_duration(duration) {
                    diags.error(
                        "invalid assume_role.duration",
                        format!("`assume_role.duration` must be a duration from 15m to 12h, e.g. \"1h\" (got \"{duration}\")"),
                        at().attribute("duration"),
                    );
                }
            }
        }
        for (service, url) in known_map(&config.endpoints) {
            if !SERVICES.iter().any(|(name, _, _)| *name == service) {
                continue; // Terraform refuses unknown attributes itself.
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                diags.error(
                    "invalid endpoints",
                    format!(
                        "`endpoints.{service}` must start with http:// or https:// (got \"{url}\")"
                    ),
                    AttributePath::new("endpoints").index(0).attribute(service),
                );
            }
        }
        if let Value::Value(role) = &config.assume_role_with_web_identity {
            let at = || AttributePath::new("assume_role_with_web_identity").index(0);
            if role.web_identity_token.as_ref_option().is_some()
                && role.web_identity_token_file.as_ref_option().is_some()
            {
                diags.error(
                    "conflicting web identity tokens",
                    "set `assume_role_with_web_identity.web_identity_token` or `web_identity_token_file`, not both",
                    at().attribute("web_identity_token_file"),
                );
            }
            if let Some(duration) = role.duration.as_ref_option() {
                if !is_session_duration(duration) {
                    diags.error(
                        "invalid assume_role_with_web_identity.duration",
                        format!("`assume_role_with_web_identity.duration` must be a duration from 15m to 12h, e.g. \"1h\" (got \"{duration}\")"),
                        at().attribute("duration"),
                    );
                }
            }
        }
        if let Value::Value(url) = &config.endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                diags.error(
                    "invalid endpoint_url",
                    format!("`endpoint_url` must start with http:// or https:// (got \"{url}\"), e.g. \"http://127.0.0.1:4566\""),
                    AttributePath::new("endpoint_url"),
                );
            }
        }
        Some(())
    }

    async fn configure<'a>(
        &self,
        diags: &mut Diagnostics,
        _terraform_version: String,
        config: ProviderConfig,
    ) -> Option<()> {
        let network = Network::resolve(
            config.http_proxy.as_ref_option().cloned(),
            config.https_proxy.as_ref_option().cloned(),
            config.no_proxy.as_ref_option().cloned(),
            config.custom_ca_bundle.as_ref_option().cloned(),
        );
        let client = match network.client() {
            Ok(client) => client,
            Err((attribute, message)) => {
                diags.error(
                    format!("invalid {attribute}"),
                    message,
                    AttributePath::new(attribute),
                );
                return Some(());
            }
        };
        let endpoints = known_map(&config.endpoints);
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(client);
        if let Value::Value(region) = &config.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Value::Value(profile) = &config.profile {
            loader = loader.profile_name(profile);
        }
        if let Value::Value(url) = &config.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(files) = profile_files(&config) {
            loader = loader.profile_files(files);
        }
        // The arguments, else the variables every AWS tool reads, else the defaults.
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let retries = config
            .max_retries
            .as_ref_option()
            .copied()
            .or_else(|| {
                var("AWS_MAX_ATTEMPTS")
                    .and_then(|a| a.trim().parse::<i64>().ok())
                    .map(|attempts| attempts - 1)
            })
            .unwrap_or(DEFAULT_MAX_RETRIES)
            .clamp(0, 100) as u32;
        let mode = config
            .retry_mode
            .as_ref_option()
            .cloned()
            .or_else(|| var("AWS_RETRY_MODE"));
        let retry = match mode.as_deref().map(str::trim) {
            Some("adaptive") => aws_config::retry::RetryConfig::adaptive(),
            _ => aws_config::retry::RetryConfig::standard(),
        };
        loader = loader.retry_config(retry.with_max_attempts(retries + 1));
        let mut sdk_config = loader.load().await;
        if let Value::Value(role) = &config.assume_role_with_web_identity {
            sdk_config = with_web_identity(role, sdk_config, endpoints.get("sts"));
        }
        if let Value::Value(role) = &config.assume_role {
            sdk_config = assume(role, sdk_config, endpoints.get("sts")).await;
        }
        if sdk_config.region().is_none() {
            diags.error(
                "no AWS region",
                "set `region` in the provider block, or AWS_REGION in the environment",
                AttributePath::new("region"),
            );
            return Some(());
        }
        crate::aws::explain::configure(crate::aws::explain::Settings {
            // `endpoint_url`, or AWS_ENDPOINT_URL as the SDK read it.
            endpoint: sdk_config.endpoint_url().map(str::to_string),
            endpoints: endpoints.clone(),
            region: sdk_config
                .region()
                .map(|r| r.to_string())
                .unwrap_or_default(),
            max_retries: retries,
        });
        let default_tags = config
            .default_tags
            .as_ref_option()
            .map(|d| known_map(&d.tags))
            .unwrap_or_default();
        if let Value::Value(ignore) = &config.ignore_tags {
            crate::aws::tags::ignore(crate::aws::tags::Ignored {
                keys: strings(&ignore.keys),
                key_prefixes: strings(&ignore.key_prefixes),
            });
        }
        let named = config
            .assume_role
            .as_ref_option()
            .and_then(|r| r.role_arn.as_ref_option())
            .and_then(|arn| crate::aws::account_of(arn).map(str::to_string))
            .or_else(|| match strings(&config.allowed_account_ids).as_slice() {
                [only] => Some(only.clone()),
                _ => None,
            });
        let accounts = crate::aws::Accounts {
            skip_requesting: config.skip_requesting_account_id.unwrap_or(false),
            skip_validation: config.skip_credentials_validation.unwrap_or(false),
            named,
        };
        self.aws
            .set(Aws::new(&sdk_config, &endpoints, default_tags).with_accounts(accounts));
        // The plan needs the function package's hash: read it while Terraform reads the state.
        crate::artifact::prefetch_bundled();
        let allowed = strings(&config.allowed_account_ids);
        let forbidden = strings(&config.forbidden_account_ids);
        if !allowed.is_empty() || !forbidden.is_empty() {
            let aws = self.aws.get(diags)?;
            match aws.identity().await {
                Err(e) => diags.root_error("cannot check the AWS account", e.message),
                Ok(identity) => {
                    if let Some((attribute, message)) =
                        account_refused(&identity.account, &allowed, &forbidden)
                    {
                        diags.error(
                            "AWS account not allowed",
                            message,
                            AttributePath::new(attribute),
                        );
                    }
                }
            }
        }
        Some(())
    }

    fn get_resources(
        &self,
        _diags: &mut Diagnostics,
    ) -> Option<HashMap<String, Box<dyn DynamicResource>>> {
        // tf-provider prefixes the provider name: this is `unifiedetl_pipeline`.
        Some(tf_provider::map! {
            "pipeline" => Pipeline::new(self.aws.clone())
        })
    }
}
