//! The provider itself: its configuration block, and the shared AWS clients it builds once at
//! configure time for every resource to use.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeType, Block, Description, Schema};
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{AttributePath, Diagnostics, DynamicResource, Provider};

use crate::aws::{http_client, Aws, SharedAws};
use crate::pipeline::Pipeline;
use crate::schema::{optional, string_map};

/// The provider block as Terraform sends it.
#[derive(Serialize, Deserialize, Default)]
pub struct ProviderConfig {
    #[serde(default)]
    pub region: Value<String>,
    #[serde(default)]
    pub profile: Value<String>,
    #[serde(default)]
    pub endpoint_url: Value<String>,
    #[serde(default)]
    pub default_tags: Value<BTreeMap<String, Value<String>>>,
    #[serde(default)]
    pub max_retries: Value<i64>,
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
            ("default_tags", optional(string_map(),
                "Tags added to every component of every pipeline this provider manages; a pipeline's own `tags` win on conflicts.")),
            ("max_retries", optional(AttributeType::Number,
                "How many times a throttled or failed AWS call is retried (standard retry mode, exponential back-off with jitter). Default `10`.")),
        ];
        Some(Schema {
            version: 1,
            block: Block {
                version: 1,
                attributes: attributes
                    .into_iter()
                    .map(|(name, attr)| (name.to_string(), attr))
                    .collect(),
                blocks: HashMap::new(),
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
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http_client());
        if let Value::Value(region) = config.region {
            loader = loader.region(aws_config::Region::new(region));
        }
        if let Value::Value(profile) = config.profile {
            loader = loader.profile_name(profile);
        }
        if let Value::Value(url) = config.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let retries = config
            .max_retries
            .unwrap_or(DEFAULT_MAX_RETRIES)
            .clamp(0, 100) as u32;
        loader = loader.retry_config(
            aws_config::retry::RetryConfig::standard().with_max_attempts(retries + 1),
        );
        let sdk_config = loader.load().await;
        if sdk_config.region().is_none() {
            diags.error(
                "no AWS region",
                "set `region` in the provider block, or AWS_REGION in the environment",
                AttributePath::new("region"),
            );
            return Some(());
        }
        let default_tags = match config.default_tags {
            Value::Value(tags) => tags
                .into_iter()
                .filter_map(|(k, v)| v.as_option().map(|v| (k, v)))
                .collect(),
            _ => BTreeMap::new(),
        };
        self.aws.set(Aws::new(&sdk_config, default_tags));
        // The plan needs the function package's hash: read it while Terraform reads the state.
        crate::artifact::prefetch_bundled();
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
