//! DMS change records as AWS DMS writes them to Kinesis (MessageFormat json, facts.md): built
//! directly, or read off a MariaDB binary log (`mariadb-binlog --verbose` pseudo-SQL), which is
//! what DMS itself reads.

use std::collections::HashMap;

/// A column value as DMS writes it: numbers bare (their exact text), strings quoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Number(String),
    Text(String),
}

/// One change record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub schema: String,
    pub table: String,
    /// `load`, `insert`, `update` or `delete`.
    pub operation: String,
    /// The row (after the change; a delete's last image). NULL columns are left out, as DMS
    /// does without IncludeNullAndEmpty.
    pub data: Vec<(String, Value)>,
    /// Commit time, microseconds after 2024-05-01T00:00:00Z.
    pub micros: u64,
    pub transaction_id: u64,
}

impl Record {
    /// The record's JSON, with numbers keeping their exact text.
    pub fn to_json(&self) -> String {
        let data: Vec<String> = self
            .data
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    Value::Number(text) => text.clone(),
                    Value::Text(text) => serde_json::to_string(text).unwrap(),
                };
                format!("{}:{value}", serde_json::to_string(name).unwrap())
            })
            .collect();
        format!(
            r#"{{"data":{{{}}},"metadata":{{"timestamp":"{}","record-type":"data","operation":"{}","partition-key-type":"primary-key","schema-name":"{}","table-name":"{}","transaction-id":{}}}}}"#,
            data.join(","),
            timestamp(self.micros),
            self.operation,
            self.schema,
            self.table,
            self.transaction_id
        )
    }

    /// A column's value.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.data
            .iter()
            .find(|(name, _)| name == column)
            .map(|(_, value)| value)
    }
}

/// The sample's enrichment as the analytics engine's correlation (`CORRELATION`): orders
/// joined with their items and, through `itemId`, the products in `bucket`/`object_key`.
pub fn sample_correlation(bucket: &str, object_key: &str) -> serde_json::Value {
    let order = [
        "orderId",
        "orderAmount",
        "orderStatus",
        "orderDateTime",
        "shipToName",
        "shipToAddress",
        "shipToCity",
        "shipToState",
        "shipToZip",
    ];
    let item = ["itemId", "itemAmount", "itemQuantity", "itemStatus"];
    let mut columns: Vec<serde_json::Value> = order
        .iter()
        .map(|c| serde_json::json!({"name": c, "from": format!("order.{c}")}))
        .collect();
    columns.extend(
        item.iter()
            .map(|c| serde_json::json!({"name": c, "from": format!("order_item.{c}")})),
    );
    columns.push(serde_json::json!({"name": "productName", "from": "products.productName"}));
    serde_json::json!({
        "schema": "orders",
        "parent": {"table": "order", "key": "orderId"},
        "children": [{"table": "order_item", "parent_key": "orderId", "key": "itemId"}],
        "lookups": [{"name": "products", "bucket": bucket, "object_key": object_key,
                     "from": "order_item.itemId", "match": "productId"}],
        "columns": columns,
    })
}

/// `2024-05-01T09:00:00.123456Z`-style text for `micros` after 2024-05-01T00:00:00Z (within
/// 31 days).
pub fn timestamp(micros: u64) -> String {
    let seconds = micros / 1_000_000;
    let (day, rest) = (seconds / 86_400, seconds % 86_400);
    format!(
        "2024-05-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        1 + day,
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        micros % 1_000_000
    )
}

