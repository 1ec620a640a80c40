//! The `lambda` analytics engine: the function reads the DMS CDC stream itself, correlates the
//! relational changes (a parent table, its child tables, reference lookups) and writes the
//! denormalised rows to the sink — with no time window, in any delivery order.
//!
//! Turned on by the `CORRELATION` environment variable (see [`spec`]); `STATE_TABLE` names the
//! table holding the rows seen so far (see [`state`]). One invocation:
//! 1. parses every record ([`cdc`]): a change, ignored (control records, other tables, unknown
//!    operations), or poison (dead-lettered with its reason, as in the persist function);
//! 2. groups the changes by parent key, keeping Kinesis order, and keeps the latest change of
//!    each row;
//! 3. per group, concurrently: stores each change unless a newer one is stored, reads the group
//!    back, and writes the affected output rows in transactions that check the state they were
//!    computed from ([`state`]);
//! 4. reports the earliest record of every group that could not be finished, and every poison
//!    record that could not be dead-lettered, in `batchItemFailures`.
//!
//! Requests per record, for a group of one order and its items arriving together (k records):
//! k conditional PutItem + 1 Query + ⌈k/49⌉ TransactWriteItems (the transaction's items cost
//! twice the write units of plain writes).

pub mod cdc;
pub mod join;
pub mod publish;
pub mod reference;
pub mod spec;
pub mod state;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::stream::{self, StreamExt};
use lambda_runtime::LambdaEvent;
use tokio::time::Instant;

use crate::config::{Config, ConfigError};
use crate::dead_letter::DeadLetterQueue;
use crate::decode::{Item, KeySchema, KeyType};
use crate::engine::cdc::{Change, Parsed};
use crate::engine::join::References;
use crate::engine::reference::ReferenceData;
use crate::engine::spec::Correlation;
use crate::engine::state::{StateRow, StateStore, Written, PARENT_SK};
use crate::metrics::BatchMetrics;
use crate::plan::{self, SequenceNumber};
use crate::poison::Poison;
use crate::sink::{self, Backoff};
use crate::{HandlerError, InitError};

/// The engine's settings: the persist function's, plus the correlation.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub base: Config,
    pub correlation_text: String,
    pub state_table: String,
    pub refresh: Duration,
    /// `ENRICHED_STREAM`: publish every output row to this Kinesis stream too.
    pub enriched_stream: Option<String>,
}

impl EngineConfig {
    /// The engine's settings when `CORRELATION` is set, `None` when it is not (the persist
    /// function runs instead).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<EngineConfig>, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let Some(correlation_text) = get(spec::CORRELATION) else {
            return Ok(None);
        };
        let base = Config::from_lookup(&lookup)?;
        let state_table = get(spec::STATE_TABLE).ok_or(ConfigError::Missing {
            var: spec::STATE_TABLE,
            hint: "set it to the DynamoDB table (keys pk S, sk S) that holds the rows the engine has seen",
        })?;
        let refresh = match get(reference::REFERENCE_REFRESH_SECONDS) {
            None => reference::DEFAULT_REFRESH,
            Some(value) => value
                .trim()
                .parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| ConfigError::Invalid {
                    var: reference::REFERENCE_REFRESH_SECONDS,
                    value,
                    hint: "use a whole number of seconds, e.g. 60",
                })?,
        };
        Ok(Some(EngineConfig {
            base,
            correlation_text,
            state_table,
            refresh,
            enriched_stream: get(publish::ENRICHED_STREAM),
        }))
    }
}

/// The engine, built once per execution environment.
#[derive(Clone, Debug)]
pub struct Engine {
    correlation: Arc<Correlation>,
    sink_keys: KeySchema,
    store: StateStore,
    references: ReferenceData,
    dead_letters: Option<DeadLetterQueue>,
    /// Where written rows are also published, when configured.
    publisher: Option<publish::Publisher>,
    concurrency: usize,
    deadline_margin: Duration,
    function_name: String,
}

/// The output bytes one transaction carries at most: TransactWriteItems takes 4 MB, and the
/// rows' JSON size only estimates DynamoDB's count, so a margin is kept.
const TRANSACTION_BYTES: usize = 3 * 1024 * 1024;

/// One TransactWriteItems call and the output rows it writes (or deletes).
struct OutputTransaction {
    actions: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    rows: Vec<publish::Output>,
}

/// The changes of one correlation group in one batch.
struct Group {
    pk: String,
    /// The latest change of each row, by sort key, with the records merged into it.
    rows: Vec<(String, Change)>,
    /// The group's earliest record, reported on failure.
    first_sequence: SequenceNumber,
}

