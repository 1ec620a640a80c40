//! A block of the pipeline that hangs off its core (streams, sink, persist): what such a block
//! implements to own its whole life in one module under `blocks/`, and what the orchestrator
//! hands it at each step. The orchestrator walks [`super::blocks::BLOCKS`]:
//!
//! 1. validate and plan ([`Block::validate`], [`Block::plan`]): its defaults, derived names and
//!    ARNs into the planned state;
//! 2. apply ([`Block::apply`]): its components brought to the plan, concurrently with the core;
//!    it awaits what it needs of the core ([`Core`]: the CDC stream's ARN, …), not a phase,
//!    and hands back what to record ([`Applied`]); parts renamed, or the whole block removed,
//!    go once the new ones are up;
//! 3. refresh ([`Block::refresh`]): its components read back, concurrently with the core's;
//! 4. import ([`Block::import`], [`Block::adopted`]) and, after a failed apply, what it made but
//!    could not record ([`Block::leftovers`]);
//! 5. destroy ([`Block::refuses_destroy`] before anything goes, then [`Block::destroy`]).
//!
//! Adding a block touches, besides its own module (schema included, [`Block::schema`]):
//! `blocks.rs` (its registration), `state.rs` (its field and state struct) and the docs
//! template.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::{BoxFuture, Shared};
use tf_provider::schema::NestedBlock;
use tf_provider::Diagnostics;

use super::owner::{Adopted, Owner};
use super::state::PipelineState;
use crate::aws::kinesis::StreamSpec;
use crate::aws::tags::PIPELINE_TAG;
use crate::aws::{Aws, AwsResult, Identity};

/// A change a block makes to the state, applied once every part has answered.
pub type Record = Box<dyn FnOnce(&mut PipelineState) + Send + Sync>;

/// What the core offers the blocks at apply.
pub struct Core<'a> {
    pub aws: &'a Aws,
    /// The pipeline and what an import adopted.
    pub owner: &'a Owner,
    pub tags: &'a BTreeMap<String, String>,
    /// How long each wait may take (the `timeouts` block's create or update).
    pub timeout: Duration,
    /// The account, for the default names of the prior state's components.
    pub account: &'a str,
    /// The CDC stream as planned.
    pub cdc: &'a StreamSpec,
    /// The CDC stream's ARN once it is up; `None` when it could not be brought up (its own
    /// error says why).
    pub cdc_arn: Shared<BoxFuture<'a, Option<String>>>,
}

/// What a block's apply came to: the ids to record, and what went wrong (one sentence each,
/// naming the component).
#[derive(Default)]
pub struct Applied {
    pub record: Option<Record>,
    pub errors: Vec<String>,
}

/// What a block's refresh read: its part of the state as AWS reports it, and whether any of its
/// components still exists.
pub struct Refreshed {
    pub record: Record,
    pub exists: bool,
}

/// What a destroy hands each block.
pub struct Destroying<'a> {
    pub aws: &'a Aws,
    pub account: &'a str,
    /// What an import named: the pipeline's whatever its tags or names.
    pub adopted: &'a Adopted,
    pub timeout: Duration,
}

/// One key of an import's component map: the key, what it names, and the kind of component
/// ([`super::owner`]'s kinds).
pub struct ImportKey {
    pub key: &'static str,
    pub what: &'static str,
    pub kind: &'static str,
}

/// A parsed import ID.
#[derive(Debug, PartialEq)]
pub struct ImportId {
    pub name: String,
    /// Component names given in a map (empty for an import by name).
    pub components: BTreeMap<String, String>,
}

impl ImportId {
    pub fn by_map(&self) -> bool {
        !self.components.is_empty()
    }

    /// The component a map names under `key`, else its default name.
    pub fn get(&self, key: &str, default: impl FnOnce() -> String) -> String {
        self.components.get(key).cloned().unwrap_or_else(default)
    }
}

