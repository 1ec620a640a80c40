//! The pure part of the correlation: one output row from a parent row, a child row and the
//! reference data.

use std::collections::HashMap;

use crate::decode::{Item, KeyValue};
use crate::engine::cdc::key_value;
use crate::engine::spec::{Correlation, Source};

/// Reference data, per lookup (same order as the correlation's `lookups`): match value → row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct References {
    pub tables: Vec<HashMap<KeyValue, Item>>,
}

/// The output row of `child` (a row of the child table `child_index`) joined with its `parent`
/// and the lookups. A column whose source is absent (a null column DMS left out, a lookup that
/// finds nothing, another child table) is left out of the row.
pub fn output_row(
    correlation: &Correlation,
    child_index: usize,
    parent: &Item,
    child: &Item,
    references: &References,
) -> Item {
    let source_row = |source: &Source| -> Option<(&Item, String)> {
        match source {
            Source::Parent(column) => Some((parent, column.clone())),
            Source::Child(index, column) if *index == child_index => Some((child, column.clone())),
            _ => None,
        }
    };
    let looked_up: Vec<Option<&Item>> = correlation
        .lookups
        .iter()
        .enumerate()
        .map(|(index, lookup)| {
            let (row, column) = correlation
                .resolve(&lookup.from)
                .as_ref()
                .and_then(source_row)?;
            let key = key_value(row, &column).ok()?;
            references.tables.get(index)?.get(&key)
        })
        .collect();
    let mut output = Item::with_capacity(correlation.columns.len());
    for column in &correlation.columns {
        let value = match correlation.resolve(&column.from) {
            Some(Source::Lookup(index, name)) => looked_up[index].and_then(|row| row.get(&name)),
            Some(source) => source_row(&source).and_then(|(row, name)| row.get(&name)),
            None => None,
        };
        if let Some(value) = value {
            output.insert(column.name.clone(), value.clone());
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn n(text: &str) -> AttributeValue {
        AttributeValue::N(text.into())
    }
    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.into())
    }

    #[test]
    fn joins_renames_and_looks_up() {
        let correlation: Correlation = serde_json::from_str(
            r#"{"parent": {"table": "order", "key": "orderId"},
                "children": [{"table": "order_item", "parent_key": "orderId", "key": "itemId"}],
                "lookups": [{"name": "products", "bucket": "b", "object_key": "k",
                             "from": "order_item.itemId", "match": "productId"}],
                "columns": [{"name": "orderId", "from": "order.orderId"},
                            {"name": "status", "from": "order.orderStatus"},
                            {"name": "itemId", "from": "order_item.itemId"},
                            {"name": "quantity", "from": "order_item.itemQuantity"},
                            {"name": "productName", "from": "products.productName"}]}"#,
        )
        .unwrap();
        let parent = Item::from([
            ("orderId".to_string(), n("10000001")),
            ("orderStatus".to_string(), s("New")),
        ]);
        let child = Item::from([
            ("orderId".to_string(), n("10000001")),
            ("itemId".to_string(), n("999900001")),
            ("itemQuantity".to_string(), n("10")),
        ]);
        let references = References {
            tables: vec![HashMap::from([(
                KeyValue::N("999900001E8".into()),
                Item::from([("productName".to_string(), s("Teak Bench"))]),
            )])],
        };
        let row = output_row(&correlation, 0, &parent, &child, &references);
        assert_eq!(row["orderId"], n("10000001"));
        assert_eq!(row["status"], s("New"));
        assert_eq!(row["quantity"], n("10"));
        assert_eq!(row["productName"], s("Teak Bench"));

        // No product: the column is left out; the row is still written.
        let row = output_row(&correlation, 0, &parent, &child, &References::default());
        assert!(!row.contains_key("productName"));
        assert_eq!(row.len(), 4);
    }
}