/// Reads the row events of `mariadb-binlog --base64-output=DECODE-ROWS --verbose` output into
/// DMS records, in commit order. `columns` gives each table's column names in ordinal order
/// (the log names them `@1`, `@2`, …); tables not in it are skipped. Each event's records get
/// commit times 1 ms apart, starting at `start_micros`.
pub fn from_binlog(
    verbose: &str,
    schema: &str,
    columns: &HashMap<String, Vec<String>>,
    start_micros: u64,
) -> Vec<Record> {
    let mut records = Vec::new();
    let mut current: Option<(String, String)> = None; // (table, operation)
    let mut image: Vec<(usize, Option<Value>)> = Vec::new();
    let mut in_set = false;
    let flush = |records: &mut Vec<Record>,
                 current: &Option<(String, String)>,
                 image: &mut Vec<(usize, Option<Value>)>| {
        if let Some((table, operation)) = current {
            if let Some(names) = columns.get(table) {
                if !image.is_empty() {
                    let data = image
                        .drain(..)
                        .filter_map(|(at, value)| Some((names.get(at - 1)?.clone(), value?)))
                        .collect();
                    let n = records.len() as u64;
                    records.push(Record {
                        schema: schema.to_string(),
                        table: table.clone(),
                        operation: operation.clone(),
                        data,
                        micros: start_micros + n * 1000,
                        transaction_id: 0,
                    });
                }
            }
        }
        image.clear();
    };
    for line in verbose.lines() {
        let Some(rest) = line.strip_prefix("### ") else {
            continue;
        };
        let table_of = |text: &str| -> Option<String> {
            let (_, qualified) = text.split_once('`')?;
            let qualified = format!("`{qualified}");
            let parts: Vec<&str> = qualified.split('.').collect();
            let table = parts.last()?.trim().trim_matches('`');
            let in_schema = parts.first()?.trim_matches('`');
            (in_schema == schema).then(|| table.to_string())
        };
        if let Some(text) = rest.strip_prefix("INSERT INTO ") {
            flush(&mut records, &current, &mut image);
            current = table_of(text).map(|t| (t, "insert".to_string()));
            in_set = false;
        } else if let Some(text) = rest.strip_prefix("UPDATE ") {
            flush(&mut records, &current, &mut image);
            current = table_of(text).map(|t| (t, "update".to_string()));
            in_set = false;
        } else if let Some(text) = rest.strip_prefix("DELETE FROM ") {
            flush(&mut records, &current, &mut image);
            current = table_of(text).map(|t| (t, "delete".to_string()));
            in_set = false;
        } else if rest.trim() == "SET" {
            in_set = true;
            image.clear();
        } else if rest.trim() == "WHERE" {
            in_set = false;
            image.clear();
        } else if let Some(assignment) = rest.trim().strip_prefix('@') {
            let Some((at, value)) = assignment.split_once('=') else {
                continue;
            };
            let Ok(at) = at.parse::<usize>() else {
                continue;
            };
            let is_delete = current
                .as_ref()
                .is_some_and(|(_, operation)| operation == "delete");
            // Updates carry the after image (SET); deletes only the before image (WHERE).
            if in_set || is_delete {
                image.push((at, parse_value(value)));
            }
        }
    }
    flush(&mut records, &current, &mut image);
    records
}

/// `10000001`, `300.00`, `'New'` (with `\'` escapes), `NULL`.
fn parse_value(text: &str) -> Option<Value> {
    // -vv appends a type comment: `@1=5 /* INT meta=0 ... */`.
    let text = text.split(" /*").next().unwrap_or(text).trim();
    if text == "NULL" {
        return None;
    }
    if let Some(quoted) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        let mut out = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            } else {
                out.push(c);
            }
        }
        return Some(Value::Text(out));
    }
    Some(Value::Number(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inserts_updates_and_deletes() {
        let log = "\
#241127  4:30:00 server id 1  end_log_pos 500 Write_rows: table id 33 flags: STMT_END_F
### INSERT INTO `orders`.`order_item`
### SET
###   @1=10000001
###   @2=999900001
###   @3=10
###   @4=100.00
###   @5='Picked'
### UPDATE `orders`.`order_item`
### WHERE
###   @1=10000001
###   @2=999900001
###   @3=10
###   @4=100.00
###   @5='Picked'
### SET
###   @1=10000001
###   @2=999900001
###   @3=10
###   @4=100.00
###   @5='It\\'s new'
### DELETE FROM `orders`.`order_item`
### WHERE
###   @1=10000001
###   @2=999900001
###   @3=NULL
###   @4=100.00
###   @5='New'
### INSERT INTO `other`.`order_item`
### SET
###   @1=1
";
        let columns = HashMap::from([(
            "order_item".to_string(),
            [
                "orderId",
                "itemId",
                "itemQuantity",
                "itemAmount",
                "itemStatus",
            ]
            .map(String::from)
            .to_vec(),
        )]);
        let records = from_binlog(log, "orders", &columns, 0);
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].operation, "insert");
        assert_eq!(records[1].operation, "update");
        assert_eq!(
            records[1].get("itemStatus"),
            Some(&Value::Text("It's new".into()))
        );
        assert_eq!(records[2].operation, "delete");
        assert_eq!(records[2].get("itemQuantity"), None);
        assert_eq!(
            records[0].to_json(),
            r#"{"data":{"orderId":10000001,"itemId":999900001,"itemQuantity":10,"itemAmount":100.00,"itemStatus":"Picked"},"metadata":{"timestamp":"2024-05-01T00:00:00.000000Z","record-type":"data","operation":"insert","partition-key-type":"primary-key","schema-name":"orders","table-name":"order_item","transaction-id":0}}"#
        );
        assert_eq!(timestamp(90_061_000_001), "2024-05-02T01:01:01.000001Z");
    }
}