/// What became of one group; rows are counted after collapsing a batch to the latest change
/// of each row.
#[derive(Default)]
struct GroupReport {
    /// Rows whose change was stored.
    applied: usize,
    /// Rows whose change was older than the stored one (a replay): skipped.
    stale: usize,
    /// Output rows written or deleted.
    outputs: usize,
    /// The group's earliest record and the error, when it could not be finished.
    failed: Option<(SequenceNumber, String)>,
}

impl Engine {
    /// Builds the engine: reads the sink's key schema (from the environment or the table),
    /// checks the correlation against it, and loads the reference data.
    pub async fn new(
        config: EngineConfig,
        sdk_config: &aws_config::SdkConfig,
    ) -> Result<Engine, InitError> {
        let client = aws_sdk_dynamodb::Client::from_conf(sink::client_config(sdk_config));
        let sink_keys = match config.base.keys.clone() {
            Some(keys) => keys,
            None => sink::describe_keys(&client, &config.base.table).await?,
        };
        let correlation = Correlation::parse(&config.correlation_text, &sink_keys)?;
        let s3 = aws_sdk_s3::Client::new(sdk_config);
        let references =
            ReferenceData::load(s3.clone(), correlation.lookups.clone(), config.refresh).await?;
        let dead_letters = config
            .base
            .dead_letter
            .clone()
            .map(|location| DeadLetterQueue::new(s3, location, config.base.write_concurrency));
        tracing::info!(
            sink_table = %config.base.table,
            state_table = %config.state_table,
            parent = %correlation.parent.table,
            children = correlation.children.len(),
            lookups = correlation.lookups.len(),
            dead_letters = dead_letters.as_ref().map(DeadLetterQueue::location),
            enriched_stream = config.enriched_stream.as_deref(),
            "analytics engine ready"
        );
        let publisher = config.enriched_stream.clone().map(|stream| {
            publish::Publisher::new(aws_sdk_kinesis::Client::new(sdk_config), stream)
        });
        Ok(Engine {
            publisher,
            correlation: Arc::new(correlation),
            sink_keys,
            store: StateStore::new(client, config.state_table, config.base.table),
            references,
            dead_letters,
            concurrency: config.base.write_concurrency,
            deadline_margin: config.base.deadline_margin,
            function_name: config.base.function_name,
        })
    }

    /// Handles one batch of the CDC stream.
    pub async fn handle(
        &self,
        event: LambdaEvent<KinesisEvent>,
    ) -> Result<KinesisEventResponse, HandlerError> {
        let started = std::time::Instant::now();
        let budget_end = crate::retry_deadline(event.context.deadline(), self.deadline_margin);
        let request_id = event.context.request_id;
        let records = event.payload.records;

        let (groups, poison, ignored) = self.parse_batch(&records);
        let references = self.references.current().await;
        let (reports, undisposed) = tokio::join!(
            stream::iter(groups)
                .map(|group| self.process_group(group, &references, budget_end))
                .buffer_unordered(self.concurrency)
                .collect::<Vec<GroupReport>>(),
            self.dispose(&records, poison.clone(), &request_id, budget_end),
        );

        let dead_lettered = poison.len() - undisposed.len();
        let mut failures: Vec<SequenceNumber> = undisposed;
        let (mut applied, mut stale, mut outputs) = (0, 0, 0);
        for report in &reports {
            applied += report.applied;
            stale += report.stale;
            outputs += report.outputs;
            if let Some((sequence, error)) = &report.failed {
                tracing::error!(earliest_sequence_number = %sequence, error = %error, "a correlation group could not be finished; reporting its earliest record");
                failures.push(sequence.clone());
            }
        }
        let response = plan::batch_response(failures);
        let metrics = BatchMetrics {
            records_in: records.len(),
            records_written: applied,
            records_stale: stale,
            records_retried: 0,
            records_dead_lettered: dead_lettered,
            records_failed: match &response {
                Ok(response) => response.batch_item_failures.len(),
                Err(_) => records.len(),
            },
            records_ignored: ignored,
            batch_duration: started.elapsed(),
        };
        tracing::info!(
            records = records.len(),
            ignored,
            poison = poison.len(),
            applied,
            stale,
            outputs,
            reported = metrics.records_failed,
            "batch processed"
        );
        metrics.emit(&self.function_name, &request_id);
        Ok(response?)
    }

