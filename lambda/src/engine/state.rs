//! The engine's state in DynamoDB, and the writes of output rows checked against it.
//!
//! State table: partition key `pk` (S), sort key `sk` (S). One partition per parent key (the
//! correlation group); in it the parent row (`sk` = `#`) and every child row (`sk` =
//! `<table>#<key>`), each with its latest image (`row`, M), its version (`v`, S) and whether
//! the latest change deleted it (`deleted`, BOOL). Deleted rows stay as tombstones so that a
//! replay of an older change cannot bring them back.
//!
//! Every change is first stored (conditionally: only if its version is at least the stored
//! one), then the group is read back with a consistent read, and the output rows are written in
//! TransactWriteItems calls that check the state versions they were computed from. Of two
//! concurrent invocations touching one group, the later state write is followed by a read that
//! sees both changes; an invocation whose view is already outdated fails its condition check
//! and leaves the output to that later one. So the sink always ends up as the join of the
//! latest state, whatever the interleaving of shards, duplicates and replays.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;

use crate::decode::{Item, KeyValue};
use crate::engine::cdc::{Change, Operation, Role};
use crate::engine::spec::Correlation;
use crate::sink::is_retryable;

/// The sort key of a group's parent row.
pub const PARENT_SK: &str = "#";
/// TransactWriteItems takes at most 100 actions.
pub const MAX_TRANSACTION_ACTIONS: usize = 100;

/// A key value as text, typed so that the number 1 and the string "1" differ.
pub fn key_text(key: &KeyValue) -> String {
    match key {
        KeyValue::N(number) => format!("N:{number}"),
        KeyValue::S(text) => format!("S:{text}"),
    }
}

/// The state item's sort key for a change.
pub fn sort_key(correlation: &Correlation, change: &Change) -> String {
    match (change.role, &change.child_key) {
        (Role::Child(index), Some(key)) => {
            format!("{}#{}", correlation.children[index].table, key_text(key))
        }
        _ => PARENT_SK.to_string(),
    }
}

/// One stored row of a group.
#[derive(Clone, Debug, PartialEq)]
pub struct StateRow {
    pub sk: String,
    pub version: String,
    pub deleted: bool,
    pub row: Item,
}

/// A call that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallError {
    /// Whether trying again may help (throttling, conflicts, 5xx, timeouts).
    pub retryable: bool,
    pub message: String,
}

/// What a conditional write found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// The write took effect.
    Applied,
    /// The state already held a newer version (a state write), or moved on since it was read
    /// (an output transaction): nothing to do.
    Superseded,
}

/// Talks to the state table and the sink table.
#[derive(Clone, Debug)]
pub struct StateStore {
    client: Client,
    state_table: String,
    sink_table: String,
}

fn call_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> CallError {
    CallError {
        retryable: is_retryable(&err),
        message: DisplayErrorContext(&err).to_string(),
    }
}

impl StateStore {
    pub fn new(client: Client, state_table: String, sink_table: String) -> StateStore {
        StateStore {
            client,
            state_table,
            sink_table,
        }
    }

    /// The state table's name.
    pub fn state_table(&self) -> &str {
        &self.state_table
    }

    /// Stores a change unless the stored version is newer (an equal version is stored again:
    /// a replay of a change whose outputs may not have been written).
    pub async fn put_change(
        &self,
        pk: &str,
        sk: &str,
        change: &Change,
    ) -> Result<Written, CallError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.state_table)
            .item("pk", AttributeValue::S(pk.to_string()))
            .item("sk", AttributeValue::S(sk.to_string()))
            .item("v", AttributeValue::S(change.version.clone()))
            .item(
                "deleted",
                AttributeValue::Bool(change.operation == Operation::Delete),
            )
            .item("row", AttributeValue::M(change.row.clone()))
            .condition_expression("attribute_not_exists(#pk) OR #v <= :v")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#v", "v")
            .expression_attribute_values(":v", AttributeValue::S(change.version.clone()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Written::Applied),
            Err(err) if err.code() == Some("ConditionalCheckFailedException") => {
                Ok(Written::Superseded)
            }
            Err(err) => Err(call_error(err)),
        }
    }

    /// Every stored row of a group, read consistently.
    pub async fn group(&self, pk: &str) -> Result<Vec<StateRow>, CallError> {
        let mut rows = Vec::new();
        let mut start: Option<std::collections::HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.state_table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(call_error)?;
            for item in page.items.unwrap_or_default() {
                if let Some(row) = state_row(item) {
                    rows.push(row);
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(rows),
            }
        }
    }

    /// A condition that the state row `sk` of group `pk` still has `version`.
    pub fn check(&self, pk: &str, sk: &str, version: &str) -> TransactWriteItem {
        let check = ConditionCheck::builder()
            .table_name(&self.state_table)
            .key("pk", AttributeValue::S(pk.to_string()))
            .key("sk", AttributeValue::S(sk.to_string()))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", "v")
            .expression_attribute_values(":v", AttributeValue::S(version.to_string()))
            .build()
            .expect("table, key and condition are set");
        TransactWriteItem::builder().condition_check(check).build()
    }

    /// Puts an output row into the sink.
    pub fn put_output(&self, item: Item) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.sink_table)
            .set_item(Some(item))
            .build()
            .expect("table and item are set");
        TransactWriteItem::builder().put(put).build()
    }

    /// Deletes an output row from the sink.
    pub fn delete_output(&self, key: Item) -> TransactWriteItem {
        let delete = Delete::builder()
            .table_name(&self.sink_table)
            .set_key(Some(key))
            .build()
            .expect("table and key are set");
        TransactWriteItem::builder().delete(delete).build()
    }

    /// Runs one transaction. A failed condition check means the state moved on since it was
    /// read: [`Written::Superseded`].
    pub async fn transact(&self, actions: Vec<TransactWriteItem>) -> Result<Written, CallError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
        {
            Ok(_) => Ok(Written::Applied),
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                    err.as_service_error()
                {
                    let codes: Vec<&str> = cancelled
                        .cancellation_reasons()
                        .iter()
                        .filter_map(|reason| reason.code())
                        .collect();
                    if codes.contains(&"ConditionalCheckFailed") {
                        return Ok(Written::Superseded);
                    }
                    // Conflicts with another transaction, throttling: worth another try.
                    return Err(CallError {
                        retryable: codes.iter().all(|code| {
                            matches!(
                                *code,
                                "None"
                                    | "TransactionConflict"
                                    | "ThrottlingError"
                                    | "ProvisionedThroughputExceeded"
                                    | "RequestLimitExceeded"
                            )
                        }),
                        message: format!(
                            "transaction cancelled: {}",
                            if codes.is_empty() {
                                DisplayErrorContext(&err).to_string()
                            } else {
                                codes.join(", ")
                            }
                        ),
                    });
                }
                Err(call_error(err))
            }
        }
    }
}

fn state_row(mut item: Item) -> Option<StateRow> {
    let sk = match item.remove("sk")? {
        AttributeValue::S(sk) => sk,
        _ => return None,
    };
    let version = match item.remove("v")? {
        AttributeValue::S(v) => v,
        _ => return None,
    };
    let deleted = matches!(item.remove("deleted"), Some(AttributeValue::Bool(true)));
    let row = match item.remove("row") {
        Some(AttributeValue::M(row)) => row,
        _ => Item::new(),
    };
    Some(StateRow {
        sk,
        version,
        deleted,
        row,
    })
}
