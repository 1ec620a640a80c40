//! The CDC load generator: the changes of the sample's SQL file, or of synthetic orders, as the
//! change records AWS DMS writes to the CDC stream (facts.md, "DMS → Kinesis record format"),
//! put on that stream with PutRecords, optionally paced to a target rate.
//!
//! The pure part builds records without any server: [`sample_records`] replays the sample's
//! SQL, [`synthetic_records`] streams made-up orders, [`partition_key`] and [`record_json`] say
//! how DMS would put a record on the stream. [`run`] does the I/O. The JSON itself is
//! `testkit::dms::Record::to_json`, shared with the tests so the format exists once.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{self, AtomicU64};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Context, Result};
use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use sqlparser::ast::{
    AssignmentTarget, BinaryOperator, Expr, InTarget, Insert, ObjectName, SetExpr, Statement,
    TableFactor, TableObject, UnaryOperator, Update, Use, Value as SqlValue,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use testkit::dms::{Record, Value};
use tokio::sync::mpsc;

use crate::progress::Progress;

// ------------------------------------------------------------------------------- the schema

/// The MySQL schema DMS captures.
pub const SCHEMA: &str = "orders";

/// The products of the reference data: `productId` 999900001..=999902000.
pub const PRODUCTS: u32 = 2000;

/// The first `productId` of the reference data.
const FIRST_PRODUCT_ID: u64 = 999_900_001;

/// A table of [`SCHEMA`], as `sql/orderdb-setup.sql` creates it (a unit test keeps the two
/// in step).
struct Table {
    name: &'static str,
    /// In ordinal order, the order DMS writes a row's columns in.
    columns: &'static [&'static str],
    key: &'static [&'static str],
}

const TABLES: [Table; 3] = [
    Table {
        name: "order",
        columns: &[
            "orderId",
            "orderAmount",
            "orderStatus",
            "orderDateTime",
            "shipToName",
            "shipToAddress",
            "shipToCity",
            "shipToState",
            "shipToZip",
        ],
        key: &["orderId"],
    },
    Table {
        name: "order_detail",
        columns: &[
            "orderId",
            "billToName",
            "billToAddress",
            "billToCity",
            "billToState",
            "billToZip",
        ],
        key: &["orderId"],
    },
    Table {
        name: "order_item",
        columns: &[
            "orderId",
            "itemId",
            "itemQuantity",
            "itemAmount",
            "itemStatus",
        ],
        key: &["orderId", "itemId"],
    },
];

fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name.eq_ignore_ascii_case(name))
}

const ORDER: &Table = &TABLES[0];
const ORDER_ITEM: &Table = &TABLES[2];

impl Table {
    /// The column `name` as the schema spells it (MySQL column names ignore case).
    fn column(&self, name: &str) -> Result<&'static str> {
        self.columns
            .iter()
            .copied()
            .find(|c| c.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                anyhow!(
                    "table `{}` has no column `{name}` (columns: {})",
                    self.name,
                    self.columns.join(", ")
                )
            })
    }

    /// The primary key of `row`, ordered as InnoDB orders it; `None` when a key column is NULL.
    fn key_of(&self, row: &Row) -> Option<Vec<KeyPart>> {
        self.key
            .iter()
            .map(|column| {
                let value = row.iter().find(|(name, _)| name == column)?;
                Some(match &value.1 {
                    Value::Number(text) => text
                        .parse::<i128>()
                        .map_or_else(|_| KeyPart::Text(text.clone()), KeyPart::Int),
                    Value::Text(text) => KeyPart::Text(text.clone()),
                })
            })
            .collect()
    }
}

/// A row: its non-NULL columns in ordinal order, as [`Record::data`] holds them.
type Row = Vec<(String, Value)>;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum KeyPart {
    Int(i128),
    Text(String),
}

// ------------------------------------------------------------------- partitioning and JSON

/// How DMS chooses the Kinesis partition key of a record (`partition-key-type` of the
/// object-mapping rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionKey {
    /// `<schema>.<table>.<key values>` (primary-key with PartitionIncludeSchemaTable): per-row
    /// order, rows spread over the shards.
    PrimaryKey,
    /// `<schema>.<table>` (DMS's default): a whole table on one shard, in commit order.
    SchemaTable,
}

impl PartitionKey {
    /// The name DMS uses: `primary-key` or `schema-table`.
    pub fn as_str(self) -> &'static str {
        match self {
            PartitionKey::PrimaryKey => "primary-key",
            PartitionKey::SchemaTable => "schema-table",
        }
    }
}

impl std::str::FromStr for PartitionKey {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "primary-key" => Ok(PartitionKey::PrimaryKey),
            "schema-table" => Ok(PartitionKey::SchemaTable),
            _ => bail!("partition key type must be `primary-key` or `schema-table`, not {text:?}"),
        }
    }
}

/// The Kinesis partition key DMS gives `record`. With [`PartitionKey::PrimaryKey`] the key
/// values follow `<schema>.<table>` in key order, each after a `.` (how DMS joins the columns
/// of a composite key is not documented; any fixed rule keeps per-row order). A table outside
/// [`SCHEMA`] has no known key and falls back to `<schema>.<table>`.
pub fn partition_key(record: &Record, kind: PartitionKey) -> String {
    let mut key = format!("{}.{}", record.schema, record.table);
    let known = table(&record.table).filter(|_| record.schema == SCHEMA);
    if let (PartitionKey::PrimaryKey, Some(table)) = (kind, known) {
        for column in table.key {
            key.push('.');
            if let Some(Value::Number(value) | Value::Text(value)) = record.get(column) {
                key.push_str(value);
            }
        }
    }
    key
}

/// The record as DMS writes it to Kinesis, its `partition-key-type` saying `kind`.
pub fn record_json(record: &Record, kind: PartitionKey) -> String {
    // `Record::to_json` always says primary-key. The metadata follows the data and quotes
    // inside string values are escaped, so the last unescaped occurrence is the metadata field.
    const PRIMARY_KEY: &str = r#""partition-key-type":"primary-key""#;
    let json = record.to_json();
    match (kind, json.rfind(PRIMARY_KEY)) {
        (PartitionKey::SchemaTable, Some(at)) => format!(
            r#"{}"partition-key-type":"schema-table"{}"#,
            &json[..at],
            &json[at + PRIMARY_KEY.len()..]
        ),
        _ => json,
    }
}

// -------------------------------------------------------------------------- sample SQL file

/// Commit time of the sample's first change: 2024-05-01T11:00:00Z, after its last order.
const SAMPLE_START_MICROS: u64 = 11 * 3_600_000_000;