    /// Parses the batch into groups (in order of first appearance), poison records and the
    /// number of records ignored.
    fn parse_batch(&self, records: &[KinesisEventRecord]) -> (Vec<Group>, Vec<Poison>, usize) {
        let mut groups: Vec<Group> = Vec::new();
        let mut by_pk: HashMap<String, usize> = HashMap::new();
        let mut poison = Vec::new();
        let mut ignored = 0;
        for (index, record) in records.iter().enumerate() {
            let sequence_number = SequenceNumber::new(record.kinesis.sequence_number.clone());
            let change = match cdc::parse(
                &record.kinesis.data.0,
                sequence_number.as_str(),
                &self.correlation,
            ) {
                Ok(Parsed::Change(change)) => change,
                Ok(Parsed::Ignored(why)) => {
                    tracing::debug!(sequence_number = %sequence_number, why, "record ignored");
                    ignored += 1;
                    continue;
                }
                Err(reason) => {
                    poison.push(Poison {
                        index,
                        sequence_number,
                        reason,
                    });
                    continue;
                }
            };
            let pk = state::key_text(&change.parent_key);
            let sk = state::sort_key(&self.correlation, &change);
            let slot = *by_pk.entry(pk.clone()).or_insert_with(|| {
                groups.push(Group {
                    pk,
                    rows: Vec::new(),
                    first_sequence: sequence_number.clone(),
                });
                groups.len() - 1
            });
            let group = &mut groups[slot];
            match group.rows.iter_mut().find(|(key, _)| *key == sk) {
                // Kinesis order within a shard is commit order: the later record wins unless
                // its version says otherwise (a replayed older change in the same batch).
                Some((_, kept)) if kept.version <= change.version => *kept = change,
                Some(_) => {}
                None => group.rows.push((sk, change)),
            }
        }
        (groups, poison, ignored)
    }

    async fn process_group(
        &self,
        group: Group,
        references: &References,
        budget_end: Instant,
    ) -> GroupReport {
        let mut report = GroupReport::default();
        let fail = |mut report: GroupReport, error: String| {
            report.failed = Some((group.first_sequence.clone(), error));
            report
        };
        // 1. Store the changes; remember the versions this invocation stored.
        let mut ours: HashMap<String, String> = HashMap::new();
        for (sk, change) in &group.rows {
            let written = self
                .with_retries(budget_end, || self.store.put_change(&group.pk, sk, change))
                .await;
            match written {
                Ok(Written::Applied) => {
                    ours.insert(sk.clone(), change.version.clone());
                }
                Ok(Written::Superseded) => report.stale += 1,
                Err(error) => return fail(report, error),
            }
        }
        report.applied = ours.len();
        // 2. Read the group back and write the outputs of the rows this invocation still owns
        // (whose stored version is the one it wrote): every child's if it owns the parent. A
        // transaction whose check fails means the group changed since the read: read again.
        // Rows another invocation has changed since are that invocation's to write.
        let mut backoff = Backoff::new(budget_end);
        loop {
            let rows = match self
                .with_retries(budget_end, || self.store.group(&group.pk))
                .await
            {
                Ok(rows) => rows,
                Err(error) => return fail(report, error),
            };
            let owned: HashSet<String> = rows
                .iter()
                .filter(|row| ours.get(&row.sk) == Some(&row.version))
                .map(|row| row.sk.clone())
                .collect();
            if owned.is_empty() {
                return report;
            }
            let parent_owned = owned.contains(PARENT_SK);
            let transactions =
                self.output_transactions(&group.pk, &rows, parent_owned, &owned, references);
            let mut again = None;
            let mut written = Vec::new();
            for transaction in transactions {
                match self.store.transact(transaction.actions).await {
                    Ok(Written::Applied) => {
                        report.outputs += transaction.rows.len();
                        written.extend(transaction.rows);
                    }
                    Ok(Written::Superseded) => {
                        again = Some("the group changed while its outputs were written".into())
                    }
                    Err(error) if error.retryable => again = Some(error.message),
                    Err(error) => return fail(report, error.message),
                }
            }
            // Rows written are published (when configured) even if others must be written
            // again: each publication is of a row as it was committed.
            if let Some(publisher) = &self.publisher {
                if let Err(error) = publisher
                    .publish(&written, &self.sink_keys, budget_end)
                    .await
                {
                    return fail(report, error);
                }
            }
            let Some(reason) = again else {
                return report;
            };
            match backoff.next_delay() {
                Some(delay) => {
                    tracing::debug!(group = %group.pk, reason = %reason, "writing the group's outputs again");
                    tokio::time::sleep(delay).await
                }
                None => return fail(report, format!("out of time: {reason}")),
            }
        }
    }

