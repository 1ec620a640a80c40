//! Apply-time orchestration: brings every block to the planned settings, following the
//! dependency graph and running independent components concurrently. Each block's parts are
//! its own module's (`blocks/`); this file says only what waits for what.
//!
//! ```text
//!   cdc stream ───────────────────────────────────────────────┐
//!   enriched stream ─────────────┐                            │
//!   sink table ──────────────────┤                            ├─▶ done
//!   role + policy ─▶ function ───┴─▶ event source mapping ────┘
//! ```
//! The role's policy names the stream and table by their deterministic ARNs (account from the
//! role's own ARN), so the role and the function do not wait for the stream and the table.
//! The analytics engine's state table and reference data come up beside them (the mapping
//! waits for them too); the SQL application once its streams are up; the blocks that hang off
//! the core ([`BLOCKS`]) once the CDC stream is.

use std::collections::BTreeMap;

use futures::FutureExt;
use tf_provider::value::Value;

use super::block::{Core, Destroying, Record};
use super::blocks::analytics::{self, sql, Analytics};
use super::blocks::persist::{self, Persist};
use super::blocks::{monitoring, sink, streams, BLOCKS};
use super::owner::{Adopted, Owner};
use super::state::{PipelineState, Str};
use super::timeouts::{timeouts, Timeouts};
use super::values::{known, need};
use crate::aws::dynamodb::TableSpec;
use crate::aws::kinesis::StreamSpec;
use crate::aws::lambda;
use crate::aws::{account_of, Aws, AwsResult, Identity};

/// Everything the planned state asks for, with every value known: each block's own desired
/// type.
pub struct Desired {
    /// The pipeline and what an import adopted (see [`super::owner`]).
    pub owner: Owner,
    pub cdc: StreamSpec,
    pub enriched: StreamSpec,
    pub table: TableSpec,
    pub persist: Persist,
    pub analytics: Analytics,
    pub timeouts: Timeouts,
    pub tags: BTreeMap<String, String>,
}

/// Which buckets the configuration leaves to the pipeline (it names none, so the pipeline
/// creates and deletes them).
pub struct Managed {
    pub dead_letter: bool,
    pub reference: bool,
}

impl Desired {
    /// The stream the function reads: the CDC stream when it runs the analytics engine, the
    /// enriched stream otherwise.
    pub fn source(&self) -> &StreamSpec {
        if self.analytics.engine.is_some() {
            &self.cdc
        } else {
            &self.enriched
        }
    }

    /// Reads the fully resolved planned state.
    pub fn from_state(
        s: &PipelineState,
        prior: Option<&PipelineState>,
        managed: &Managed,
    ) -> Result<Desired, String> {
        let tags: BTreeMap<String, String> = need(&s.tags_all, "tags_all")?
            .into_iter()
            .filter_map(|(k, v)| v.as_option().map(|v| (k, v)))
            .collect();
        Ok(Desired {
            owner: Owner::new(need(&s.name, "name")?, Adopted::default()),
            cdc: streams::spec(&s.cdc_stream, "cdc_stream", &tags)?,
            enriched: streams::spec(&s.enriched_stream, "enriched_stream", &tags)?,
            table: sink::spec(&s.sink, &tags)?,
            persist: Persist::from_state(s, managed.dead_letter)?,
            analytics: Analytics::from_state(s, prior, managed.reference, &tags)?,
            timeouts: timeouts(&s.timeouts),
            tags,
        })
    }
}

/// What exists after an apply: each block's recorded ids (`None` where a component could not
/// be brought up: the errors say why).
#[derive(Default)]
pub struct Outcome {
    pub cdc_arn: Option<String>,
    pub enriched_arn: Option<String>,
    pub table_arn: Option<String>,
    pub persist: persist::Recorded,
    pub analytics: analytics::Recorded,
    /// What the blocks ([`BLOCKS`]) record of their components.
    pub records: Vec<Record>,
    pub errors: Vec<String>,
}

impl Outcome {
    fn take<T>(&mut self, result: AwsResult<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(e.message);
                None
            }
        }
    }

    /// The state after an apply: the planned settings with the ids of what exists.
    pub fn record(&mut self, state: &mut PipelineState) {
        let id = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Value);
        state.cdc_stream.arn = id(&self.cdc_arn);
        state.enriched_stream.arn = id(&self.enriched_arn);
        state.sink.arn = id(&self.table_arn);
        self.persist.record(&mut state.persist);
        self.analytics.record(&mut state.analytics);
        for record in self.records.drain(..) {
            record(state);
        }
    }
}