/// The changes the sample's SQL file (`sql/orders-data-setup.sql`) makes, as DMS streams them
/// in CDC: one `insert` per row of an `INSERT … VALUES`, one `update` with the whole row after
/// the change per row an `UPDATE` changes (a row it leaves as it was is not logged, as with
/// binlog_format ROW), in file order. Rows of a `START TRANSACTION … COMMIT` share a
/// transaction id; a statement outside one is its own transaction. Commit times are 1 ms apart.
///
/// Reads what the file uses: `USE`, `START TRANSACTION`, `COMMIT`, `INSERT INTO t (columns)
/// VALUES (…), …` and `UPDATE t SET column = literal, … WHERE column = literal | BETWEEN a AND b
/// | IN (…)` (optionally `NOT`); anything else is an error naming the statement.
pub fn sample_records(sql: &str) -> Result<Vec<Record>> {
    let statements =
        Parser::parse_sql(&MySqlDialect {}, sql).context("parsing the sample SQL as MySQL")?;
    let mut replay = Replay::default();
    for statement in &statements {
        replay
            .apply(statement)
            .with_context(|| format!("sample SQL statement `{}`", excerpt(statement)))?;
    }
    ensure!(
        replay.open.is_none(),
        "the sample SQL ends inside a transaction: add COMMIT (DMS streams committed changes only)"
    );
    Ok(replay.records)
}

/// A statement's text, shortened for error messages.
fn excerpt(statement: &Statement) -> String {
    let text = statement.to_string();
    match text.char_indices().nth(100) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// The sample's rows, held in memory while its statements are replayed.
#[derive(Default)]
struct Replay {
    schema: Option<String>,
    rows: BTreeMap<&'static str, BTreeMap<Vec<KeyPart>, Row>>,
    records: Vec<Record>,
    /// The explicit transaction in progress.
    open: Option<u64>,
    last_transaction: u64,
}

impl Replay {
    fn apply(&mut self, statement: &Statement) -> Result<()> {
        match statement {
            Statement::Use(Use::Object(name) | Use::Database(name) | Use::Schema(name)) => {
                let schema = last_ident(name)?;
                ensure!(
                    schema == SCHEMA,
                    "the sample's tables are in schema `{SCHEMA}`, not `{schema}`"
                );
                self.schema = Some(schema);
            }
            Statement::StartTransaction { .. } => {
                ensure!(self.open.is_none(), "a transaction is already open");
                self.last_transaction += 1;
                self.open = Some(self.last_transaction);
            }
            Statement::Commit { .. } => {
                ensure!(
                    self.open.take().is_some(),
                    "COMMIT without START TRANSACTION"
                );
            }
            Statement::Insert(insert) => {
                let transaction = self.transaction();
                self.insert(insert, transaction)?;
            }
            Statement::Update(update) => {
                let transaction = self.transaction();
                self.update(update, transaction)?;
            }
            _ => bail!(
                "unsupported statement: only USE, START TRANSACTION, COMMIT, INSERT … VALUES and \
                 UPDATE … SET … WHERE are read"
            ),
        }
        Ok(())
    }

    /// The transaction of the next statement: the open one, else its own (autocommit).
    fn transaction(&mut self) -> u64 {
        self.open.unwrap_or_else(|| {
            self.last_transaction += 1;
            self.last_transaction
        })
    }

    fn table(&self, name: &ObjectName) -> Result<&'static Table> {
        let parts = idents(name)?;
        let (schema, name) = match parts.as_slice() {
            [name] => (self.schema.as_deref().unwrap_or(SCHEMA), name.as_str()),
            [schema, name] => (schema.as_str(), name.as_str()),
            _ => bail!("unexpected table name `{name}`"),
        };
        ensure!(
            schema == SCHEMA,
            "the sample's tables are in schema `{SCHEMA}`, not `{schema}`"
        );
        table(name).ok_or_else(|| {
            anyhow!(
                "schema `{SCHEMA}` has no table `{name}` (tables: {})",
                TABLES.map(|t| t.name).join(", ")
            )
        })
    }

    fn insert(&mut self, insert: &Insert, transaction: u64) -> Result<()> {
        let plain = !insert.ignore
            && !insert.replace_into
            && !insert.overwrite
            && insert.on.is_none()
            && insert.assignments.is_empty()
            && insert.partitioned.is_none()
            && insert.returning.is_none();
        ensure!(
            plain,
            "only plain INSERT INTO <table> (<columns>) VALUES (…) is supported"
        );
        let TableObject::TableName(name) = &insert.table else {
            bail!("only INSERT INTO <table> is supported");
        };
        let table = self.table(name)?;
        ensure!(
            !insert.columns.is_empty(),
            "the INSERT must name its columns"
        );
        let columns = insert
            .columns
            .iter()
            .map(|column| table.column(&last_ident(column)?))
            .collect::<Result<Vec<_>>>()?;
        for (at, column) in columns.iter().enumerate() {
            ensure!(
                !columns[..at].contains(column),
                "column `{column}` is named twice"
            );
        }
        let values = match insert.source.as_deref().map(|query| query.body.as_ref()) {
            Some(SetExpr::Values(values)) => values,
            _ => bail!("only INSERT … VALUES is supported"),
        };
        for row in &values.rows {
            let row = &row.content;
            ensure!(
                row.len() == columns.len(),
                "a row has {} values for {} columns",
                row.len(),
                columns.len()
            );
            let mut data = Row::new();
            for column in table.columns {
                if let Some(at) = columns.iter().position(|c| c == column) {
                    if let Some(value) = literal(&row[at])? {
                        data.push((column.to_string(), value));
                    }
                }
            }
            let key = table.key_of(&data).ok_or_else(|| {
                anyhow!(
                    "a row of `{}` lacks a primary-key column ({})",
                    table.name,
                    table.key.join(", ")
                )
            })?;
            let rows = self.rows.entry(table.name).or_default();
            ensure!(
                !rows.contains_key(&key),
                "duplicate primary key {key:?} in `{}`",
                table.name
            );
            rows.insert(key, data.clone());
            self.push(table, "insert", data, transaction);
        }
        Ok(())
    }

    fn update(&mut self, update: &Update, transaction: u64) -> Result<()> {
        let plain = update.table.joins.is_empty()
            && update.from.is_none()
            && update.returning.is_none()
            && update.output.is_none()
            && update.or.is_none()
            && update.order_by.is_empty()
            && update.limit.is_none();
        ensure!(
            plain,
            "only UPDATE <table> SET <column> = <literal>, … WHERE … is supported"
        );
        let TableFactor::Table { name, .. } = &update.table.relation else {
            bail!("only UPDATE <table> is supported");
        };
        let table = self.table(name)?;
        let assignments = update
            .assignments
            .iter()
            .map(|assignment| {
                let AssignmentTarget::ColumnName(column) = &assignment.target else {
                    bail!("only SET <column> = <literal> is supported");
                };
                let column = table.column(&last_ident(column)?)?;
                ensure!(
                    !table.key.contains(&column),
                    "changing primary-key column `{column}` is not supported"
                );
                Ok((column, literal(&assignment.value)?))
            })
            .collect::<Result<Vec<_>>>()?;
        let Some(selection) = &update.selection else {
            bail!(
                "an UPDATE needs WHERE <column> = <literal>, <column> BETWEEN a AND b or \
                 <column> IN (…)"
            );
        };
        let predicate = Predicate::parse(selection, table)?;
        let mut changed = Vec::new();
        // InnoDB visits the rows in primary-key order, and the binary log follows.
        for row in self.rows.entry(table.name).or_default().values_mut() {
            if !predicate.matches(row) {
                continue;
            }
            let after: Row = table
                .columns
                .iter()
                .filter_map(|column| {
                    let value = match assignments.iter().rev().find(|(c, _)| c == column) {
                        Some((_, value)) => value.clone(),
                        None => row
                            .iter()
                            .find(|(name, _)| name == column)
                            .map(|(_, v)| v.clone()),
                    };
                    Some((column.to_string(), value?))
                })
                .collect();
            if after != *row {
                *row = after.clone();
                changed.push(after);
            }
        }
        for row in changed {
            self.push(table, "update", row, transaction);
        }
        Ok(())
    }

    fn push(&mut self, table: &Table, operation: &str, data: Row, transaction: u64) {
        let micros = SAMPLE_START_MICROS + self.records.len() as u64 * 1000;
        self.records.push(Record {
            schema: SCHEMA.to_string(),
            table: table.name.to_string(),
            operation: operation.to_string(),
            data,
            micros,
            transaction_id: transaction,
        });
    }
}

