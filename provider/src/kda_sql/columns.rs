//! The columns of an application's input and reference tables: [`columns_from_ddl`] derives the
//! input schema of a DMS JSON change stream from the MySQL DDL of the source tables;
//! [`columns_from_json`] infers a reference table's schema from its S3 object.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;
use sqlparser::ast::Statement;
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::mapping::member_path;
use super::types::{kda_type_of_data_type, KdaType, MAX_LENGTH};

/// One column of an in-application stream or reference table: KDA's RecordColumn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub sql_type: String,
    pub mapping: String,
}

/// The DMS metadata columns every derived input schema starts with.
/// `recordType`: the source table of the change, mapping `$.metadata.table-name`, VARCHAR(64).
pub const RECORD_TYPE_COLUMN: &str = "recordType";

/// `operation`: `load`, `insert`, `update`, `delete` (or a control operation), mapping
/// `$.metadata.operation`, VARCHAR(16).
pub const OPERATION_COLUMN: &str = "operation";

const RECORD_TYPE_MAPPING: &str = "$.metadata.table-name";

const OPERATION_MAPPING: &str = "$.metadata.operation";

const RECORD_TYPE_SQL_TYPE: &str = "VARCHAR(64)";

const OPERATION_SQL_TYPE: &str = "VARCHAR(16)";

/// RecordColumn.Name: at most 256 characters (KDA API reference).
const MAX_COLUMN_NAME_LEN: usize = 256;

// ------------------------------------------------------------------------------------------------
// Column names
// ------------------------------------------------------------------------------------------------

/// A RecordColumn name for a source field: KDA's pattern `[^-\s<>&]*` excludes `-`, whitespace,
/// `<`, `>` and `&`, which become `_` (the mapping keeps the field's real name).
fn column_name_for(field: &str) -> Result<String, String> {
    if field.is_empty() {
        return Err("a field has an empty name, which cannot name a column".to_string());
    }
    let name: String = field
        .chars()
        .map(|c| {
            if c == '-' || c == '<' || c == '>' || c == '&' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if name.chars().count() > MAX_COLUMN_NAME_LEN {
        return Err(format!(
            "the field name `{field}` is longer than the {MAX_COLUMN_NAME_LEN} characters a \
             column name may have"
        ));
    }
    Ok(name)
}

// ------------------------------------------------------------------------------------------------
// columns_from_ddl
// ------------------------------------------------------------------------------------------------

fn is_unquoted_word(t: &Token, kw: &str) -> bool {
    matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
}

/// The input schema for a DMS JSON stream of the tables in `ddl` (MySQL DDL text):
/// the two metadata columns first, then one column per distinct column name over all CREATE
/// TABLE statements in file order (first occurrence wins its position), mapping `$.data.<col>`,
/// SQL type translated from the MySQL type, widened when tables disagree.
pub fn columns_from_ddl(ddl: &str) -> Result<Vec<Column>, String> {
    let dialect = MySqlDialect {};
    let tokens = Tokenizer::new(&dialect, ddl)
        .tokenize_with_location()
        .map_err(|e| {
            format!(
                "cannot read the DDL: {} at line {}, column {}",
                e.message, e.location.line, e.location.column
            )
        })?;

    // Statement by statement, so that statements sqlparser does not know (and that do not
    // matter here) cannot stop the CREATE TABLEs from being read.
    let mut statements: Vec<Vec<TokenWithSpan>> = vec![Vec::new()];
    for t in tokens {
        if t.token == Token::SemiColon {
            statements.push(Vec::new());
        } else if let Some(last) = statements.last_mut() {
            last.push(t);
        }
    }

    struct DdlColumn {
        name: String,
        field: String,
        ty: KdaType,
        first_table: String,
    }
    let mut columns: Vec<DdlColumn> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut tables = 0usize;

    for statement in statements {
        let significant: Vec<&TokenWithSpan> = statement
            .iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_)))
            .collect();
        let Some(first) = significant.first() else {
            continue;
        };
        let is_create_table = is_unquoted_word(&first.token, "CREATE")
            && significant
                .iter()
                .skip(1)
                .take(3)
                .take_while(|t| !matches!(&t.token, Token::LParen))
                .any(|t| is_unquoted_word(&t.token, "TABLE"));
        if !is_create_table {
            continue;
        }
        let line = first.span.start.line;
        let parsed = Parser::new(&dialect)
            .with_tokens_with_locations(statement)
            .parse_statement()
            .map_err(|e| format!("cannot parse the CREATE TABLE statement on line {line}: {e}"))?;
        let Statement::CreateTable(table) = parsed else {
            continue;
        };
        let table_name = table.name.to_string();
        if table.columns.is_empty() {
            return Err(format!(
                "the CREATE TABLE statement on line {line} (table {table_name}) defines no \
                 columns (CREATE TABLE ... LIKE or ... AS SELECT): write its columns out"
            ));
        }
        tables += 1;
        for def in &table.columns {
            let field = def.name.value.clone();
            let name = column_name_for(&field)
                .map_err(|e| format!("table {table_name}, line {line}: {e}"))?;
            if name.eq_ignore_ascii_case(RECORD_TYPE_COLUMN)
                || name.eq_ignore_ascii_case(OPERATION_COLUMN)
            {
                return Err(format!(
                    "table {table_name} (line {line}) has a column `{field}`, named like the \
                     DMS metadata column \"{}\" that every input schema starts with: rename \
                     the column",
                    if name.eq_ignore_ascii_case(RECORD_TYPE_COLUMN) {
                        RECORD_TYPE_COLUMN
                    } else {
                        OPERATION_COLUMN
                    }
                ));
            }
            let ty = kda_type_of_data_type(&def.data_type);
            match by_name.get(&name) {
                Some(&i) => {
                    if columns[i].field != field {
                        return Err(format!(
                            "columns `{}` (table {}) and `{field}` (table {table_name}) would both \
                             be named \"{name}\" in Kinesis Data Analytics: rename one of them",
                            columns[i].field, columns[i].first_table
                        ));
                    }
                    columns[i].ty = columns[i].ty.widen(ty);
                }
                None => {
                    by_name.insert(name.clone(), columns.len());
                    columns.push(DdlColumn {
                        name,
                        field,
                        ty,
                        first_table: table_name.clone(),
                    });
                }
            }
        }
    }
    if tables == 0 {
        return Err(
            "the DDL has no CREATE TABLE statement: give the CREATE TABLE statements of the \
             source tables"
                .to_string(),
        );
    }

    let mut out = vec![
        Column {
            name: RECORD_TYPE_COLUMN.to_string(),
            sql_type: RECORD_TYPE_SQL_TYPE.to_string(),
            mapping: RECORD_TYPE_MAPPING.to_string(),
        },
        Column {
            name: OPERATION_COLUMN.to_string(),
            sql_type: OPERATION_SQL_TYPE.to_string(),
            mapping: OPERATION_MAPPING.to_string(),
        },
    ];
    out.extend(columns.into_iter().map(|c| Column {
        mapping: member_path("$.data", &c.field),
        sql_type: c.ty.to_string(),
        name: c.name,
    }));
    Ok(out)
}

