//! `unifiedetl_pipeline`: the composite resource. It validates and plans the configuration,
//! then hands each lifecycle step to [`apply`] and [`read`], which orchestrate the component
//! modules; it never calls the SDK itself.

mod apply;
mod block;
mod blocks;
mod import;
mod leftovers;
mod names;
mod owner;
mod plan;
mod read;
mod roles;
mod state;
mod timeouts;
mod values;

use async_trait::async_trait;
use tf_provider::schema::{AttributeType, Block, Description, Schema};
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{AttributePath, Diagnostics, Resource};

use std::sync::Arc;

use crate::aws::{Aws, Identity, SharedAws};
use crate::schema::{computed, optional, required, string_map};
use crate::wait;
use apply::{Desired, Outcome};
use blocks::{analytics, monitoring, persist, sink, streams, BLOCKS};
use owner::Adopted;
pub use state::PipelineState;

pub struct Pipeline {
    aws: SharedAws,
}

impl Pipeline {
    pub fn new(aws: SharedAws) -> Pipeline {
        Pipeline { aws }
    }

    /// The caller's identity, from `known` (an ARN of the pipeline's CDC stream, which AWS
    /// reported or the plan built from the identity) when it is one, else from STS.
    async fn identity_of(
        aws: &Aws,
        known: &Value<String>,
        diags: &mut Diagnostics,
    ) -> Option<Identity> {
        match aws
            .identity_or_from(known.as_ref_option().map(String::as_str))
            .await
        {
            Ok(identity) => Some(identity),
            Err(err) => {
                diags.root_error("cannot plan unifiedetl_pipeline", err.message);
                None
            }
        }
    }

    /// Re-plans with the final configuration (values unknown at plan time are known now) so
    /// that apply works from fully known settings.
    async fn resolve(
        &self,
        diags: &mut Diagnostics,
        planned: &PipelineState,
        config: &PipelineState,
        prior: Option<&PipelineState>,
    ) -> Option<(Arc<Aws>, PipelineState, Desired)> {
        let aws = self.aws.get(diags)?;
        let identity = Self::identity_of(&aws, &planned.cdc_stream.arn, diags).await?;
        let planned = plan::plan(config, prior, &aws.default_tags, &identity, diags);
        let managed = apply::Managed {
            dead_letter: config.persist.dead_letter_bucket.is_null(),
            reference: config.analytics.reference_bucket.is_null(),
        };
        match Desired::from_state(&planned, prior, &managed) {
            Ok(desired) => Some((aws, planned, desired)),
            Err(message) => {
                diags.root_error("cannot apply unifiedetl_pipeline", message);
                None
            }
        }
    }
}

impl Pipeline {
    /// After an apply that failed (or was interrupted), the components it made whose ids it
    /// could not return (a wait that timed out or was interrupted, say) are looked up by name
    /// and tag and recorded too: the state holds everything that exists.
    async fn record_what_exists(
        aws: &Aws,
        state: PipelineState,
        out: &Outcome,
        owner: &owner::Owner,
    ) -> PipelineState {
        if out.errors.is_empty() {
            return state;
        }
        let arn = [
            &state.cdc_stream.arn,
            &state.sink.arn,
            &state.persist.role_arn,
        ]
        .into_iter()
        .find_map(|a| a.as_ref_option().cloned());
        let Ok(identity) = aws.identity_or_from(arn.as_deref()).await else {
            return state;
        };
        match leftovers::adopt(aws, &state, &identity, &owner.adopted).await {
            Ok(all) => all,
            Err(_) => state,
        }
    }
}

/// Warnings of an apply (what adopting components left as it was): one diagnostic holding
/// them all, sorted, as Terraform shows only the first of several similar ones.
fn warn(diags: &mut Diagnostics, name: &Value<String>, warnings: &[String]) {
    if warnings.is_empty() {
        return;
    }
    let name = name.as_ref_option().map(String::as_str).unwrap_or("?");
    let mut warnings = warnings.to_vec();
    warnings.sort();
    diags.root_warning(
        format!("unifiedetl_pipeline ({name}): adopted components keep what they had"),
        warnings.join("\n\n"),
    );
}