/// A WHERE clause the replay understands: one column against literals.
struct Predicate {
    column: &'static str,
    test: Test,
    negated: bool,
}

enum Test {
    Eq(Value),
    Between(Value, Value),
    In(Vec<Value>),
}

impl Predicate {
    fn parse(expr: &Expr, table: &Table) -> Result<Predicate> {
        let column = |expr: &Expr| match expr {
            Expr::Identifier(ident) => table.column(&ident.value),
            Expr::CompoundIdentifier(idents) => match idents.last() {
                Some(ident) => table.column(&ident.value),
                None => bail!("empty column name"),
            },
            _ => bail!("`{expr}` is not a column"),
        };
        let value = |expr: &Expr| {
            literal(expr)?.ok_or_else(|| anyhow!("comparing with NULL matches no row: use a value"))
        };
        Ok(match expr {
            Expr::Nested(inner) => Predicate::parse(inner, table)?,
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => Predicate {
                column: column(left)?,
                test: Test::Eq(value(right)?),
                negated: false,
            },
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => Predicate {
                column: column(expr)?,
                test: Test::Between(value(low)?, value(high)?),
                negated: *negated,
            },
            Expr::In {
                expr,
                target: InTarget::List(list),
                negated,
                ..
            } => Predicate {
                column: column(expr)?,
                test: Test::In(list.iter().map(value).collect::<Result<_>>()?),
                negated: *negated,
            },
            _ => bail!(
                "unsupported WHERE `{expr}`: use <column> = <literal>, <column> BETWEEN a AND b \
                 or <column> IN (…)"
            ),
        })
    }

    fn matches(&self, row: &Row) -> bool {
        // A NULL column satisfies neither the test nor its negation, as in SQL.
        let Some((_, value)) = row.iter().find(|(name, _)| name == self.column) else {
            return false;
        };
        let eq = |other: &Value| compare(value, other) == Some(Ordering::Equal);
        let hit = match &self.test {
            Test::Eq(other) => eq(other),
            Test::Between(low, high) => {
                matches!(
                    compare(value, low),
                    Some(Ordering::Greater | Ordering::Equal)
                ) && matches!(compare(value, high), Some(Ordering::Less | Ordering::Equal))
            }
            Test::In(list) => list.iter().any(eq),
        };
        hit != self.negated
    }
}

/// MySQL's comparison, roughly: text against text ignoring case (the default collation),
/// anything else as numbers.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Text(a), Value::Text(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        (Value::Number(a) | Value::Text(a), Value::Number(b) | Value::Text(b)) => {
            let (a, b) = (a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?);
            a.partial_cmp(&b)
        }
    }
}

/// A literal: numbers keep their text (`300.00`), strings unquoted, NULL as `None`.
fn literal(expr: &Expr) -> Result<Option<Value>> {
    Ok(match expr {
        Expr::Value(value) => match &value.value {
            SqlValue::Number(text, _) => Some(Value::Number(text.clone())),
            SqlValue::SingleQuotedString(text) | SqlValue::DoubleQuotedString(text) => {
                Some(Value::Text(text.clone()))
            }
            SqlValue::Null => None,
            _ => bail!("unsupported literal `{expr}`: use a number, a 'string' or NULL"),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr: inner,
        } => match literal(inner)? {
            Some(Value::Number(text)) => Some(Value::Number(format!("-{text}"))),
            _ => bail!("unsupported literal `{expr}`"),
        },
        Expr::Nested(inner) => literal(inner)?,
        _ => bail!("`{expr}` is not a literal: use a number, a 'string' or NULL"),
    })
}

fn idents(name: &ObjectName) -> Result<Vec<String>> {
    name.0
        .iter()
        .map(|part| {
            part.as_ident()
                .map(|ident| ident.value.clone())
                .ok_or_else(|| anyhow!("unexpected name `{name}`"))
        })
        .collect()
}

fn last_ident(name: &ObjectName) -> Result<String> {
    idents(name)?
        .pop()
        .ok_or_else(|| anyhow!("empty name `{name}`"))
}

// ------------------------------------------------------------------------- synthetic orders

/// The first synthetic `orderId`, clear of the sample's 10000001..10000015; order `i` (from
/// 0) is `FIRST_SYNTHETIC_ORDER_ID + i`.
pub const FIRST_SYNTHETIC_ORDER_ID: u64 = 20_000_001;

/// At most this many synthetic orders: `orderId` is a MySQL INT.
pub const MAX_SYNTHETIC_ORDERS: u64 = i32::MAX as u64 - FIRST_SYNTHETIC_ORDER_ID + 1;

/// Commit time of the first synthetic change: 2024-05-01T12:00:00Z.
const SYNTHETIC_START_MICROS: u64 = 12 * 3_600_000_000;

/// Orders in progress at once, like sessions committing side by side.
const SESSIONS: usize = 4;

/// `orderAmount` is DECIMAL(6,2): an order's items together stay below this many cents.
const MAX_ORDER_CENTS: u64 = 999_999;

const FIRST_NAMES: [&str; 12] = [
    "Ada", "Bruno", "Carmen", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Ivo", "Jonas", "Keiko",
    "Luis",
];
const LAST_NAMES: [&str; 12] = [
    "Abara",
    "Berg",
    "Costa",
    "Dahl",
    "Esposito",
    "Fong",
    "Garcia",
    "Holm",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lindqvist",
];
const STREETS: [&str; 10] = [
    "Quarry Road",
    "Harbor Street",
    "Mill Lane",
    "Orchard Avenue",
    "Ridge Drive",
    "Station Road",
    "Willow Court",
    "Canal Street",
    "Summit Way",
    "Meadow Place",
];
const CITIES: [(&str, &str, &str); 10] = [
    ("Albany", "NY", "12207"),
    ("Boise", "ID", "83702"),
    ("Charleston", "SC", "29401"),
    ("Des Moines", "IA", "50309"),
    ("Eugene", "OR", "97401"),
    ("Fargo", "ND", "58102"),
    ("Greenville", "SC", "29601"),
    ("Hartford", "CT", "06103"),
    ("Madison", "WI", "53703"),
    ("Tucson", "AZ", "85701"),
];
/// An item's statuses in the order it goes through them.
const ITEM_STATUSES: [&str; 4] = ["New", "Picked", "Packed", "Shipped"];
const ORDER_STATUSES: [&str; 4] = ["Paid", "Shipped", "Delivered", "Cancelled"];

