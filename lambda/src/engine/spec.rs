//! The correlation the engine runs, as the provider writes it into the `CORRELATION` environment
//! variable (JSON), and its checks at cold start.
//!
//! ```json
//! {
//!   "schema": "orders",
//!   "parent": {"table": "order", "key": "orderId"},
//!   "children": [{"table": "order_item", "parent_key": "orderId", "key": "itemId"}],
//!   "lookups": [{"name": "products", "bucket": "b", "object_key": "reference/products.json",
//!                "from": "order_item.itemId", "match": "productId"}],
//!   "columns": [{"name": "orderId", "from": "order.orderId"},
//!               {"name": "productName", "from": "products.productName"}]
//! }
//! ```
//!
//! One output row per live child row whose parent row is live: the inner join of the parent
//! table with each child table, left-joined to each lookup. `columns` name the output's
//! attributes and where each comes from (`<table or lookup>.<column>`); the sink's key
//! attributes must be among them.

use std::collections::HashSet;

use serde::Deserialize;

use crate::config::ConfigError;
use crate::decode::KeySchema;

/// The environment variable holding the correlation (JSON).
pub const CORRELATION: &str = "CORRELATION";
/// The DynamoDB table holding the engine's state (partition key `pk` S, sort key `sk` S).
pub const STATE_TABLE: &str = "STATE_TABLE";

/// A table that rows are correlated by: the parent, keyed by one column.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Parent {
    /// The source table's name (DMS `table-name`).
    pub table: String,
    /// Its primary key column.
    pub key: String,
}

/// A table whose rows each belong to one parent row.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Child {
    /// The source table's name (DMS `table-name`).
    pub table: String,
    /// The column holding the parent's key.
    pub parent_key: String,
    /// The column that, with `parent_key`, identifies a row.
    pub key: String,
}

/// Reference data joined by one column: JSON lines in an S3 object.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    /// The name columns refer to it by.
    pub name: String,
    /// Where the JSON lines are.
    pub bucket: String,
    /// The object's key.
    pub object_key: String,
    /// `<table>.<column>` whose value is looked up.
    pub from: String,
    /// The reference data's column it must equal.
    #[serde(rename = "match")]
    pub match_column: String,
}

/// One output attribute.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// The attribute's name in the sink.
    pub name: String,
    /// `<table or lookup>.<column>`.
    pub from: String,
}

/// The whole correlation.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Correlation {
    /// Only changes of this DMS `schema-name` are considered (all schemas when absent).
    #[serde(default)]
    pub schema: Option<String>,
    pub parent: Parent,
    pub children: Vec<Child>,
    #[serde(default)]
    pub lookups: Vec<Lookup>,
    pub columns: Vec<Column>,
}

/// Where an output column's value comes from, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The parent row's column.
    Parent(String),
    /// A child table's column (index into `children`).
    Child(usize, String),
    /// A lookup's column (index into `lookups`).
    Lookup(usize, String),
}

impl Correlation {
    /// Parses and checks the correlation against the sink's key schema.
    pub fn parse(text: &str, sink_keys: &KeySchema) -> Result<Correlation, ConfigError> {
        let invalid = |hint: String| ConfigError::Described {
            var: CORRELATION,
            message: hint,
        };
        let correlation: Correlation = serde_json::from_str(text)
            .map_err(|err| invalid(format!("is not a valid correlation: {err}")))?;
        if correlation.children.is_empty() {
            return Err(invalid(
                "`children` must name at least one child table".into(),
            ));
        }
        let mut names = HashSet::from([correlation.parent.table.as_str()]);
        for child in &correlation.children {
            if !names.insert(child.table.as_str()) {
                return Err(invalid(format!(
                    "table `{}` appears twice; each table is the parent or one child",
                    child.table
                )));
            }
        }
        for lookup in &correlation.lookups {
            if !names.insert(lookup.name.as_str()) {
                return Err(invalid(format!(
                    "lookup name `{}` is already a table or lookup name",
                    lookup.name
                )));
            }
            match correlation.resolve(&lookup.from) {
                Some(Source::Parent(_) | Source::Child(..)) => {}
                _ => {
                    return Err(invalid(format!(
                        "lookup `{}`: `from` is {:?}; it must be `<table>.<column>` of the parent or a child table",
                        lookup.name, lookup.from
                    )))
                }
            }
        }
        let mut outputs = HashSet::new();
        for column in &correlation.columns {
            if !outputs.insert(column.name.as_str()) {
                return Err(invalid(format!(
                    "output column `{}` is listed twice",
                    column.name
                )));
            }
            if correlation.resolve(&column.from).is_none() {
                return Err(invalid(format!(
                    "output column `{}`: `from` is {:?}; it must be `<table or lookup>.<column>` naming the parent, a child table or a lookup",
                    column.name, column.from
                )));
            }
        }
        for key in std::iter::once(&sink_keys.partition).chain(&sink_keys.sort) {
            if !outputs.contains(key.name.as_str()) {
                return Err(invalid(format!(
                    "the sink's key attribute `{}` is not among the output columns; add {{\"name\": \"{}\", \"from\": \"<table>.<column>\"}}",
                    key.name, key.name
                )));
            }
        }
        Ok(correlation)
    }