// ------------------------------------------------------------------------------------------------
// columns_from_json
// ------------------------------------------------------------------------------------------------

#[derive(Default)]
struct JsonField {
    key: String,
    ints: bool,
    big_ints: bool,
    huge_ints: bool,
    floats: bool,
    strings: bool,
    bools: bool,
    others: bool,
    /// Longest string value, in characters.
    max_string: usize,
    /// Longest text form of any value, in characters.
    max_text: usize,
}

impl JsonField {
    fn add(&mut self, v: &Value) {
        match v {
            Value::Null => return,
            Value::Bool(_) => self.bools = true,
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    if i32::try_from(i).is_ok() {
                        self.ints = true;
                    } else {
                        self.big_ints = true;
                    }
                } else if n.is_u64() {
                    self.huge_ints = true;
                } else {
                    self.floats = true;
                }
            }
            Value::String(s) => {
                self.strings = true;
                self.max_string = self.max_string.max(s.chars().count());
            }
            Value::Array(_) | Value::Object(_) => self.others = true,
        }
        let text = match v {
            Value::String(s) => s.chars().count(),
            other => other.to_string().chars().count(),
        };
        self.max_text = self.max_text.max(text);
    }

    fn sql_type(&self) -> KdaType {
        let varchar =
            |n: usize| KdaType::Varchar(((n.max(1) as u64).div_ceil(8) * 8).min(MAX_LENGTH));
        let numeric = self.ints || self.big_ints || self.huge_ints || self.floats;
        let kinds = [numeric, self.strings, self.bools, self.others]
            .iter()
            .filter(|k| **k)
            .count();
        if kinds != 1 {
            // Mixed kinds (or only nulls): text.
            return varchar(self.max_text);
        }
        if numeric {
            if self.floats || self.huge_ints {
                KdaType::Double
            } else if self.big_ints {
                KdaType::BigInt
            } else {
                KdaType::Integer
            }
        } else if self.strings {
            varchar(self.max_string)
        } else if self.bools {
            KdaType::Boolean
        } else {
            varchar(self.max_text)
        }
    }
}

fn newlines(text: &str) -> usize {
    text.bytes().filter(|b| *b == b'\n').count()
}