/// `orders` synthetic orders of `items_per_order` items each, as DMS would stream their
/// changes, deterministic from `seed` and produced one order at a time (a million items are
/// never in memory together).
///
/// Per order: a transaction inserting the order and its items; one changing some items (status
/// or quantity, about 30 %) and deleting a few (about 5 %, each after any update of it); one
/// changing the order's status (about half of the orders). Orders are `orderId` 20000001
/// upward; their items are distinct products of the reference data, continuing where the
/// previous order stopped (as the sample does) and wrapping after 999902000. Transactions of
/// [`SESSIONS`] orders interleave, each order's in commit order; commit times are 1 ms apart.
///
/// # Panics
/// When `items_per_order` exceeds [`PRODUCTS`] or `orders` exceeds [`MAX_SYNTHETIC_ORDERS`]
/// ([`Dataset::records`] checks both and returns an error instead).
pub fn synthetic_records(
    orders: u64,
    items_per_order: u32,
    seed: u64,
) -> impl Iterator<Item = Record> + Send + 'static {
    assert!(
        items_per_order <= PRODUCTS,
        "at most {PRODUCTS} items per order"
    );
    assert!(
        orders <= MAX_SYNTHETIC_ORDERS,
        "at most {MAX_SYNTHETIC_ORDERS} orders"
    );
    Synthetic {
        rng: StdRng::seed_from_u64(seed),
        orders,
        items: items_per_order,
        next_order: 0,
        sessions: vec![VecDeque::new(); SESSIONS],
        emitting: VecDeque::new(),
        micros: SYNTHETIC_START_MICROS,
        last_transaction: 0,
    }
}

/// One row change of a transaction not yet committed.
type Change = (&'static Table, &'static str, Row);

struct Synthetic {
    rng: StdRng,
    orders: u64,
    items: u32,
    next_order: u64,
    /// Per session, the transactions of its order still to commit.
    sessions: Vec<VecDeque<Vec<Change>>>,
    /// The committed transaction being handed out.
    emitting: VecDeque<Record>,
    micros: u64,
    last_transaction: u64,
}

impl Iterator for Synthetic {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        if let Some(record) = self.emitting.pop_front() {
            return Some(record);
        }
        for session in 0..SESSIONS {
            if self.sessions[session].is_empty() && self.next_order < self.orders {
                self.sessions[session] = self.order(self.next_order);
                self.next_order += 1;
            }
        }
        let active: Vec<usize> = (0..SESSIONS)
            .filter(|&s| !self.sessions[s].is_empty())
            .collect();
        let session = *active.choose(&mut self.rng)?;
        let changes = self.sessions[session].pop_front()?;
        self.last_transaction += 1;
        for (table, operation, data) in changes {
            self.emitting.push_back(Record {
                schema: SCHEMA.to_string(),
                table: table.name.to_string(),
                operation: operation.to_string(),
                data,
                micros: self.micros,
                transaction_id: self.last_transaction,
            });
            self.micros += 1000;
        }
        self.emitting.pop_front()
    }
}

impl Synthetic {
    /// The transactions of order number `index` (from 0), none of them empty.
    fn order(&mut self, index: u64) -> VecDeque<Vec<Change>> {
        let rng = &mut self.rng;
        let order_id = FIRST_SYNTHETIC_ORDER_ID + index;
        let count = u64::from(self.items);
        let max_item_cents = (MAX_ORDER_CENTS / count.max(1)).min(50_000);
        let mut items: Vec<Row> = (0..count)
            .map(|at| {
                let item_id = FIRST_PRODUCT_ID + (index * count + at) % u64::from(PRODUCTS);
                vec![
                    number("orderId", order_id),
                    number("itemId", item_id),
                    number("itemQuantity", rng.random_range(1..=20u64)),
                    cents("itemAmount", rng.random_range(100..=max_item_cents)),
                    text("itemStatus", ITEM_STATUSES[0]),
                ]
            })
            .collect();
        let total: u64 = items
            .iter()
            .map(|item| match &item[3].1 {
                Value::Number(amount) => amount.replace('.', "").parse::<u64>().unwrap_or(0),
                Value::Text(_) => 0,
            })
            .sum();
        let (city, state, zip) = *CITIES.choose(rng).expect("cities");
        let name = format!(
            "{} {}",
            FIRST_NAMES.choose(rng).expect("names"),
            LAST_NAMES.choose(rng).expect("names")
        );
        let address = format!(
            "{} {}",
            rng.random_range(1..=9999u32),
            STREETS.choose(rng).expect("streets")
        );
        let placed = testkit::dms::timestamp(self.micros);
        let mut order = vec![
            number("orderId", order_id),
            cents("orderAmount", total),
            text("orderStatus", "New"),
            // ISO-8601 with milliseconds, as the application writes it.
            text("orderDateTime", &format!("{}Z", &placed[..23])),
            text("shipToName", &name),
            text("shipToAddress", &address),
            text("shipToCity", city),
            text("shipToState", state),
            text("shipToZip", zip),
        ];

        let mut transactions = VecDeque::new();
        let mut placing = vec![(ORDER, "insert", order.clone())];
        placing.extend(
            items
                .iter()
                .map(|item| (ORDER_ITEM, "insert", item.clone())),
        );
        transactions.push_back(placing);

        let mut fulfilling = Vec::new();
        for item in &mut items {
            if rng.random_bool(0.3) {
                if rng.random_bool(0.5) {
                    let Value::Text(status) = &item[4].1 else {
                        unreachable!("itemStatus is text")
                    };
                    let at = ITEM_STATUSES.iter().position(|s| s == status).unwrap_or(0);
                    item[4].1 = Value::Text(ITEM_STATUSES[(at + 1) % ITEM_STATUSES.len()].into());
                } else {
                    // A different quantity: an UPDATE that changes nothing is not logged.
                    let Value::Number(quantity) = &item[2].1 else {
                        unreachable!("itemQuantity is a number")
                    };
                    let quantity: u64 = quantity.parse().unwrap_or(1);
                    let other = rng.random_range(1..=19u64);
                    let other = if other >= quantity { other + 1 } else { other };
                    item[2].1 = Value::Number(other.to_string());
                }
                fulfilling.push((ORDER_ITEM, "update", item.clone()));
            }
            // The last change of the item: nothing later touches it.
            if rng.random_bool(0.05) {
                fulfilling.push((ORDER_ITEM, "delete", item.clone()));
            }
        }
        if !fulfilling.is_empty() {
            transactions.push_back(fulfilling);
        }

        if rng.random_bool(0.5) {
            order[2].1 = Value::Text(ORDER_STATUSES.choose(rng).expect("statuses").to_string());
            transactions.push_back(vec![(ORDER, "update", order)]);
        }
        transactions
    }
}