    /// Resolves `<table or lookup>.<column>`.
    pub fn resolve(&self, from: &str) -> Option<Source> {
        let (table, column) = from.split_once('.')?;
        if column.is_empty() {
            return None;
        }
        let column = column.to_string();
        if table == self.parent.table {
            return Some(Source::Parent(column));
        }
        if let Some(index) = self.children.iter().position(|c| c.table == table) {
            return Some(Source::Child(index, column));
        }
        self.lookups
            .iter()
            .position(|l| l.name == table)
            .map(|index| Source::Lookup(index, column))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{KeyAttribute, KeyType};

    pub(crate) fn sink_keys() -> KeySchema {
        KeySchema {
            partition: KeyAttribute {
                name: "orderId".into(),
                key_type: KeyType::N,
            },
            sort: Some(KeyAttribute {
                name: "itemId".into(),
                key_type: KeyType::N,
            }),
        }
    }

    const ORDERS: &str = r#"{
        "schema": "orders",
        "parent": {"table": "order", "key": "orderId"},
        "children": [{"table": "order_item", "parent_key": "orderId", "key": "itemId"}],
        "lookups": [{"name": "products", "bucket": "b", "object_key": "products.json",
                     "from": "order_item.itemId", "match": "productId"}],
        "columns": [{"name": "orderId", "from": "order.orderId"},
                    {"name": "itemId", "from": "order_item.itemId"},
                    {"name": "itemQuantity", "from": "order_item.itemQuantity"},
                    {"name": "productName", "from": "products.productName"}]
    }"#;

    #[test]
    fn the_sample_correlation_parses_and_resolves() {
        let correlation = Correlation::parse(ORDERS, &sink_keys()).unwrap();
        assert_eq!(
            correlation.resolve("order.orderId"),
            Some(Source::Parent("orderId".into()))
        );
        assert_eq!(
            correlation.resolve("order_item.itemQuantity"),
            Some(Source::Child(0, "itemQuantity".into()))
        );
        assert_eq!(
            correlation.resolve("products.productName"),
            Some(Source::Lookup(0, "productName".into()))
        );
        assert_eq!(correlation.resolve("nope.x"), None);
        assert_eq!(correlation.resolve("order"), None);
    }

    #[test]
    fn mistakes_are_named_with_the_variable() {
        let message = |text: &str| {
            Correlation::parse(text, &sink_keys())
                .unwrap_err()
                .to_string()
        };
        assert!(message("{").contains("CORRELATION"));
        let no_key = ORDERS.replace(r#"{"name": "itemId", "from": "order_item.itemId"},"#, "");
        let text = message(&no_key);
        assert!(
            text.contains("`itemId` is not among the output columns"),
            "{text}"
        );
        let bad_from = ORDERS.replace("products.productName", "product.productName");
        assert!(message(&bad_from).contains("output column `productName`"));
        let unknown_field = ORDERS.replace("\"schema\"", "\"schemas\"");
        assert!(message(&unknown_field).contains("unknown field"));
    }
}