/// Brings every component to `want`. `prior` is the state before an update (`None` on create).
pub async fn converge(
    aws: &Aws,
    want: &Desired,
    planned: &PipelineState,
    config: &PipelineState,
    prior: Option<&PipelineState>,
) -> Outcome {
    let ours = |arn: Option<&Str>| arn.is_some_and(known);
    let cdc_ours = ours(prior.map(|p| &p.cdc_stream.arn));
    let enriched_ours = ours(prior.map(|p| &p.enriched_stream.arn));
    let table_ours = ours(prior.map(|p| &p.sink.arn));
    let role_ours = prior.is_some_and(|p| {
        known(&p.persist.role_arn)
            && p.persist.role_name.as_ref_option() == Some(&want.persist.role_name)
    });
    let function_ours = prior.is_some_and(|p| {
        known(&p.persist.function_arn)
            && p.persist.function_name.as_ref_option() == Some(&want.persist.function_name)
    });
    let prior_uuid = prior.and_then(|p| p.persist.event_source_mapping_id.as_ref_option().cloned());
    let bucket_ours = prior.is_some_and(|p| {
        known(&p.persist.dead_letter_bucket_arn)
            && p.persist.dead_letter_bucket.as_ref_option()
                == Some(&want.persist.dead_letter.bucket)
    });

    let state_table_ours = prior.is_some_and(|p| {
        known(&p.analytics.state_table_arn)
            && want.analytics.engine.as_ref().map(|e| &e.state_table.name)
                == p.analytics.state_table.as_ref_option()
    });
    let reference_ours = prior.is_some_and(|p| {
        known(&p.analytics.reference_bucket_arn)
            && want.analytics.reference.as_ref().map(|r| &r.bucket)
                == p.analytics.reference_bucket.as_ref_option()
    });
    let prior_objects: Vec<String> = prior
        .and_then(|p| p.analytics.reference_objects.as_ref_option())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();

    // Every part starts as soon as the parts it needs are up, not when every part of a phase
    // is: those others need are shared futures, each run once, awaited by every part that
    // needs it and by the final join.
    let cdc = Box::pin(streams::ensure(aws, &want.cdc, cdc_ours, &want.owner)).shared();
    let enriched = Box::pin(streams::ensure(
        aws,
        &want.enriched,
        enriched_ours,
        &want.owner,
    ))
    .shared();
    let bucket = Box::pin(persist::ensure_dead_letter_bucket(
        aws,
        &want.persist,
        bucket_ours,
        &want.owner,
        &want.tags,
    ))
    .shared();
    let access = persist::Access {
        source: want.source(),
        table: &want.table.name,
        enriched: &want.enriched,
        engine: want.analytics.access(),
    };
    let role_then_function = Box::pin(async {
        // The function is looked up while its role is brought up: a round less on the way to
        // the mapping, the longest path of a first apply.
        let (role, found) = tokio::join!(
            persist::ensure_role(
                aws,
                &want.persist,
                &access,
                role_ours,
                &want.owner,
                &want.tags
            ),
            lambda::find_function_by_name(&aws.lambda, &want.persist.function_name)
        );
        let function = match (&role, found) {
            (Ok(role_arn), Ok(found)) => Some(
                persist::ensure_function(
                    aws,
                    &want.persist,
                    &want.owner,
                    &want.tags,
                    role_arn,
                    function_ours,
                    found,
                )
                .await,
            ),
            (Ok(_), Err(e)) => Some(Err(e)),
            (Err(_), _) => None,
        };
        (role, function)
    })
    .shared();
    let engine = Box::pin(async {
        tokio::join!(
            async {
                match &want.analytics.engine {
                    Some(engine) => Some(
                        sink::ensure_table(aws, &engine.state_table, state_table_ours, &want.owner)
                            .await,
                    ),
                    None => None,
                }
            },
            async {
                match &want.analytics.reference {
                    Some(reference) => Some(
                        analytics::ensure_reference(
                            aws,
                            &want.owner,
                            &want.tags,
                            reference,
                            reference_ours,
                            &prior_objects,
                        )
                        .await,
                    ),
                    None => None,
                }
            },
        )
    })
    .shared();
    let sql_role = Box::pin(async {
        match &want.analytics.sql {
            Some(app) => Some(
                sql::prepare(
                    aws,
                    app,
                    &sql::Streams {
                        cdc: &want.cdc,
                        enriched: &want.enriched,
                    },
                    want.analytics
                        .reference
                        .as_ref()
                        .map(|r| r.bucket_arn.as_str()),
                    &want.owner,
                    &want.tags,
                )
                .await,
            ),
            None => None,
        }
    })
    .shared();
    let timeout = if prior.is_some() {
        want.timeouts.update
    } else {
        want.timeouts.create
    };
    // The mapping reads its stream, invokes the function and sends what it gives up on to the
    // dead-letter bucket: it needs all three (and the engine its state and reference data).
    let mapping = async {
        let stream = if want.analytics.engine.is_some() {
            cdc.clone()
        } else {
            enriched.clone()
        };
        let (source, (_, function), bucket, (state_table, reference)) = tokio::join!(
            stream,
            role_then_function.clone(),
            bucket.clone(),
            engine.clone()
        );
        let engine_ready = want.analytics.engine.is_none()
            || (state_table.as_ref().is_some_and(Result::is_ok)
                && reference.as_ref().is_none_or(Result::is_ok));
        match (source, function, bucket) {
            (Ok(source), Some(Ok(function)), Ok(_)) if engine_ready => Some(
                persist::ensure_mapping(
                    aws,
                    &want.persist,
                    &source,
                    &function.version,
                    prior_uuid.as_deref(),
                )
                .await,
            ),
            _ => None,
        }
    };
    // The blocks that hang off the core: each awaits what it needs of it.
    let account = prior
        .and_then(|p| p.persist.role_arn.as_ref_option())
        .and_then(|arn| account_of(arn))
        .unwrap_or_default()
        .to_string();
    let core = Core {
        aws,
        owner: &want.owner,
        tags: &want.tags,
        timeout,
        account: &account,
        cdc: &want.cdc,
        cdc_arn: cdc.clone().map(Result::ok).boxed().shared(),
    };
    let blocks_done = futures::future::join_all(
        BLOCKS
            .iter()
            .map(|block| block.apply(&core, planned, config, prior)),
    );
    // The application reads the CDC stream and the reference objects, and writes its outputs
    // (the enriched stream, typically).
    let sql_done = async {
        let (sql_role, cdc, enriched, (_, reference)) = tokio::join!(
            sql_role.clone(),
            cdc.clone(),
            enriched.clone(),
            engine.clone()
        );
        match (&want.analytics.sql, sql_role, cdc, enriched) {
            (Some(app), Some(Ok(role_arn)), Ok(cdc_arn), Ok(_))
                if reference.as_ref().is_none_or(Result::is_ok) =>
            {
                Some(
                    Box::pin(sql::finish(
                        aws,
                        app,
                        &role_arn,
                        &cdc_arn,
                        want.analytics
                            .reference
                            .as_ref()
                            .map(|r| r.bucket_arn.as_str()),
                        &want.owner,
                        &want.tags,
                        timeout,
                    ))
                    .await,
                )
            }
            _ => None,
        }
    };
    let (
        (cdc, enriched, table, bucket),
        ((role, function), (state_table, reference), sql_role),
        (mapping, blocks_done, sql_done),
    ) = tokio::join!(
        async {
            tokio::join!(
                cdc.clone(),
                enriched.clone(),
                sink::ensure_table(aws, &want.table, table_ours, &want.owner),
                bucket.clone(),
            )
        },
        async { tokio::join!(role_then_function.clone(), engine.clone(), sql_role.clone()) },
        async { tokio::join!(mapping, blocks_done, sql_done) },
    );

    let mut out = Outcome::default();
    out.cdc_arn = out.take(cdc);
    out.enriched_arn = out.take(enriched);
    out.table_arn = out.take(table);
    out.persist.dead_letter_arn = out.take(bucket);
    out.persist.role_arn = out.take(role);
    if let Some(published) = function.and_then(|f| out.take(f)) {
        out.persist.function_arn = Some(published.function.arn);
        out.persist.function_version = Some(published.version);
    }
    if let Some(up) = mapping.and_then(|m| out.take(m)) {
        out.persist.mapping_uuid = Some(up.uuid);
        out.persist.retired_version = up.retired_version;
    }
    if let Some(state_table) = state_table {
        out.analytics.state_table_arn = out.take(state_table);
    }
    if let Some(reference) = reference {
        if let Some((arn, objects)) = out.take(reference) {
            out.analytics.reference_bucket_arn = Some(arn);
            out.analytics.reference_objects = Some(objects);
        }
    }
    out.analytics.role_arn = sql_role.and_then(|r| out.take(r));
    if let Some(done) = sql_done.and_then(|d| out.take(d)) {
        out.analytics.application_arn = Some(done.application_arn);
        out.analytics.application_version_id = Some(done.version_id);
    }
    for applied in blocks_done {
        out.errors.extend(applied.errors);
        out.records.extend(applied.record);
    }

    if let Some(p) = prior {
        // An engine turned off: its parts go.
        let removed =
            analytics::remove_unused(aws, p, &want.analytics, &want.owner.adopted, timeout).await;
        out.errors.extend(removed);
        // Components renamed in place: the new ones are up, so the old ones go.
        persist::remove_renamed(
            aws,
            p,
            &want.persist,
            &out.persist,
            prior_uuid.as_deref(),
            &mut out.errors,
        )
        .await;
    }
    out
}