/// An import under way: what the ID names, and what was looked for (for the error when
/// nothing is found).
pub struct Importing<'a> {
    pub aws: &'a Aws,
    pub identity: &'a Identity,
    pub id: &'a ImportId,
    pub looked: std::sync::Mutex<Vec<String>>,
}

impl Importing<'_> {
    /// Notes a component looked for (finders run at once: they note before their first call).
    pub fn note(&self, what: &str, name: &str) {
        if let Ok(mut looked) = self.looked.lock() {
            looked.push(format!("{what} \"{name}\""));
        }
    }

    /// What was looked for, in the order noted.
    pub fn looked(&self) -> String {
        self.looked.lock().map(|l| l.join(", ")).unwrap_or_default()
    }

    /// Checks that a component found by its default name belongs to the pipeline (one a map
    /// names is adopted whatever its tags).
    pub fn owned(
        &self,
        what: &str,
        name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let pipeline = &self.id.name;
        if self.id.by_map() {
            return Ok(());
        }
        match tags.get(PIPELINE_TAG) {
            Some(owner) if owner == pipeline => Ok(()),
            Some(owner) => Err(format!("{what} \"{name}\" belongs to pipeline \"{owner}\", not \"{pipeline}\": import that pipeline, or name this one's components in a map")),
            None => Err(format!("{what} \"{name}\" has no `{PIPELINE_TAG}` tag, so it was not made as part of pipeline \"{pipeline}\": import it with a component map (`name={pipeline},cdc_stream=…`), which adopts components whatever their tags")),
        }
    }
}

/// Whether a component found by name is the pipeline's: `(kind, name, tags)`.
pub type Ours<'a> = dyn Fn(&str, &str, &BTreeMap<String, String>) -> bool + Sync + 'a;

#[async_trait]
pub trait Block: Sync {
    /// The block's name in the configuration (`source`, …).
    fn name(&self) -> &'static str;

    /// The block's schema: every attribute, its default and what a change to it does.
    fn schema(&self) -> NestedBlock;

    /// The keys of an import's component map that name this block's components.
    fn import_keys(&self) -> &'static [ImportKey];

    /// Plan-time checks of the block's configuration, each error on its attribute.
    fn validate(&self, config: &PipelineState, diags: &mut Diagnostics);

    /// The block as planned (defaults, derived names, ARNs) into `planned`; what cannot be
    /// planned is an error on its attribute.
    fn plan(
        &self,
        config: &PipelineState,
        prior: Option<&PipelineState>,
        identity: &Identity,
        planned: &mut PipelineState,
        diags: &mut Diagnostics,
    );

    /// Brings the block's components to `planned` (`config` tells what the user left to the
    /// pipeline), and removes those `prior` had that the plan no longer names.
    async fn apply(
        &self,
        core: &Core<'_>,
        planned: &PipelineState,
        config: &PipelineState,
        prior: Option<&PipelineState>,
    ) -> Applied;

    /// Reads the components `prior` names.
    async fn refresh(&self, aws: &Aws, prior: &PipelineState) -> AwsResult<Refreshed>;

    /// Finds the block's components for an import, into `state`; whether any was found.
    async fn import(
        &self,
        importing: &mut Importing<'_>,
        state: &mut PipelineState,
    ) -> Result<bool, String>;

    /// Adds the components of an imported `state` that exist to `adopted`.
    async fn adopted(
        &self,
        aws: &Aws,
        state: &PipelineState,
        adopted: &mut Adopted,
    ) -> Result<(), String>;

    /// After a failed apply: the ids of what the block made but could not record, found by
    /// name and kept when [`Ours`] says so.
    async fn leftovers(
        &self,
        aws: &Aws,
        identity: &Identity,
        state: &mut PipelineState,
        ours: &Ours<'_>,
    ) -> AwsResult<()>;

    /// Why the destroy must stop before anything is deleted (data a user would lose), if so.
    async fn refuses_destroy(&self, d: &Destroying<'_>, state: &PipelineState) -> Option<String>;

    /// Deletes the block's components.
    async fn destroy(&self, d: &Destroying<'_>, state: &PipelineState) -> Vec<String>;
}