fn number(column: &str, value: u64) -> (String, Value) {
    (column.to_string(), Value::Number(value.to_string()))
}

fn cents(column: &str, cents: u64) -> (String, Value) {
    (
        column.to_string(),
        Value::Number(format!("{}.{:02}", cents / 100, cents % 100)),
    )
}

fn text(column: &str, value: &str) -> (String, Value) {
    (column.to_string(), Value::Text(value.to_string()))
}

// ---------------------------------------------------------------------------- the load run

/// Where the records come from.
#[derive(Clone, Debug)]
pub enum Dataset {
    /// The sample's SQL file (`sql/orders-data-setup.sql`), replayed by [`sample_records`].
    Sample { sql: PathBuf },
    /// [`synthetic_records`].
    Synthetic {
        orders: u64,
        items_per_order: u32,
        seed: u64,
    },
}

impl Dataset {
    /// The data set's records, in commit order.
    pub fn records(&self) -> Result<Box<dyn Iterator<Item = Record> + Send>> {
        match self {
            Dataset::Sample { sql } => {
                let text = std::fs::read_to_string(sql)
                    .with_context(|| format!("reading the sample SQL {}", sql.display()))?;
                let records =
                    sample_records(&text).with_context(|| format!("reading {}", sql.display()))?;
                Ok(Box::new(records.into_iter()))
            }
            &Dataset::Synthetic {
                orders,
                items_per_order,
                seed,
            } => {
                ensure!(
                    items_per_order <= PRODUCTS,
                    "items per order must be at most {PRODUCTS} (the products of the reference \
                     data), not {items_per_order}"
                );
                ensure!(
                    orders <= MAX_SYNTHETIC_ORDERS,
                    "orders must be at most {MAX_SYNTHETIC_ORDERS} (orderId is an INT), not \
                     {orders}"
                );
                Ok(Box::new(synthetic_records(orders, items_per_order, seed)))
            }
        }
    }
}

/// What [`run`] puts where.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// The CDC stream: a name, or an ARN (`arn:…`).
    pub stream: String,
    pub dataset: Dataset,
    /// Records per second; `None`: as fast as the stream takes them.
    pub rate: Option<f64>,
    pub partition_key: PartitionKey,
    /// A progress bar on stderr when it is a terminal, else a line every 10 s.
    pub progress: bool,
}

/// What [`run`] put.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadReport {
    /// Records of the data set, each on the stream at least once.
    pub records: u64,
    /// Records per table name (`order`, `order_item`).
    pub per_table: BTreeMap<String, u64>,
    pub elapsed: Duration,
    /// `order_item` rows alive at the end (inserted and not deleted).
    pub expected_items: u64,
    /// Records put again: those Kinesis rejected (throttling), plus later records of their
    /// partition keys in the same call, re-put so that each key's last record is its latest
    /// change. Consumers see these as duplicates.
    pub repeated: u64,
}

impl LoadReport {
    /// Counts `record` as put.
    fn count(&mut self, record: &Record) {
        self.records += 1;
        *self.per_table.entry(record.table.clone()).or_default() += 1;
        if record.table == ORDER_ITEM.name {
            match record.operation.as_str() {
                "insert" | "load" => self.expected_items += 1,
                "delete" => self.expected_items = self.expected_items.saturating_sub(1),
                _ => {}
            }
        }
    }
}

/// PutRecords calls in flight at once. A partition key always goes through the same sender,
/// so each key's records reach the stream in commit order.
const SENDERS: usize = 4;

/// PutRecords limits: records per call, bytes per call (data and partition keys), bytes per
/// record.
const MAX_BATCH_RECORDS: usize = 500;
const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;
const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Calls in a row in which Kinesis accepts none of a batch's records before [`run`] gives up.
const MAX_FRUITLESS_ATTEMPTS: u32 = 20;

/// Puts the data set's records on `options.stream` as DMS would: PutRecords in batches, the
/// records of one partition key in commit order, rejected records (throttling) put again with
/// exponential back-off and jitter, paced to `options.rate`.
pub async fn run(kinesis: &aws_sdk_kinesis::Client, options: &LoadOptions) -> Result<LoadReport> {
    if let Some(rate) = options.rate {
        ensure!(
            rate.is_finite() && rate > 0.0,
            "the rate must be a positive number of records per second, not {rate}"
        );
    }
    let records = options.dataset.records()?;
    // The data set is deterministic and cheap to make: counted for the bar's length.
    let progress = Arc::new(Progress::new(
        options.progress,
        || Ok(options.dataset.records()?.count() as u64),
        "cdc-load",
        "records on the stream",
    )?);
    let repeated = Arc::new(AtomicU64::new(0));
    let stream = Arc::new(options.stream.clone());

    let mut senders = Vec::with_capacity(SENDERS);
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..SENDERS {
        let (sender, receiver) = mpsc::channel(2 * MAX_BATCH_RECORDS);
        senders.push(sender);
        workers.spawn(send_batches(
            kinesis.clone(),
            stream.clone(),
            receiver,
            progress.clone(),
            repeated.clone(),
            worker as u64,
        ));
    }

    let mut report = LoadReport::default();
    let start = tokio::time::Instant::now();
    for (admitted, record) in records.enumerate() {
        if let Some(rate) = options.rate {
            let due = start + Duration::from_secs_f64(admitted as f64 / rate);
            if due > tokio::time::Instant::now() {
                tokio::time::sleep_until(due).await;
            }
        }
        let key = partition_key(&record, options.partition_key);
        let data = record_json(&record, options.partition_key);
        ensure!(
            data.len() + key.len() <= MAX_RECORD_BYTES,
            "a record of `{}` is {} bytes, more than Kinesis takes (1 MiB)",
            record.table,
            data.len()
        );
        let sender = &senders[sender_of(&key)];
        let entry = PutRecordsRequestEntry::builder()
            .data(Blob::new(data))
            .partition_key(key)
            .build()
            .context("building a PutRecords entry")?;
        if sender.send(entry).await.is_err() {
            break; // That sender failed; its error is reported below.
        }
        report.count(&record);
    }
    drop(senders);

    let mut failure = None;
    while let Some(outcome) = workers.join_next().await {
        let outcome = outcome
            .map_err(|e| anyhow!("a PutRecords sender panicked: {e}"))
            .and_then(|result| result);
        if let (Err(error), None) = (outcome, &failure) {
            failure = Some(error);
        }
    }
    progress.finish();
    if let Some(error) = failure {
        return Err(error);
    }
    report.elapsed = start.elapsed();
    report.repeated = repeated.load(atomic::Ordering::Relaxed);
    Ok(report)
}

fn sender_of(key: &str) -> usize {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % SENDERS as u64) as usize
}

fn entry_bytes(entry: &PutRecordsRequestEntry) -> usize {
    entry.data().as_ref().len() + entry.partition_key().unwrap_or_default().len()
}