/// One record of the reference data: an object's fields in document order (serde_json's `Map`
/// is sorted unless its `preserve_order` feature is on, and the columns must come in first-seen
/// order), or what else the value is.
enum JsonRecord {
    Object(Vec<(String, Value)>),
    Other(&'static str),
}

impl<'de> serde::Deserialize<'de> for JsonRecord {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct RecordVisitor;
        impl<'de> Visitor<'de> for RecordVisitor {
            type Value = JsonRecord;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonRecord, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    fields.push(entry);
                }
                Ok(JsonRecord::Object(fields))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonRecord, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(JsonRecord::Other("an array"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<JsonRecord, E> {
                Ok(JsonRecord::Other("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<JsonRecord, E> {
                Ok(JsonRecord::Other("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<JsonRecord, E> {
                Ok(JsonRecord::Other("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<JsonRecord, E> {
                Ok(JsonRecord::Other("a number"))
            }
            fn visit_str<E>(self, _: &str) -> Result<JsonRecord, E> {
                Ok(JsonRecord::Other("a string"))
            }
            fn visit_unit<E>(self) -> Result<JsonRecord, E> {
                Ok(JsonRecord::Other("null"))
            }
        }
        deserializer.deserialize_any(RecordVisitor)
    }
}

/// A reference table's schema inferred from its S3 object's content (JSON lines, one object per
/// line, or one JSON array of objects): one column per key in first-seen order over all records,
/// mapping `$.<key>` (bracket form when the key needs it), type inferred over all values.
pub fn columns_from_json(content: &[u8]) -> Result<Vec<Column>, String> {
    let text = std::str::from_utf8(content).map_err(|e| {
        format!(
            "the reference data is not UTF-8 text (invalid byte on line {})",
            newlines(&String::from_utf8_lossy(&content[..e.valid_up_to()])) + 1
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);

    let mut fields: Vec<JsonField> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut add_record = |record: JsonRecord, where_: &dyn Fn() -> String| -> Result<(), String> {
        let entries = match record {
            JsonRecord::Object(entries) => entries,
            JsonRecord::Other(what) => {
                return Err(format!(
                    "{} is {what}, not a JSON object: the reference data must be JSON lines \
                     (one object per line) or one JSON array of objects",
                    where_()
                ))
            }
        };
        for (key, value) in entries {
            let i = match index.get(&key) {
                Some(&i) => i,
                None => {
                    index.insert(key.clone(), fields.len());
                    fields.push(JsonField {
                        key,
                        ..JsonField::default()
                    });
                    fields.len() - 1
                }
            };
            fields[i].add(&value);
        }
        Ok(())
    };

    let mut records = 0usize;
    if text.trim_start().starts_with('[') {
        let items: Vec<JsonRecord> = serde_json::from_str(text).map_err(|e| {
            format!(
                "the reference data is not a JSON array of objects: {e}; it must be JSON lines \
                 (one object per line) or one JSON array of objects"
            )
        })?;
        for (n, item) in items.into_iter().enumerate() {
            add_record(item, &|| format!("element {n} of the array"))?;
            records += 1;
        }
    } else {
        // JSON lines; the stream reader also takes objects spread over several lines.
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<JsonRecord>();
        // Where the previous record ended, and its line (counted as the reading goes).
        let (mut offset, mut line) = (0usize, 1usize);
        loop {
            let start = text[offset..]
                .find(|c: char| !c.is_whitespace())
                .map_or(text.len(), |n| offset + n);
            line += newlines(&text[offset..start]);
            offset = start;
            match stream.next() {
                None => break,
                Some(Ok(record)) => {
                    add_record(record, &|| format!("the record on line {line}"))?;
                    records += 1;
                }
                Some(Err(e)) => {
                    return Err(format!(
                        "the record starting on line {line} of the reference data is not valid \
                         JSON: {e}; the reference data must be JSON lines (one object per line) \
                         or one JSON array of objects"
                    ))
                }
            }
            let end = stream.byte_offset().max(offset);
            line += newlines(&text[offset..end]);
            offset = end;
        }
    }
    if records == 0 {
        return Err("the reference data is empty: it has no JSON record".to_string());
    }
    if fields.is_empty() {
        return Err("the reference data's records have no fields".to_string());
    }

    let mut names: HashMap<String, String> = HashMap::new();
    fields
        .iter()
        .map(|f| {
            let name = column_name_for(&f.key)?;
            if let Some(other) = names.insert(name.clone(), f.key.clone()) {
                return Err(format!(
                    "the fields `{other}` and `{}` would both be named \"{name}\" in Kinesis \
                     Data Analytics",
                    f.key
                ));
            }
            Ok(Column {
                name,
                sql_type: f.sql_type().to_string(),
                mapping: member_path("$", &f.key),
            })
        })
        .collect()
}