fn report(diags: &mut Diagnostics, verb: &str, name: &Value<String>, errors: &[String]) {
    let name = name.as_ref_option().map(String::as_str).unwrap_or("?");
    for error in errors {
        diags.root_error(
            format!("{verb} unifiedetl_pipeline ({name})"),
            error.clone(),
        );
    }
}

/// The resource schema: each block's own (the core's, then those of [`BLOCKS`]), and the
/// pipeline's attributes.
fn schema() -> Schema {
    let core = [
        ("cdc_stream", streams::schema("CDC (\"unified\")", "cdc")),
        ("enriched_stream", streams::schema("enriched", "enriched")),
        ("sink", sink::schema()),
        ("persist", persist::schema()),
        ("analytics", analytics::schema()),
        ("timeouts", timeouts::schema()),
    ];
    let blocks = core
        .into_iter()
        .chain(BLOCKS.iter().map(|block| (block.name(), block.schema())))
        .chain([("monitoring", monitoring::schema())])
        .map(|(name, block)| (name.to_string(), block))
        .collect();
    let attributes = [
        ("id", computed(AttributeType::String, "The pipeline's name.")),
        ("name", required(AttributeType::String, "The pipeline's name: 1 to 40 letters, digits, `-` or `_`, starting with a letter or digit. It prefixes every component's name (each can be overridden) and is the value of the `unifiedetl:pipeline` tag on every component.")),
        ("tags", optional(string_map(), "Tags for every component, merged over the provider's `default_tags`.")),
        ("tags_all", computed(string_map(), "The tags every component carries: `default_tags`, then `tags`, then `unifiedetl:pipeline = <name>`.")),
    ];
    Schema {
        version: 0,
        block: Block {
            version: 0,
            attributes: attributes
                .into_iter()
                .map(|(name, attr)| (name.to_string(), attr))
                .collect(),
            blocks,
            description: Description::markdown(
                "A real-time CDC pipeline managed as one unit: the CDC and enriched Kinesis streams, the DynamoDB sink, the persist function (Rust Lambda) with its IAM role and Kinesis event source mapping, and optionally the DMS source from MySQL, the analytics engine in that function (state table, reference data in S3) that joins the CDC records itself, and the Firehose data lake in S3.",
            ),
            deprecated: false,
        },
    }
}