    /// The transactions that bring the sink in line with a group's state: for each owned child
    /// row (every child row when the parent is owned), put its output row if it and its parent
    /// are live, else delete it; each action paired with a check of the child's state version,
    /// each transaction with a check of the parent's.
    fn output_transactions(
        &self,
        pk: &str,
        rows: &[StateRow],
        parent_changed: bool,
        affected: &HashSet<String>,
        references: &References,
    ) -> Vec<OutputTransaction> {
        let Some(parent) = rows.iter().find(|row| row.sk == PARENT_SK) else {
            // No parent yet: its arrival writes the outputs.
            return Vec::new();
        };
        let per_transaction = (state::MAX_TRANSACTION_ACTIONS - 1) / 2;
        let mut transactions = Vec::new();
        let mut actions = Vec::new();
        let mut rows_out = Vec::new();
        let mut bytes = 0;
        for child in rows.iter().filter(|row| row.sk != PARENT_SK) {
            if !parent_changed && !affected.contains(&child.sk) {
                continue;
            }
            let Some(child_index) = self.child_index(&child.sk) else {
                continue;
            };
            let output = join::output_row(
                &self.correlation,
                child_index,
                &parent.row,
                &child.row,
                references,
            );
            let Some(key) = self.sink_key(&output) else {
                tracing::error!(group = pk, row = %child.sk, "the output row lacks the sink's key attributes (a key column is null or of the wrong type); not written");
                continue;
            };
            // A transaction holds at most 100 actions and 4 MB: start a new one before either.
            let size = publish::to_json(&output).len();
            if !rows_out.is_empty()
                && (rows_out.len() == per_transaction || bytes + size > TRANSACTION_BYTES)
            {
                transactions.push(OutputTransaction {
                    actions: std::mem::take(&mut actions),
                    rows: std::mem::take(&mut rows_out),
                });
                bytes = 0;
            }
            if actions.is_empty() {
                actions.push(self.store.check(pk, PARENT_SK, &parent.version));
            }
            bytes += size;
            actions.push(self.store.check(pk, &child.sk, &child.version));
            if parent.deleted || child.deleted {
                actions.push(self.store.delete_output(key.clone()));
                rows_out.push(publish::Output::Deleted(key));
            } else {
                actions.push(self.store.put_output(output.clone()));
                rows_out.push(publish::Output::Row(output));
            }
        }
        if !actions.is_empty() {
            transactions.push(OutputTransaction {
                actions,
                rows: rows_out,
            });
        }
        transactions
    }

    fn child_index(&self, sk: &str) -> Option<usize> {
        let (table, _) = sk.split_once('#')?;
        self.correlation
            .children
            .iter()
            .position(|child| child.table == table)
    }

    /// The sink key of an output row, if its key attributes are there with the right types.
    fn sink_key(&self, output: &Item) -> Option<Item> {
        let mut key = Item::new();
        for attribute in std::iter::once(&self.sink_keys.partition).chain(&self.sink_keys.sort) {
            let value = output.get(&attribute.name)?;
            let fits = matches!(
                (value, attribute.key_type),
                (AttributeValue::S(_), KeyType::S | KeyType::StringOrNumber)
                    | (AttributeValue::N(_), KeyType::N | KeyType::StringOrNumber)
            );
            if !fits {
                return None;
            }
            key.insert(attribute.name.clone(), value.clone());
        }
        Some(key)
    }

    /// Runs `call` until it succeeds, fails for good, or the retry budget runs out.
    async fn with_retries<T, F, Fut>(&self, budget_end: Instant, call: F) -> Result<T, String>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, state::CallError>>,
    {
        let mut backoff = Backoff::new(budget_end);
        loop {
            let error = match tokio::time::timeout_at(budget_end, call()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) if !error.retryable => return Err(error.message),
                Ok(Err(error)) => error.message,
                Err(_) => "the call was still running at the retry deadline".to_string(),
            };
            match backoff.next_delay() {
                Some(delay) => {
                    tracing::warn!(error = %error, delay_ms = delay.as_millis() as u64, "retrying");
                    tokio::time::sleep(delay).await;
                }
                None => return Err(format!("out of time: {error}")),
            }
        }
    }

    /// Dead-letters poison records; returns those to report instead.
    async fn dispose(
        &self,
        records: &[KinesisEventRecord],
        poison: Vec<Poison>,
        request_id: &str,
        budget_end: Instant,
    ) -> Vec<SequenceNumber> {
        crate::dispose_poison(
            self.dead_letters.as_ref(),
            records,
            poison,
            request_id,
            budget_end,
        )
        .await
    }
}