/// [`converge`], then the `monitoring` block on what came up (it watches every other
/// component, so it goes last): what happened, and the state after the apply — the planned
/// settings with the ids of what exists. A component that could not be brought up keeps a
/// null id, so the next plan shows it and the next apply converges instead of leaking what
/// was created.
pub async fn converge_and_watch(
    aws: &Aws,
    want: &Desired,
    planned: &PipelineState,
    config: &PipelineState,
    prior: Option<&PipelineState>,
) -> (Outcome, PipelineState) {
    let mut out = Box::pin(converge(aws, want, planned, config, prior)).await;
    let mut state = planned.clone();
    out.record(&mut state);
    let core_failed = !out.errors.is_empty();
    let watched = monitoring::apply(aws, &mut state, prior, core_failed).await;
    out.errors.extend(watched);
    (out, state)
}

/// Deletes every component the state knows (those with an id): what reads the CDC stream
/// first (the blocks' parts, the SQL application, the mapping) so nothing reads a stream being
/// deleted, then everything else concurrently, the role after its function. Not-found is
/// success. A block whose data would be lost (a dead-letter bucket holding dead letters, say)
/// stops the destroy before anything goes.
pub async fn destroy(
    aws: &Aws,
    state: &PipelineState,
    identity: &Identity,
    adopted: &Adopted,
) -> Vec<String> {
    // Checked before anything is deleted, so a refused destroy leaves the pipeline whole.
    let (sink_refused, persist_refused) = tokio::join!(
        sink::refuses_destroy(aws, &state.sink),
        persist::refuses_destroy(aws, state, identity, adopted)
    );
    if let Some(refused) = sink_refused.or(persist_refused) {
        return vec![refused];
    }
    let timeout = timeouts(&state.timeouts).delete;
    let destroying = Destroying {
        aws,
        account: &identity.account,
        adopted,
        timeout,
    };
    for block in BLOCKS {
        if let Some(refused) = block.refuses_destroy(&destroying, state).await {
            return vec![refused];
        }
    }
    let mut errors = Vec::new();
    // What reads or writes the CDC stream goes before it: the blocks' parts (the replication
    // task with the rest of DMS, the lake's delivery stream) and the SQL application.
    let blocks =
        futures::future::join_all(BLOCKS.iter().map(|block| block.destroy(&destroying, state)));
    let application = analytics::destroy_application(aws, &state.analytics, timeout);
    let (blocks, application) = tokio::join!(blocks, application);
    errors.extend(blocks.into_iter().flatten());
    errors.extend(application);
    if let Err(e) = persist::destroy_mapping(aws, &state.persist).await {
        errors.push(e.message);
    }
    let (cdc, enriched, table, persist) = tokio::join!(
        streams::destroy(aws, &state.cdc_stream),
        streams::destroy(aws, &state.enriched_stream),
        sink::destroy(aws, &state.sink.name, &state.sink.arn),
        persist::destroy(aws, state, identity, adopted),
    );
    for r in [cdc, enriched, table] {
        if let Err(e) = r {
            errors.push(e.message);
        }
    }
    errors.extend(persist);
    errors.extend(analytics::destroy_data(aws, state, identity, adopted).await);
    // Last: Lambda would make the function's log group again while the function exists.
    errors.extend(monitoring::destroy(aws, state).await);
    errors
}
