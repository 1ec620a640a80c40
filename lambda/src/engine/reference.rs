//! Reference data for the lookups: JSON lines in S3 (`{"productId": 999900001, "productName":
//! …}` per line), loaded at cold start and reloaded when the object changes (its ETag, checked
//! at most every `REFERENCE_REFRESH_SECONDS`, default 60).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::DisplayErrorContext;
use thiserror::Error;
use tokio::sync::RwLock;
use tokio::time::Instant;

use crate::decode::{self, KeyValue};
use crate::engine::cdc::key_value;
use crate::engine::join::References;
use crate::engine::spec::Lookup;

/// How often the reference objects' ETags are checked, in seconds.
pub const REFERENCE_REFRESH_SECONDS: &str = "REFERENCE_REFRESH_SECONDS";
/// The default for [`REFERENCE_REFRESH_SECONDS`].
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(60);

/// A reference object could not be loaded.
#[derive(Debug, Error)]
pub enum ReferenceError {
    #[error("reading reference data s3://{bucket}/{key} for lookup `{lookup}` failed: {cause}")]
    Read {
        lookup: String,
        bucket: String,
        key: String,
        cause: String,
    },
    #[error("reference data s3://{bucket}/{key} for lookup `{lookup}`, line {line}: {cause}")]
    Line {
        lookup: String,
        bucket: String,
        key: String,
        line: usize,
        cause: String,
    },
}

/// The loaded reference data and what it was loaded from.
#[derive(Clone, Debug)]
pub struct ReferenceData {
    client: aws_sdk_s3::Client,
    lookups: Vec<Lookup>,
    refresh: Duration,
    loaded: Arc<RwLock<Loaded>>,
}

#[derive(Debug)]
struct Loaded {
    references: Arc<References>,
    etags: Vec<Option<String>>,
    checked: Instant,
}

impl ReferenceData {
    /// Loads every lookup's object (an error names the object and the line).
    pub async fn load(
        client: aws_sdk_s3::Client,
        lookups: Vec<Lookup>,
        refresh: Duration,
    ) -> Result<ReferenceData, ReferenceError> {
        let mut tables = Vec::with_capacity(lookups.len());
        let mut etags = Vec::with_capacity(lookups.len());
        for lookup in &lookups {
            let (table, etag) = fetch(&client, lookup).await?;
            tracing::info!(lookup = %lookup.name, bucket = %lookup.bucket, key = %lookup.object_key, rows = table.len(), "reference data loaded");
            tables.push(table);
            etags.push(etag);
        }
        Ok(ReferenceData {
            client,
            lookups,
            refresh,
            loaded: Arc::new(RwLock::new(Loaded {
                references: Arc::new(References { tables }),
                etags,
                checked: Instant::now(),
            })),
        })
    }

    /// The current reference data, reloading any object whose ETag changed if the last check
    /// is older than the refresh interval. A failed reload keeps the data already loaded (and
    /// says so): a stale product name is better than a stopped pipeline.
    pub async fn current(&self) -> Arc<References> {
        {
            let loaded = self.loaded.read().await;
            if self.lookups.is_empty() || loaded.checked.elapsed() < self.refresh {
                return loaded.references.clone();
            }
        }
        let mut loaded = self.loaded.write().await;
        if loaded.checked.elapsed() < self.refresh {
            return loaded.references.clone();
        }
        loaded.checked = Instant::now();
        let mut tables = loaded.references.tables.clone();
        let mut changed = false;
        for (index, lookup) in self.lookups.iter().enumerate() {
            let head = self
                .client
                .head_object()
                .bucket(&lookup.bucket)
                .key(&lookup.object_key)
                .send()
                .await;
            let etag = match head {
                Ok(head) => head.e_tag,
                Err(err) => {
                    tracing::warn!(lookup = %lookup.name, error = %DisplayErrorContext(&err), "could not check reference data; keeping what is loaded");
                    continue;
                }
            };
            if etag.is_some() && etag == loaded.etags[index] {
                continue;
            }
            match fetch(&self.client, lookup).await {
                Ok((table, etag)) => {
                    tracing::info!(lookup = %lookup.name, rows = table.len(), "reference data changed; reloaded");
                    tables[index] = table;
                    loaded.etags[index] = etag;
                    changed = true;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not reload reference data; keeping what is loaded")
                }
            }
        }
        if changed {
            loaded.references = Arc::new(References { tables });
        }
        loaded.references.clone()
    }
}

async fn fetch(
    client: &aws_sdk_s3::Client,
    lookup: &Lookup,
) -> Result<(HashMap<KeyValue, decode::Item>, Option<String>), ReferenceError> {
    let read_error = |cause: String| ReferenceError::Read {
        lookup: lookup.name.clone(),
        bucket: lookup.bucket.clone(),
        key: lookup.object_key.clone(),
        cause,
    };
    let object = client
        .get_object()
        .bucket(&lookup.bucket)
        .key(&lookup.object_key)
        .send()
        .await
        .map_err(|err| read_error(DisplayErrorContext(&err).to_string()))?;
    let etag = object.e_tag.clone();
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|err| read_error(err.to_string()))?
        .into_bytes();
    let text = std::str::from_utf8(&bytes).map_err(|err| read_error(err.to_string()))?;
    Ok((parse_lines(text, lookup)?, etag))
}

/// Parses JSON lines (blank lines skipped) into match value → row; a later line with the same
/// match value replaces an earlier one.
pub fn parse_lines(
    text: &str,
    lookup: &Lookup,
) -> Result<HashMap<KeyValue, decode::Item>, ReferenceError> {
    let mut table = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_error = |cause: String| ReferenceError::Line {
            lookup: lookup.name.clone(),
            bucket: lookup.bucket.clone(),
            key: lookup.object_key.clone(),
            line: number + 1,
            cause,
        };
        let row = decode::object_item(line).map_err(|err| line_error(err.to_string()))?;
        let key =
            key_value(&row, &lookup.match_column).map_err(|err| line_error(err.to_string()))?;
        table.insert(key, row);
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn lookup() -> Lookup {
        Lookup {
            name: "products".into(),
            bucket: "b".into(),
            object_key: "products.json".into(),
            from: "order_item.itemId".into(),
            match_column: "productId".into(),
        }
    }

    #[test]
    fn json_lines_by_match_column() {
        let table = parse_lines(
            "{\"productId\": 999900001, \"productName\": \"Teak Bench\", \"productPrice\": 13.50}\n\n\
             {\"productId\": 999900002, \"productName\": \"Slate Lamp\", \"productPrice\": 9.10}\n",
            &lookup(),
        )
        .unwrap();
        assert_eq!(table.len(), 2);
        let bench = &table[&KeyValue::N("999900001E8".into())];
        assert_eq!(bench["productPrice"], AttributeValue::N("13.50".into()));
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = parse_lines("{\"productId\": 1}\n{\"productName\": \"x\"}\n", &lookup())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("productId"), "{err}");
    }
}