#[async_trait]
impl Resource for Pipeline {
    type State<'a> = PipelineState;
    /// What an import adopted (see [`owner`]).
    type PrivateState<'a> = Option<Adopted>;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(schema())
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: PipelineState) -> Option<()> {
        plan::validate(&config, diags);
        Some(())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        state: PipelineState,
        private_state: Option<Adopted>,
        _meta: ValueEmpty,
    ) -> Option<(PipelineState, Option<Adopted>)> {
        let Some(aws) = self.aws.get(diags) else {
            return Some((state, private_state));
        };
        match read::refresh(&aws, &state).await {
            Ok(Some(fresh)) => Some((fresh, private_state)),
            Ok(None) => None,
            Err(err) => {
                report(diags, "reading", &state.name, &[err.message]);
                Some((state, private_state))
            }
        }
    }

    async fn plan_create<'a>(
        &self,
        diags: &mut Diagnostics,
        _proposed: PipelineState,
        config: PipelineState,
        _meta: ValueEmpty,
    ) -> Option<(PipelineState, Option<Adopted>)> {
        let aws = self.aws.get(diags)?;
        let identity = Self::identity_of(&aws, &Value::Null, diags).await?;
        let planned = plan::plan(&config, None, &aws.default_tags, &identity, diags);
        Some((planned, None))
    }

    async fn plan_update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: PipelineState,
        _proposed: PipelineState,
        config: PipelineState,
        prior_private: Option<Adopted>,
        _meta: ValueEmpty,
    ) -> Option<(PipelineState, Option<Adopted>, Vec<AttributePath>)> {
        let aws = self.aws.get(diags)?;
        // After a refresh the stream's ARN is what AWS reported: no STS call.
        let identity = Self::identity_of(&aws, &prior.cdc_stream.arn, diags).await?;
        let planned = plan::plan(&config, Some(&prior), &aws.default_tags, &identity, diags);
        let replace = plan::requires_replace(&prior, &planned);
        plan::warn_of_lost_rows(&prior, &planned, diags);
        Some((planned, prior_private, replace))
    }

    async fn plan_destroy<'a>(
        &self,
        _diags: &mut Diagnostics,
        _prior: PipelineState,
        prior_private: Option<Adopted>,
        _meta: ValueEmpty,
    ) -> Option<Option<Adopted>> {
        Some(prior_private)
    }

    async fn create<'a>(
        &self,
        diags: &mut Diagnostics,
        planned: PipelineState,
        config: PipelineState,
        planned_private: Option<Adopted>,
        _meta: ValueEmpty,
    ) -> Option<(PipelineState, Option<Adopted>)> {
        let (aws, planned, mut desired) = self.resolve(diags, &planned, &config, None).await?;
        desired.owner.adopted = planned_private.clone().unwrap_or_default();
        // Boxed: the whole apply is one large future (every component's steps), too large for a
        // worker thread's stack in debug builds.
        // Every wait and retry inside ends by the `timeouts` block's `create`.
        let deadline = desired.timeouts.create;
        let (out, applied) = Box::pin(wait::with_deadline(
            deadline,
            apply::converge_and_watch(&aws, &desired, &planned, &config, None),
        ))
        .await;
        report(diags, "creating", &planned.name, &out.errors);
        warn(diags, &planned.name, &desired.owner.take_warnings());
        let state = Self::record_what_exists(&aws, applied, &out, &desired.owner).await;
        Some((state, planned_private))
    }

    async fn update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: PipelineState,
        planned: PipelineState,
        config: PipelineState,
        planned_private: Option<Adopted>,
        _meta: ValueEmpty,
    ) -> Option<(PipelineState, Option<Adopted>)> {
        let (aws, planned, mut desired) =
            self.resolve(diags, &planned, &config, Some(&prior)).await?;
        desired.owner.adopted = planned_private.clone().unwrap_or_default();
        let deadline = desired.timeouts.update;
        let (out, applied) = Box::pin(wait::with_deadline(
            deadline,
            apply::converge_and_watch(&aws, &desired, &planned, &config, Some(&prior)),
        ))
        .await;
        report(diags, "updating", &planned.name, &out.errors);
        warn(diags, &planned.name, &desired.owner.take_warnings());
        let state = Self::record_what_exists(&aws, applied, &out, &desired.owner).await;
        Some((state, planned_private))
    }

    async fn destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: PipelineState,
        planned_private: Option<Adopted>,
        _meta: ValueEmpty,
    ) -> Option<()> {
        let aws = self.aws.get(diags)?;
        let identity = Self::identity_of(&aws, &prior.cdc_stream.arn, diags).await?;
        let deadline = timeouts::timeouts(&prior.timeouts).delete;
        let errors = Box::pin(wait::with_deadline(deadline, async {
            // What a failed apply made but could not record goes too.
            // And what an import named, whatever the state says of it.
            let adopted = planned_private.unwrap_or_default();
            match leftovers::adopt(&aws, &prior, &identity, &adopted).await {
                Ok(all) => apply::destroy(&aws, &all, &identity, &adopted).await,
                Err(e) => vec![e.message],
            }
        }))
        .await;
        report(diags, "deleting", &prior.name, &errors);
        Some(())
    }

    /// `terraform import` and `import {}` blocks: the ID is the pipeline's name, or a map of
    /// its components' names (see [`import`]). Terraform reads the state returned.
    async fn import<'a>(
        &self,
        diags: &mut Diagnostics,
        id: String,
    ) -> Option<(PipelineState, Option<Adopted>)> {
        let parsed = match import::parse_id(&id) {
            Ok(parsed) => parsed,
            Err(message) => {
                diags.root_error("invalid import ID", message);
                return None;
            }
        };
        let aws = self.aws.get(diags)?;
        let identity = Self::identity_of(&aws, &Value::Null, diags).await?;
        match Box::pin(import::adopt(&aws, &identity, &parsed)).await {
            Ok((state, adopted)) => Some((state, Some(adopted))),
            Err(message) => {
                diags.root_error("cannot import unifiedetl_pipeline", message);
                None
            }
        }
    }
}