/// A PutRecords call's records, within the call's limits.
#[derive(Default)]
struct Batch {
    entries: Vec<PutRecordsRequestEntry>,
    bytes: usize,
}

impl Batch {
    /// Adds `entry` if the call can take it, else hands it back.
    fn try_push(
        &mut self,
        entry: PutRecordsRequestEntry,
    ) -> std::result::Result<(), PutRecordsRequestEntry> {
        let bytes = entry_bytes(&entry);
        let fits = self.entries.is_empty()
            || (self.entries.len() < MAX_BATCH_RECORDS && self.bytes + bytes <= MAX_BATCH_BYTES);
        if !fits {
            return Err(entry);
        }
        self.bytes += bytes;
        self.entries.push(entry);
        Ok(())
    }

    fn is_full(&self) -> bool {
        self.entries.len() >= MAX_BATCH_RECORDS
    }
}

/// One sender: batches what has arrived (more while the previous call was in flight) and puts
/// each batch completely before the next.
async fn send_batches(
    kinesis: aws_sdk_kinesis::Client,
    stream: Arc<String>,
    mut receiver: mpsc::Receiver<PutRecordsRequestEntry>,
    progress: Arc<Progress>,
    repeated: Arc<AtomicU64>,
    worker: u64,
) -> Result<()> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut jitter = StdRng::seed_from_u64(nanos ^ worker);
    let mut carried = None;
    loop {
        let first = match carried.take() {
            Some(entry) => entry,
            None => match receiver.recv().await {
                Some(entry) => entry,
                None => return Ok(()),
            },
        };
        let mut batch = Batch::default();
        let _ = batch.try_push(first);
        while !batch.is_full() {
            match receiver.try_recv() {
                Ok(entry) => {
                    if let Err(entry) = batch.try_push(entry) {
                        carried = Some(entry);
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        put_batch(
            &kinesis,
            &stream,
            batch.entries,
            &progress,
            &repeated,
            &mut jitter,
        )
        .await?;
    }
}

/// Puts `entries` until Kinesis has taken all of them.
async fn put_batch(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    mut entries: Vec<PutRecordsRequestEntry>,
    progress: &Progress,
    repeated: &AtomicU64,
    jitter: &mut StdRng,
) -> Result<()> {
    let mut fruitless = 0;
    for attempt in 0.. {
        let request = kinesis.put_records().set_records(Some(entries.clone()));
        let request = if stream.starts_with("arn:") {
            request.stream_arn(stream)
        } else {
            request.stream_name(stream)
        };
        let output = request.send().await.map_err(|error| {
            // A service error's own text; anything else (connection, timeout) with its causes.
            let cause = match error.as_service_error() {
                Some(service) => service.to_string(),
                None => DisplayErrorContext(&error).to_string(),
            };
            anyhow!("putting records on Kinesis stream {stream}: {cause}")
        })?;
        let results = output.records();
        ensure!(
            results.len() == entries.len(),
            "Kinesis stream {stream} answered {} results for {} records",
            results.len(),
            entries.len()
        );
        let failed: Vec<bool> = results.iter().map(|r| r.error_code().is_some()).collect();
        let keys: Vec<&str> = entries
            .iter()
            .map(|e| e.partition_key().unwrap_or_default())
            .collect();
        let again = to_put_again(&keys, &failed);
        progress.add((entries.len() - again.len()) as u64);
        if again.is_empty() {
            return Ok(());
        }
        let rejected = failed.iter().filter(|&&f| f).count();
        repeated.fetch_add(again.len() as u64, atomic::Ordering::Relaxed);
        fruitless = if rejected < entries.len() {
            0
        } else {
            fruitless + 1
        };
        if fruitless >= MAX_FRUITLESS_ATTEMPTS {
            let reason = results
                .iter()
                .find_map(|r| {
                    let code = r.error_code()?;
                    Some(format!("{code}: {}", r.error_message().unwrap_or_default()))
                })
                .unwrap_or_default();
            bail!(
                "Kinesis stream {stream} rejected all of {} records {MAX_FRUITLESS_ATTEMPTS} \
                 times in a row ({reason}): lower the rate or add shards",
                entries.len()
            );
        }
        let mut slots: Vec<Option<PutRecordsRequestEntry>> =
            entries.into_iter().map(Some).collect();
        entries = again.iter().filter_map(|&at| slots[at].take()).collect();
        tokio::time::sleep(backoff(attempt, jitter)).await;
    }
    unreachable!("the attempts loop returns")
}

/// Which records of a partly rejected PutRecords call to put again, in order: the rejected
/// ones, and every later one sharing a partition key with a rejected one (it went on the
/// stream before the rejected change it follows; putting it again makes it last again).
fn to_put_again(keys: &[&str], failed: &[bool]) -> Vec<usize> {
    let mut behind = HashSet::new();
    (0..keys.len())
        .filter(|&at| {
            if failed[at] {
                behind.insert(keys[at]);
                true
            } else {
                behind.contains(keys[at])
            }
        })
        .collect()
}

/// Exponential back-off from 50 ms, capped at 5 s, with jitter in its upper half.
fn backoff(attempt: u32, jitter: &mut StdRng) -> Duration {
    let ceiling = Duration::from_millis(50)
        .saturating_mul(1 << attempt.min(10))
        .min(Duration::from_secs(5));
    ceiling.mul_f64(jitter.random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SAMPLE: &str = include_str!("../../../sql/orders-data-setup.sql");
    const SCHEMA_SQL: &str = include_str!("../../../sql/orderdb-setup.sql");

    fn n(text: &str) -> Value {
        Value::Number(text.into())
    }

    fn t(text: &str) -> Value {
        Value::Text(text.into())
    }

    fn columns(record: &Record) -> Vec<&str> {
        record.data.iter().map(|(name, _)| name.as_str()).collect()
    }

    #[test]
    fn sample_inserts_15_orders_then_30_items_then_updates_every_item_to_new() {
        let records = sample_records(SAMPLE).unwrap();
        assert_eq!(records.len(), 75);
        let (orders, rest) = records.split_at(15);
        let (items, updates) = rest.split_at(30);

        for (at, order) in orders.iter().enumerate() {
            assert_eq!(
                (order.table.as_str(), order.operation.as_str()),
                ("order", "insert")
            );
            assert_eq!(
                order.get("orderId"),
                Some(&n(&(10_000_001 + at).to_string()))
            );
            assert_eq!(order.get("orderAmount"), Some(&n("300.00")));
            assert_eq!(order.get("orderStatus"), Some(&t("New")));
            assert_eq!(columns(order), ORDER.columns);
        }
        assert_eq!(
            orders[0].data,
            vec![
                ("orderId".into(), n("10000001")),
                ("orderAmount".into(), n("300.00")),
                ("orderStatus".into(), t("New")),
                ("orderDateTime".into(), t("2024-05-01T09:00:13.137Z")),
                ("shipToName".into(), t("Maria Lopez")),
                ("shipToAddress".into(), t("1420 Alder Way")),
                ("shipToCity".into(), t("Seattle")),
                ("shipToState".into(), t("WA")),
                ("shipToZip".into(), t("98101")),
            ]
        );
        // A zip code with a leading zero stays text.
        assert_eq!(orders[10].get("shipToZip"), Some(&t("02108")));

        for (at, item) in items.iter().enumerate() {
            let first = at % 2 == 0;
            assert_eq!(
                (item.table.as_str(), item.operation.as_str()),
                ("order_item", "insert")
            );
            assert_eq!(
                item.get("orderId"),
                Some(&n(&(10_000_001 + at / 2).to_string()))
            );
            assert_eq!(
                item.get("itemId"),
                Some(&n(&(999_900_001 + at).to_string()))
            );
            assert_eq!(
                item.get("itemQuantity"),
                Some(&n(if first { "10" } else { "20" }))
            );
            assert_eq!(
                item.get("itemAmount"),
                Some(&n(if first { "100.00" } else { "200.00" }))
            );
            assert_eq!(item.get("itemStatus"), Some(&t("Picked")));
            assert_eq!(columns(item), ORDER_ITEM.columns);
        }

        // The item updates carry the whole row, only the status changed; the `order` update
        // changes no row and so streams nothing.
        for (item, update) in items.iter().zip(updates) {
            assert_eq!(
                (update.table.as_str(), update.operation.as_str()),
                ("order_item", "update")
            );
            let mut expected = item.data.clone();
            expected[4].1 = t("New");
            assert_eq!(update.data, expected);
        }

        assert!(records[..45].iter().all(|r| r.transaction_id == 1));
        assert!(records[45..].iter().all(|r| r.transaction_id == 2));
        assert!(records.windows(2).all(|w| w[0].micros < w[1].micros));
        assert!(records.iter().all(|r| r.schema == "orders"));
    }

    #[test]
    fn sample_records_render_as_dms_json() {
        let records = sample_records(SAMPLE).unwrap();
        assert_eq!(
            records[15].to_json(),
            r#"{"data":{"orderId":10000001,"itemId":999900001,"itemQuantity":10,"itemAmount":100.00,"itemStatus":"Picked"},"metadata":{"timestamp":"2024-05-01T11:00:00.015000Z","record-type":"data","operation":"insert","partition-key-type":"primary-key","schema-name":"orders","table-name":"order_item","transaction-id":1}}"#
        );
        let json = record_json(&records[15], PartitionKey::SchemaTable);
        assert!(
            json.contains(r#""partition-key-type":"schema-table""#),
            "{json}"
        );
        assert!(!json.contains("primary-key"), "{json}");
    }

    #[test]
    fn hardcoded_schema_matches_orderdb_setup_sql() {
        let statements = Parser::parse_sql(&MySqlDialect {}, SCHEMA_SQL).unwrap();
        let mut seen = 0;
        for statement in statements {
            let Statement::CreateTable(create) = statement else {
                continue;
            };
            let name = last_ident(&create.name).unwrap();
            let table = table(&name).unwrap_or_else(|| panic!("table {name} is not known"));
            let columns: Vec<String> = create
                .columns
                .iter()
                .map(|c| c.name.value.clone())
                .collect();
            assert_eq!(columns, table.columns, "columns of {name}");
            let key: Vec<String> = create
                .constraints
                .iter()
                .find_map(|c| match c {
                    sqlparser::ast::TableConstraint::PrimaryKey(pk) => Some(
                        pk.columns
                            .iter()
                            .map(|c| c.column.expr.to_string())
                            .collect(),
                    ),
                    _ => None,
                })
                .unwrap();
            assert_eq!(key, table.key, "primary key of {name}");
            seen += 1;
        }
        assert_eq!(seen, TABLES.len());
    }

    #[test]
    fn updates_select_rows_by_equality_in_list_and_negation() {
        let sql = "
            INSERT INTO order_item (itemStatus, orderId, itemId, itemQuantity, itemAmount)
            VALUES ('A', 1, 11, 1, 1.50), ('A', 1, 12, 2, -3), ('A', 2, 13, 3, 1.00);
            UPDATE order_item SET itemStatus = 'B' WHERE itemId = 12;
            UPDATE order_item SET itemStatus = 'C', itemQuantity = 9 WHERE itemId IN (11, 13);
            UPDATE orders.order_item SET itemStatus = 'D' WHERE orderId NOT BETWEEN 2 AND 5;
            UPDATE order_item SET itemStatus = 'D' WHERE itemStatus = 'd';
        ";
        let records = sample_records(sql).unwrap();
        let summary: Vec<(String, String, u64)> = records
            .iter()
            .map(|r| {
                let Some(Value::Number(item)) = r.get("itemId") else {
                    panic!()
                };
                let Some(Value::Text(status)) = r.get("itemStatus") else {
                    panic!()
                };
                (
                    r.operation.clone(),
                    status.clone(),
                    r.transaction_id * 100 + item.parse::<u64>().unwrap() % 100,
                )
            })
            .collect();
        let expected = [
            ("insert", "A", 111),
            ("insert", "A", 112),
            ("insert", "A", 113),
            ("update", "B", 212),
            ("update", "C", 311),
            ("update", "C", 313),
            ("update", "D", 411),
            ("update", "D", 412),
        ];
        let expected: Vec<(String, String, u64)> = expected
            .iter()
            .map(|(o, s, k)| (o.to_string(), s.to_string(), *k))
            .collect();
        assert_eq!(summary, expected);
        // Columns in the schema's order whatever the INSERT's; numbers keep their text.
        assert_eq!(columns(&records[0]), ORDER_ITEM.columns);
        assert_eq!(records[1].get("itemAmount"), Some(&n("-3")));
        assert_eq!(records[4].get("itemQuantity"), Some(&n("9")));
    }

    #[test]
    fn unsupported_statements_are_errors_naming_them() {
        let cases = [
            ("DELETE FROM order_item WHERE orderId = 1;", "DELETE FROM order_item"),
            (
                "UPDATE order_item SET itemStatus = 'x' WHERE orderId > 1;",
                "orderId > 1",
            ),
            ("UPDATE order_item SET itemStatus = 'x';", "needs WHERE"),
            (
                "UPDATE order_item SET itemStatus = UPPER('x') WHERE orderId = 1;",
                "not a literal",
            ),
            (
                "UPDATE order_item SET itemId = 2 WHERE orderId = 1;",
                "primary-key column `itemId`",
            ),
            ("INSERT INTO order_item VALUES (1, 2, 3, 4.00, 'x');", "name its columns"),
            ("INSERT INTO customers (id) VALUES (1);", "no table `customers`"),
            ("INSERT INTO order_item (orderId, nope) VALUES (1, 2);", "no column `nope`"),
            (
                "INSERT INTO `order` (orderId) VALUES (1); INSERT INTO `order` (orderId) VALUES (1);",
                "duplicate primary key",
            ),
            ("START TRANSACTION; INSERT INTO `order` (orderId) VALUES (1);", "add COMMIT"),
        ];
        for (sql, needle) in cases {
            let error = format!("{:#}", sample_records(sql).unwrap_err());
            assert!(error.contains(needle), "{sql}: {error}");
        }
    }

    #[test]
    fn partition_keys_follow_dms() {
        let records = sample_records(SAMPLE).unwrap();
        assert_eq!(
            partition_key(&records[0], PartitionKey::PrimaryKey),
            "orders.order.10000001"
        );
        assert_eq!(
            partition_key(&records[15], PartitionKey::PrimaryKey),
            "orders.order_item.10000001.999900001"
        );
        assert_eq!(
            partition_key(&records[15], PartitionKey::SchemaTable),
            "orders.order_item"
        );
        assert_eq!(
            "schema-table".parse::<PartitionKey>().unwrap(),
            PartitionKey::SchemaTable
        );
        assert!("table".parse::<PartitionKey>().is_err());
    }

    #[test]
    fn synthetic_records_are_deterministic_from_the_seed() {
        let a: Vec<Record> = synthetic_records(20, 5, 42).collect();
        let b: Vec<Record> = synthetic_records(20, 5, 42).collect();
        let c: Vec<Record> = synthetic_records(20, 5, 43).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn synthetic_records_stream_lazily() {
        // A billion items: only what is taken is made.
        let first: Vec<Record> = synthetic_records(1_000_000, 1000, 1).take(3).collect();
        assert_eq!(first[0].table, "order");
        assert_eq!(first[1].table, "order_item");
    }

    #[test]
    fn synthetic_changes_of_each_row_are_in_commit_order() {
        let items = 50;
        let records: Vec<Record> = synthetic_records(200, items, 7).collect();
        let mut rows: HashMap<String, Vec<&Record>> = HashMap::new();
        for record in &records {
            rows.entry(partition_key(record, PartitionKey::PrimaryKey))
                .or_default()
                .push(record);
        }
        assert_eq!(rows.len(), 200 * (1 + items as usize));
        let mut operations: HashMap<&str, u64> = HashMap::new();
        for changes in rows.values() {
            assert_eq!(changes[0].operation, "insert");
            // An item can be updated and deleted in one transaction.
            assert!(changes
                .windows(2)
                .all(|w| w[0].micros < w[1].micros && w[0].transaction_id <= w[1].transaction_id));
            if let Some(at) = changes.iter().position(|r| r.operation == "delete") {
                assert_eq!(at, changes.len() - 1, "a deleted row changes no more");
            }
            for change in changes {
                *operations.entry(change.operation.as_str()).or_default() += 1;
            }
        }
        assert_eq!(operations["insert"], 200 * (1 + u64::from(items)));
        assert!(operations["update"] > 200 * u64::from(items) / 5);
        assert!(operations["delete"] > 0);
        assert!(records.windows(2).all(|w| w[0].micros < w[1].micros));
        assert!(records
            .windows(2)
            .all(|w| w[0].transaction_id <= w[1].transaction_id));

        // Several orders are in progress at once: some order inserts come before the previous
        // order's last change.
        let mut last_change: HashMap<String, usize> = HashMap::new();
        let mut first_change: HashMap<String, usize> = HashMap::new();
        for (at, record) in records.iter().enumerate() {
            let Some(Value::Number(order)) = record.get("orderId") else {
                panic!()
            };
            first_change.entry(order.clone()).or_insert(at);
            last_change.insert(order.clone(), at);
        }
        let overlapping = first_change
            .iter()
            .filter(|(order, &first)| {
                let previous = (order.parse::<u64>().unwrap() - 1).to_string();
                last_change.get(&previous).is_some_and(|&last| last > first)
            })
            .count();
        assert!(overlapping > 10, "{overlapping} orders overlap");
    }

    #[test]
    fn synthetic_rows_fit_the_schema_and_the_products() {
        let items = PRODUCTS;
        let mut report = LoadReport::default();
        let mut per_order: HashMap<String, HashSet<String>> = HashMap::new();
        for record in synthetic_records(3, items, 9) {
            let table = table(&record.table).unwrap();
            assert_eq!(columns(&record), table.columns);
            if record.table == "order_item" && record.operation == "insert" {
                let Some(Value::Number(item)) = record.get("itemId") else {
                    panic!()
                };
                let id: u64 = item.parse().unwrap();
                assert!((999_900_001..=999_902_000).contains(&id), "{id}");
                let Some(Value::Number(order)) = record.get("orderId") else {
                    panic!()
                };
                assert!(per_order
                    .entry(order.clone())
                    .or_default()
                    .insert(item.clone()));
            }
            if record.table == "order" {
                let Some(Value::Number(amount)) = record.get("orderAmount") else {
                    panic!()
                };
                let (whole, fraction) = amount.split_once('.').unwrap();
                assert!(
                    whole.len() <= 4 && fraction.len() == 2,
                    "DECIMAL(6,2): {amount}"
                );
            }
            report.count(&record);
        }
        assert!(per_order
            .values()
            .all(|items| items.len() == PRODUCTS as usize));
        let deletes = synthetic_records(3, items, 9)
            .filter(|r| r.operation == "delete")
            .count() as u64;
        assert!(deletes > 0);
        assert_eq!(report.expected_items, 3 * u64::from(items) - deletes);
    }

    #[test]
    fn rejected_records_and_their_followers_are_put_again() {
        let keys = ["a", "b", "a", "c", "b", "a"];
        let failed = [false, true, false, false, false, true];
        assert_eq!(to_put_again(&keys, &failed), vec![1, 4, 5]);
        assert_eq!(to_put_again(&keys, &[false; 6]), Vec::<usize>::new());
    }

    #[test]
    fn batches_stay_within_put_records_limits() {
        let entry = |bytes: usize| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(vec![b'x'; bytes]))
                .partition_key("k")
                .build()
                .unwrap()
        };
        let mut batch = Batch::default();
        for _ in 0..MAX_BATCH_RECORDS {
            batch.try_push(entry(10)).unwrap();
        }
        assert!(batch.is_full());
        assert!(batch.try_push(entry(10)).is_err());

        // 5 records of 1 MiB less a byte (data and partition key), then 5 bytes fit; no more.
        let mut batch = Batch::default();
        for _ in 0..5 {
            batch.try_push(entry(MAX_RECORD_BYTES - 2)).unwrap();
        }
        assert!(batch.try_push(entry(MAX_RECORD_BYTES - 2)).is_err());
        batch.try_push(entry(4)).unwrap();
        assert_eq!(batch.bytes, MAX_BATCH_BYTES);
        assert!(batch.try_push(entry(0)).is_err());
    }

    #[test]
    fn backoff_grows_to_a_ceiling() {
        let mut rng = StdRng::seed_from_u64(1);
        let first = backoff(0, &mut rng);
        assert!(first >= Duration::from_millis(25) && first <= Duration::from_millis(50));
        let late = backoff(30, &mut rng);
        assert!(late >= Duration::from_millis(2500) && late <= Duration::from_secs(5));
    }
}
