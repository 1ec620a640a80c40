//! Plan-time checks of a Kinesis Data Analytics (API v1, SQL application) configuration.
//!
//! * [`columns_from_ddl`] derives the input schema of a DMS JSON change stream from the MySQL DDL
//!   of the source tables; [`columns_from_json`] infers a reference table's schema from its S3
//!   object.
//! * [`check_sql_type`] and [`check_mapping`] check one `RecordColumn` (its `SqlType` and its
//!   JSONPath `Mapping`).
//! * [`check_code`] checks the application code against the input stream, the reference tables
//!   and the outputs: the streams the outputs read must be created, the input and every reference
//!   table must be read, and the columns the code takes from them must exist.
//!
//! Identifiers follow the Kinesis Data Analytics SQL reference ("Identifiers"): an unquoted
//! identifier is uppercased before lookup, a "double-quoted" one keeps its exact case. Everything
//! is compared after that normalisation.
//!
//! The code checker is deliberately conservative: it tokenises the code (sqlparser's tokenizer)
//! and follows the structure of `SELECT` statements only as far as it needs to resolve sources
//! and aliases. Whatever it cannot resolve goes unchecked, so that valid code never fails
//! validation.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde_json::Value;
use serde_json_path::JsonPath;
use sqlparser::ast::{
    BinaryLength, CharacterLength, DataType, EnumMember, ExactNumberInfo, Statement,
};
use sqlparser::dialect::{GenericDialect, MySqlDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

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

/// CHAR(n) and VARCHAR(n): "n must be greater than 0 and less than 65535" (KDA SQL reference,
/// Data Types). The reference states no limit for BINARY/VARBINARY; the same one is applied.
const MAX_LENGTH: u64 = 65_534;
/// DECIMAL: "a maximum of 18 digits for precision and scale" (KDA SQL reference, Numeric Types
/// and Precision); scale must not exceed precision.
const MAX_DECIMAL_PRECISION: u64 = 18;
/// RecordColumn.Name: at most 256 characters (KDA API reference).
const MAX_COLUMN_NAME_LEN: usize = 256;

// ------------------------------------------------------------------------------------------------
// KDA SQL types
// ------------------------------------------------------------------------------------------------

/// A Kinesis Data Analytics column type, as the schema derivations produce it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KdaType {
    Boolean,
    TinyInt,
    SmallInt,
    Integer,
    BigInt,
    Decimal(u64, u64),
    Real,
    Double,
    Char(u64),
    Varchar(u64),
    Date,
    Time,
    Timestamp,
    Varbinary(u64),
}

impl fmt::Display for KdaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KdaType::Boolean => f.write_str("BOOLEAN"),
            KdaType::TinyInt => f.write_str("TINYINT"),
            KdaType::SmallInt => f.write_str("SMALLINT"),
            KdaType::Integer => f.write_str("INTEGER"),
            KdaType::BigInt => f.write_str("BIGINT"),
            KdaType::Decimal(p, s) => write!(f, "DECIMAL({p},{s})"),
            KdaType::Real => f.write_str("REAL"),
            KdaType::Double => f.write_str("DOUBLE"),
            KdaType::Char(n) => write!(f, "CHAR({n})"),
            KdaType::Varchar(n) => write!(f, "VARCHAR({n})"),
            KdaType::Date => f.write_str("DATE"),
            KdaType::Time => f.write_str("TIME"),
            KdaType::Timestamp => f.write_str("TIMESTAMP"),
            KdaType::Varbinary(n) => write!(f, "VARBINARY({n})"),
        }
    }
}

impl KdaType {
    /// Rank of an integer type (wider is higher).
    fn int_rank(self) -> Option<u8> {
        match self {
            KdaType::TinyInt => Some(1),
            KdaType::SmallInt => Some(2),
            KdaType::Integer => Some(3),
            KdaType::BigInt => Some(4),
            _ => None,
        }
    }

    /// Decimal digits an integer type needs.
    fn int_digits(self) -> u64 {
        match self {
            KdaType::TinyInt => 3,
            KdaType::SmallInt => 5,
            KdaType::Integer => 10,
            _ => 19,
        }
    }

    fn is_float(self) -> bool {
        matches!(self, KdaType::Real | KdaType::Double)
    }

    /// Characters the longest text form of a value of this type takes.
    fn text_width(self) -> u64 {
        match self {
            KdaType::Boolean => 5,
            KdaType::TinyInt => 4,
            KdaType::SmallInt => 6,
            KdaType::Integer => 11,
            KdaType::BigInt => 20,
            KdaType::Decimal(p, _) => p + 2,
            KdaType::Real => 15,
            KdaType::Double => 24,
            KdaType::Char(n) | KdaType::Varchar(n) => n,
            KdaType::Date => 10,
            KdaType::Time => 12,
            KdaType::Timestamp => 23,
            // Binary data travels base64-encoded in JSON.
            KdaType::Varbinary(n) => n.div_ceil(3) * 4,
        }
    }

    /// The narrowest type that holds the values of both `self` and `other`.
    fn widen(self, other: KdaType) -> KdaType {
        use KdaType::*;
        if self == other {
            return self;
        }
        let decimal_or_double = |int_digits: u64, scale: u64| {
            if int_digits + scale <= MAX_DECIMAL_PRECISION {
                Decimal(int_digits + scale, scale)
            } else {
                Double
            }
        };
        match (self, other) {
            (a, b) if a.int_rank().is_some() && b.int_rank().is_some() => {
                if a.int_rank() >= b.int_rank() {
                    a
                } else {
                    b
                }
            }
            // MySQL booleans are TINYINT(1): numbers 0/1 on the wire.
            (Boolean, b) if b.int_rank().is_some() => b,
            (a, Boolean) if a.int_rank().is_some() => a,
            (Decimal(p, s), i) | (i, Decimal(p, s)) if i.int_rank().is_some() => {
                decimal_or_double((p - s).max(i.int_digits()), s)
            }
            (Decimal(p1, s1), Decimal(p2, s2)) => {
                decimal_or_double((p1 - s1).max(p2 - s2), s1.max(s2))
            }
            (Real, Real) => Real,
            (a, b) if a.is_float() && b.is_float() => Double,
            (a, b)
                if (a.is_float() || b.is_float())
                    && [a, b].iter().all(|t| {
                        t.is_float() || t.int_rank().is_some() || matches!(t, Decimal(..))
                    }) =>
            {
                Double
            }
            (Char(a), Char(b))
            | (Char(a), Varchar(b))
            | (Varchar(a), Char(b))
            | (Varchar(a), Varchar(b)) => Varchar(a.max(b)),
            (Date, Timestamp) | (Timestamp, Date) => Timestamp,
            (Varbinary(a), Varbinary(b)) => Varbinary(a.max(b)),
            (a, b) => Varchar(a.text_width().max(b.text_width()).clamp(1, MAX_LENGTH)),
        }
    }
}

fn clamp_len(n: u64) -> u64 {
    n.clamp(1, MAX_LENGTH)
}

fn char_len(len: &Option<CharacterLength>, default: u64) -> u64 {
    match len {
        Some(CharacterLength::IntegerLength { length, .. }) => clamp_len(*length),
        Some(CharacterLength::Max) => MAX_LENGTH,
        None => default,
    }
}

fn decimal_of(info: &ExactNumberInfo) -> KdaType {
    // MySQL's defaults: DECIMAL = DECIMAL(10,0), DECIMAL(p) = DECIMAL(p,0).
    let (p, s) = match info {
        ExactNumberInfo::None => (10, 0),
        ExactNumberInfo::Precision(p) => (*p, 0),
        ExactNumberInfo::PrecisionAndScale(p, s) => (*p, (*s).max(0) as u64),
    };
    let p = p.max(1);
    let s = s.min(p);
    if p <= MAX_DECIMAL_PRECISION {
        KdaType::Decimal(p, s)
    } else {
        // More digits than any KDA exact type holds: the closest numeric type.
        KdaType::Double
    }
}

/// Translates a MySQL column type (as sqlparser parses it) to a Kinesis Data Analytics type.
fn kda_type_of_data_type(dt: &DataType) -> KdaType {
    use DataType as D;
    match dt {
        D::Bool | D::Boolean => KdaType::Boolean,
        // TINYINT(1) is MySQL's BOOLEAN.
        D::TinyInt(Some(1)) => KdaType::Boolean,
        D::TinyInt(_) => KdaType::TinyInt,
        D::TinyIntUnsigned(_) | D::UTinyInt | D::UInt8 => KdaType::SmallInt,
        D::SmallInt(_) | D::Int2(_) | D::Int16 => KdaType::SmallInt,
        D::SmallIntUnsigned(_) | D::Int2Unsigned(_) | D::USmallInt | D::UInt16 => KdaType::Integer,
        // MEDIUMINT UNSIGNED (max 16777215) still fits INTEGER.
        D::MediumInt(_) | D::MediumIntUnsigned(_) => KdaType::Integer,
        D::Int(_) | D::Integer(_) | D::Int4(_) | D::Int32 | D::Signed | D::SignedInteger => {
            KdaType::Integer
        }
        D::IntUnsigned(_)
        | D::IntegerUnsigned(_)
        | D::Int4Unsigned(_)
        | D::UInt32
        | D::Unsigned
        | D::UnsignedInteger => KdaType::BigInt,
        // BIGINT UNSIGNED has no wider KDA integer type (DECIMAL stops at 18 digits): BIGINT
        // holds every value up to 2^63-1, which covers auto-increment keys in practice.
        D::BigInt(_)
        | D::Int8(_)
        | D::Int64
        | D::BigIntUnsigned(_)
        | D::UBigInt
        | D::Int8Unsigned(_)
        | D::UInt64 => KdaType::BigInt,
        D::Decimal(info)
        | D::DecimalUnsigned(info)
        | D::Numeric(info)
        | D::Dec(info)
        | D::DecUnsigned(info) => decimal_of(info),
        // MySQL FLOAT(p) is single precision up to p = 24, double precision above.
        D::Float(ExactNumberInfo::Precision(p))
        | D::FloatUnsigned(ExactNumberInfo::Precision(p))
            if *p > 24 =>
        {
            KdaType::Double
        }
        D::Float(_) | D::FloatUnsigned(_) | D::Float4 | D::Float32 => KdaType::Real,
        // MySQL REAL is DOUBLE (unless the REAL_AS_FLOAT SQL mode is on).
        D::Real
        | D::RealUnsigned
        | D::Double(_)
        | D::DoubleUnsigned(_)
        | D::DoublePrecision
        | D::DoublePrecisionUnsigned
        | D::Float8
        | D::Float64 => KdaType::Double,
        D::Char(len) | D::Character(len) => KdaType::Char(char_len(len, 1)),
        D::Varchar(len) | D::Nvarchar(len) | D::CharacterVarying(len) | D::CharVarying(len) => {
            KdaType::Varchar(char_len(len, MAX_LENGTH))
        }
        D::TinyText => KdaType::Varchar(255),
        D::Text
        | D::MediumText
        | D::LongText
        | D::JSON
        | D::JSONB
        | D::Clob(_)
        | D::CharacterLargeObject(_)
        | D::CharLargeObject(_)
        | D::String(_) => KdaType::Varchar(MAX_LENGTH),
        D::Uuid => KdaType::Varchar(36),
        D::Enum(members, _) => KdaType::Varchar(clamp_len(
            members
                .iter()
                .map(|m| match m {
                    EnumMember::Name(n) | EnumMember::NamedValue(n, _) => n.chars().count() as u64,
                })
                .max()
                .unwrap_or(1),
        )),
        // A SET value is its members joined with commas.
        D::Set(values) => KdaType::Varchar(clamp_len(
            values
                .iter()
                .map(|v| v.chars().count() as u64 + 1)
                .sum::<u64>(),
        )),
        D::Date | D::Date32 => KdaType::Date,
        D::Time(..) => KdaType::Time,
        D::Datetime(_) | D::Datetime64(..) | D::Timestamp(..) | D::TimestampNtz(_) => {
            KdaType::Timestamp
        }
        D::Binary(n) => KdaType::Varbinary(clamp_len(n.unwrap_or(1))),
        D::Varbinary(len) => KdaType::Varbinary(match len {
            Some(BinaryLength::IntegerLength { length }) => clamp_len(*length),
            _ => MAX_LENGTH,
        }),
        D::TinyBlob => KdaType::Varbinary(255),
        D::Blob(n) => KdaType::Varbinary(clamp_len(n.unwrap_or(MAX_LENGTH))),
        D::MediumBlob | D::LongBlob | D::Bytea | D::Bytes(_) => KdaType::Varbinary(MAX_LENGTH),
        D::Bit(None) | D::Bit(Some(1)) => KdaType::Boolean,
        D::Bit(Some(n)) => KdaType::Varbinary(clamp_len(n.div_ceil(8))),
        D::Custom(name, _) if name.to_string().eq_ignore_ascii_case("YEAR") => KdaType::SmallInt,
        D::Zerofill(inner) | D::Collate(inner, _) | D::Nullable(inner) => {
            kda_type_of_data_type(inner)
        }
        // Spatial and other types: their text form, as long as KDA allows.
        _ => KdaType::Varchar(MAX_LENGTH),
    }
}

// ------------------------------------------------------------------------------------------------
// check_sql_type
// ------------------------------------------------------------------------------------------------

const ACCEPTED_TYPES: &str = "INTEGER, INT, BIGINT, SMALLINT, TINYINT, BOOLEAN, REAL, \
     DOUBLE, DOUBLE PRECISION, FLOAT, DECIMAL[(p[,s])], DEC[(p[,s])], NUMERIC[(p[,s])], \
     CHAR[(n)], CHARACTER[(n)], VARCHAR(n), CHARACTER VARYING(n), BINARY[(n)], VARBINARY(n), \
     DATE, TIME, TIMESTAMP (with 1 <= p <= 18, 0 <= s <= p, 1 <= n <= 65534)";

#[derive(Clone, Copy, PartialEq, Eq)]
enum TypeParams {
    None,
    Decimal,
    OptionalLength,
    RequiredLength,
}

/// Checks a KDA SQL type as written in a RecordColumn's SqlType (case-insensitive keywords,
/// optional spaces), with the parameter ranges of the Kinesis Data Analytics SQL reference.
pub fn check_sql_type(sql_type: &str) -> Result<(), String> {
    let not_a_type = || {
        format!(
            "`{sql_type}` is not a Kinesis Data Analytics SQL type: use one of {ACCEPTED_TYPES}"
        )
    };
    let tokens = Tokenizer::new(&GenericDialect {}, sql_type)
        .tokenize()
        .map_err(|_| not_a_type())?;
    let tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();

    // The type name: one or two unquoted words.
    let mut words = Vec::new();
    let mut i = 0;
    while let Some(Token::Word(w)) = tokens.get(i) {
        if w.quote_style.is_some() {
            return Err(not_a_type());
        }
        words.push(w.value.to_ascii_uppercase());
        i += 1;
    }
    let name = words.join(" ");
    let params = match name.as_str() {
        "INTEGER" | "INT" | "BIGINT" | "SMALLINT" | "TINYINT" | "BOOLEAN" | "REAL" | "DOUBLE"
        | "DOUBLE PRECISION" | "FLOAT" | "DATE" | "TIME" | "TIMESTAMP" => TypeParams::None,
        "DECIMAL" | "DEC" | "NUMERIC" => TypeParams::Decimal,
        "CHAR" | "CHARACTER" | "BINARY" => TypeParams::OptionalLength,
        "VARCHAR" | "CHARACTER VARYING" | "CHAR VARYING" | "VARBINARY" | "BINARY VARYING" => {
            TypeParams::RequiredLength
        }
        _ => return Err(not_a_type()),
    };

    // The parameters: `(` number [`,` number] `)`, then nothing.
    let mut numbers = Vec::new();
    if let Some(Token::LParen) = tokens.get(i) {
        i += 1;
        loop {
            match tokens.get(i) {
                Some(Token::Number(n, _)) => match n.parse::<u64>() {
                    Ok(v) => numbers.push(v),
                    Err(_) => {
                        return Err(format!(
                            "`{sql_type}`: `{n}` is not a whole number; {}",
                            params_hint(&name, params)
                        ))
                    }
                },
                _ => return Err(not_a_type()),
            }
            i += 1;
            match tokens.get(i) {
                Some(Token::Comma) => i += 1,
                Some(Token::RParen) => {
                    i += 1;
                    break;
                }
                _ => return Err(not_a_type()),
            }
        }
    }
    if i != tokens.len() {
        return Err(not_a_type());
    }

    match (params, numbers.as_slice()) {
        (TypeParams::None, []) => Ok(()),
        (TypeParams::None, _) => Err(format!(
            "`{sql_type}`: {name} takes no length or precision: write `{name}`"
        )),
        (TypeParams::Decimal, []) => Ok(()),
        (TypeParams::Decimal, [p]) | (TypeParams::Decimal, [p, _])
            if !(1..=MAX_DECIMAL_PRECISION).contains(p) =>
        {
            Err(format!(
                "`{sql_type}`: the precision of {name} must be from 1 to {MAX_DECIMAL_PRECISION} \
                 (Kinesis Data Analytics stores at most {MAX_DECIMAL_PRECISION} digits)"
            ))
        }
        (TypeParams::Decimal, [_]) => Ok(()),
        (TypeParams::Decimal, [p, s]) if s > p => Err(format!(
            "`{sql_type}`: the scale of {name} ({s}) must not exceed its precision ({p})"
        )),
        (TypeParams::Decimal, [_, _]) => Ok(()),
        (TypeParams::OptionalLength, []) => Ok(()),
        (TypeParams::OptionalLength | TypeParams::RequiredLength, [n]) => {
            if (1..=MAX_LENGTH).contains(n) {
                Ok(())
            } else {
                Err(format!(
                    "`{sql_type}`: the length of {name} must be from 1 to {MAX_LENGTH} \
                     (greater than 0 and less than 65535)"
                ))
            }
        }
        (TypeParams::RequiredLength, []) => Err(format!(
            "`{sql_type}`: {name} needs a length: write `{name}(n)` with 1 <= n <= {MAX_LENGTH}"
        )),
        _ => Err(format!("`{sql_type}`: {}", params_hint(&name, params))),
    }
}

fn params_hint(name: &str, params: TypeParams) -> String {
    match params {
        TypeParams::None => format!("{name} takes no parameters"),
        TypeParams::Decimal => format!(
            "write {name}, {name}(p) or {name}(p,s) with 1 <= p <= {MAX_DECIMAL_PRECISION} \
             and 0 <= s <= p"
        ),
        TypeParams::OptionalLength => {
            format!("write {name} or {name}(n) with 1 <= n <= {MAX_LENGTH}")
        }
        TypeParams::RequiredLength => format!("write {name}(n) with 1 <= n <= {MAX_LENGTH}"),
    }
}

// ------------------------------------------------------------------------------------------------
// JSONPath mappings
// ------------------------------------------------------------------------------------------------

/// RFC 9535 member-name-shorthand: `name-first *name-char`, where name-first is ALPHA, `_` or
/// any non-ASCII character, and name-char adds DIGIT.
fn is_shorthand_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || !c.is_ascii() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii())
}

/// An RFC 9535 single-quoted name selector for `key`.
fn bracket_member(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    out.push_str("['");
    for c in key.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push_str("']");
    out
}

/// `base` followed by the member `key`: dot shorthand when RFC 9535 allows it, bracket form
/// otherwise (both forms are accepted by Kinesis Data Analytics).
fn member_path(base: &str, key: &str) -> String {
    if is_shorthand_name(key) {
        format!("{base}.{key}")
    } else {
        format!("{base}{}", bracket_member(key))
    }
}

/// Rewrites dot-members that Kinesis Data Analytics accepts but RFC 9535's shorthand does not
/// (`$.metadata.table-name`: a hyphen, or a name starting with a digit) into bracket notation
/// (`$.metadata['table-name']`), so that the RFC 9535 parser of serde_json_path can check the
/// rest. Bracket segments and everything else are copied as they are.
fn kda_path_to_rfc9535(path: &str) -> String {
    let chars: Vec<char> = path.chars().collect();
    let mut out = String::with_capacity(path.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '[' => {
                // Copy the bracketed segment, honouring quotes and nesting.
                let mut depth = 0usize;
                let mut quote: Option<char> = None;
                while i < chars.len() {
                    let c = chars[i];
                    out.push(c);
                    i += 1;
                    match quote {
                        Some(q) => {
                            if c == '\\' && i < chars.len() {
                                out.push(chars[i]);
                                i += 1;
                            } else if c == q {
                                quote = None;
                            }
                        }
                        None => match c {
                            '\'' | '"' => quote = Some(c),
                            '[' => depth += 1,
                            ']' => {
                                depth = depth.saturating_sub(1);
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        },
                    }
                }
            }
            '.' => {
                let dots = if chars.get(i + 1) == Some(&'.') { 2 } else { 1 };
                let start = i + dots;
                let mut end = start;
                while end < chars.len()
                    && (chars[end].is_alphanumeric() || chars[end] == '_' || chars[end] == '-')
                {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                if !name.is_empty() && !is_shorthand_name(&name) {
                    // `.name` becomes `['name']`, `..name` becomes `..['name']`.
                    if dots == 2 {
                        out.push_str("..");
                    }
                    out.push_str(&bracket_member(&name));
                } else {
                    out.extend(&chars[i..end]);
                }
                i = end;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Checks a JSONPath mapping as KDA accepts it. Err(reason, readable, from the crate's error).
pub fn check_mapping(mapping: &str) -> Result<(), String> {
    if !mapping.starts_with('$') {
        return Err(format!(
            "`{mapping}` is not a JSONPath: a mapping starts with `$`, the record's root, \
             e.g. `$.{}`",
            mapping.trim_start_matches('.')
        ));
    }
    let rfc = kda_path_to_rfc9535(mapping);
    JsonPath::parse(&rfc).map(|_| ()).map_err(|e| {
        let read_as = if rfc == mapping {
            String::new()
        } else {
            format!(" (read as `{rfc}`)")
        };
        let place = match rfc.get(e.position()..) {
            Some("") | None => "at the end of the path".to_string(),
            Some(rest) => format!("at `{rest}` (character {})", e.position() + 1),
        };
        format!(
            "`{mapping}`{read_as} is not a valid JSONPath: {} {place}",
            e.message()
        )
    })
}

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

// ------------------------------------------------------------------------------------------------
// check_code
// ------------------------------------------------------------------------------------------------

/// What the code is checked against.
pub struct CodeContext<'a> {
    /// The in-application input stream, `<name_prefix>_001` exactly as KDA names it (case kept).
    pub input_stream: &'a str,
    pub input_columns: &'a [Column],
    /// Reference tables: in-application table name (case kept) and its columns.
    pub references: &'a [(&'a str, &'a [Column])],
    /// Output in-application stream names (case kept), in configuration order.
    pub outputs: &'a [&'a str],
}

/// What a finding is about, so the provider can attach it to the right attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Code,
    InputPrefix,
    Output(usize),
    Reference(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub subject: Subject,
    pub message: String,
}

/// A significant token of the code.
#[derive(Debug, Clone)]
struct Tk {
    kind: TkKind,
    line: u64,
    col: u64,
}

#[derive(Debug, Clone, PartialEq)]
enum TkKind {
    Word {
        value: String,
        quoted: bool,
        keyword: bool,
    },
    LParen,
    RParen,
    Comma,
    Period,
    Semi,
    Literal,
    Other,
}

impl Tk {
    fn from_token(t: TokenWithSpan) -> Option<Tk> {
        let kind = match t.token {
            Token::Whitespace(_) | Token::EOF => return None,
            Token::Word(w) => TkKind::Word {
                quoted: w.quote_style.is_some(),
                keyword: w.quote_style.is_none() && w.keyword != Keyword::NoKeyword,
                value: w.value,
            },
            Token::LParen => TkKind::LParen,
            Token::RParen => TkKind::RParen,
            Token::Comma => TkKind::Comma,
            Token::Period => TkKind::Period,
            Token::SemiColon => TkKind::Semi,
            Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::SingleQuotedByteStringLiteral(_) => TkKind::Literal,
            _ => TkKind::Other,
        };
        Some(Tk {
            kind,
            line: t.span.start.line,
            col: t.span.start.column,
        })
    }

    /// An unquoted word equal to `kw` (ignoring case).
    fn is_kw(&self, kw: &str) -> bool {
        match &self.kind {
            TkKind::Word {
                value,
                quoted: false,
                ..
            } => value.eq_ignore_ascii_case(kw),
            _ => false,
        }
    }

    fn is_any_kw(&self, kws: &[&str]) -> bool {
        kws.iter().any(|k| self.is_kw(k))
    }

    fn is_word(&self) -> bool {
        matches!(self.kind, TkKind::Word { .. })
    }

    /// The identifier as Kinesis Data Analytics resolves it: quoted as written, unquoted
    /// uppercased.
    fn norm(&self) -> Option<String> {
        match &self.kind {
            TkKind::Word {
                value,
                quoted: true,
                ..
            } => Some(value.clone()),
            TkKind::Word { value, .. } => Some(value.to_uppercase()),
            _ => None,
        }
    }

    /// The identifier as written in the code.
    fn written(&self) -> String {
        match &self.kind {
            TkKind::Word {
                value,
                quoted: true,
                ..
            } => format!("\"{}\"", value.replace('"', "\"\"")),
            TkKind::Word { value, .. } => value.clone(),
            _ => String::new(),
        }
    }

    fn at(&self) -> String {
        format!("line {}, column {}", self.line, self.col)
    }

    /// How the identifier is read, for case hints.
    fn how_read(&self) -> String {
        match &self.kind {
            TkKind::Word {
                value,
                quoted: true,
                ..
            } => format!("\"{value}\" ({}; quoted, so its case is kept)", self.at()),
            TkKind::Word { value, .. } => format!(
                "`{value}` ({}; unquoted, so Kinesis Data Analytics reads it as {})",
                self.at(),
                value.to_uppercase()
            ),
            _ => String::new(),
        }
    }
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quoted_list<'s>(names: impl IntoIterator<Item = &'s str>) -> String {
    names.into_iter().map(quoted).collect::<Vec<_>>().join(", ")
}

/// The in-application error stream Kinesis Data Analytics creates in every application.
const ERROR_STREAM: &str = "error_stream";

/// Keywords that end a FROM item's alias (or start the next item).
const JOIN_WORDS: &[&str] = &[
    "JOIN", "INNER", "LEFT", "RIGHT", "FULL", "OUTER", "CROSS", "NATURAL",
];
const CLAUSE_WORDS: &[&str] = &[
    "FROM", "WHERE", "GROUP", "HAVING", "WINDOW", "ORDER", "LIMIT", "FETCH", "OFFSET",
];
const ALIAS_STOP_WORDS: &[&str] = &[
    "ON",
    "USING",
    "OVER",
    "WHERE",
    "GROUP",
    "HAVING",
    "WINDOW",
    "ORDER",
    "LIMIT",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "FULL",
    "OUTER",
    "CROSS",
    "NATURAL",
];

/// A stream the code creates.
struct CreatedStream {
    name: String,
    token: Tk,
    /// Its columns (normalised), when the column list could be read.
    columns: Option<Vec<String>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SrcKind {
    Input,
    Reference(usize),
    Created(usize),
    Unknown,
}

struct Source {
    kind: SrcKind,
    name: Option<String>,
    alias: Option<String>,
}

/// One statement's tokens with its parentheses matched.
struct Stmt<'t> {
    toks: &'t [Tk],
    close: Vec<Option<usize>>,
    /// For each `(`: whether a SELECT is inside (a subquery, scanned as its own scope).
    has_select: Vec<bool>,
}

impl<'t> Stmt<'t> {
    fn new(toks: &'t [Tk]) -> Result<Stmt<'t>, &'t Tk> {
        let mut close = vec![None; toks.len()];
        let mut has_select = vec![false; toks.len()];
        let mut open: Vec<usize> = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            match t.kind {
                TkKind::LParen => open.push(i),
                TkKind::RParen => {
                    let o = open.pop().ok_or(t)?;
                    close[o] = Some(i);
                    // A SELECT inside is inside the enclosing group too.
                    if let Some(&outer) = open.last() {
                        has_select[outer] |= has_select[o];
                    }
                }
                _ if t.is_kw("SELECT") => {
                    if let Some(&o) = open.last() {
                        has_select[o] = true;
                    }
                }
                _ => {}
            }
        }
        if let Some(&o) = open.first() {
            return Err(&toks[o]);
        }
        Ok(Stmt {
            toks,
            close,
            has_select,
        })
    }

    fn tok(&self, i: usize) -> Option<&Tk> {
        self.toks.get(i)
    }

    /// Indices of the top-level tokens of `start..end`; a parenthesised group is represented by
    /// its `(`.
    fn top_level(&self, start: usize, end: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut i = start;
        while i < end {
            out.push(i);
            i = match self.close[i] {
                Some(c) => c + 1,
                None => i + 1,
            };
        }
        out
    }

    /// Every token index of `start..end`, leaving out subqueries.
    fn scan(&self, start: usize, end: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut i = start;
        while i < end {
            if self.has_select[i] {
                i = self.close[i].map_or(i + 1, |c| c + 1);
                continue;
            }
            out.push(i);
            i += 1;
        }
        out
    }

    fn is_group(&self, i: usize) -> bool {
        self.close.get(i).is_some_and(|c| c.is_some())
    }
}

struct Checker<'c, 'a> {
    ctx: &'c CodeContext<'a>,
    created: Vec<CreatedStream>,
    /// Normalised names of streams, pumps, tables and windows: never column references.
    object_names: HashSet<String>,
    findings: Vec<Finding>,
    reported: HashSet<String>,
}

impl Checker<'_, '_> {
    fn resolve_source(&self, name: &str) -> SrcKind {
        if name == self.ctx.input_stream {
            return SrcKind::Input;
        }
        if let Some(i) = self.ctx.references.iter().position(|(r, _)| *r == name) {
            return SrcKind::Reference(i);
        }
        match self.created.iter().rposition(|c| c.name == name) {
            Some(i) => SrcKind::Created(i),
            None => SrcKind::Unknown,
        }
    }

    /// The columns of a source and how to name it in messages.
    fn columns_of(&self, kind: SrcKind) -> Option<(Vec<String>, String)> {
        match kind {
            SrcKind::Input => Some((
                self.ctx
                    .input_columns
                    .iter()
                    .map(|c| c.name.clone())
                    .collect(),
                format!("the input stream {}", quoted(self.ctx.input_stream)),
            )),
            SrcKind::Reference(i) => {
                let (name, cols) = self.ctx.references[i];
                Some((
                    cols.iter().map(|c| c.name.clone()).collect(),
                    format!("the reference table {}", quoted(name)),
                ))
            }
            SrcKind::Created(i) => {
                let stream = &self.created[i];
                // A stream created more than once: the union of its column lists.
                let mut cols: Vec<String> = Vec::new();
                for c in self.created.iter().filter(|c| c.name == stream.name) {
                    for col in c.columns.as_ref()? {
                        if !cols.contains(col) {
                            cols.push(col.clone());
                        }
                    }
                }
                Some((
                    cols,
                    format!(
                        "the stream {} (created on line {})",
                        quoted(&stream.name),
                        stream.token.line
                    ),
                ))
            }
            SrcKind::Unknown => None,
        }
    }

    fn report(&mut self, key: String, message: String) {
        if self.reported.insert(key) {
            self.findings.push(Finding {
                subject: Subject::Code,
                message,
            });
        }
    }

    /// Checks one column reference `tok` (qualified by `qualifier` when given) against `kind`.
    /// `prev` and `next`: the tokens around the reference, for hints.
    fn check_column(
        &mut self,
        tok: &Tk,
        qualifier: Option<&Tk>,
        kind: SrcKind,
        (prev, next): (Option<&Tk>, Option<&Tk>),
    ) {
        let Some((columns, what)) = self.columns_of(kind) else {
            return;
        };
        let TkKind::Word {
            value,
            quoted: is_quoted,
            ..
        } = &tok.kind
        else {
            return;
        };
        let norm = tok.norm().unwrap_or_default();
        if norm == "ROWTIME" || columns.contains(&norm) {
            return;
        }
        let written = match qualifier {
            Some(q) => format!("{}.{}", q.written(), tok.written()),
            None => tok.written(),
        };
        let lower = value.to_lowercase();
        let same_but_case = columns.iter().find(|c| c.to_lowercase() == lower);
        let key = format!("{what}\u{0}{written}");
        if *is_quoted {
            let hint = match same_but_case.or_else(|| closest(&columns, value)) {
                Some(c) if Some(c) == same_but_case => format!(
                    "did you mean {}? Quoted names are case-sensitive",
                    quoted(c)
                ),
                Some(c) => format!("did you mean {}?", quoted(c)),
                None => format!(
                    "its columns are {}",
                    quoted_list(columns.iter().map(|c| c.as_str()))
                ),
            };
            // `"recordType" = "order"`: double quotes make a name, not a text.
            let hint = if qualifier.is_none()
                && same_but_case.is_none()
                && (prev.is_some_and(|t| t.kind == TkKind::Other || t.is_any_kw(&["IN", "LIKE"]))
                    || next.is_some_and(|t| t.kind == TkKind::Other))
            {
                format!(
                    "{hint} (for the text {}, use single quotes: '{}')",
                    quoted(value),
                    value.replace('\'', "''")
                )
            } else {
                hint
            };
            self.report(
                key,
                format!(
                    "`{written}` ({}): {} is not a column of {what}: {hint}",
                    tok.at(),
                    quoted(value)
                ),
            );
        } else if let Some(c) = same_but_case {
            self.report(
                key,
                format!(
                    "`{written}` ({}): `{value}` is not quoted, so Kinesis Data Analytics reads it \
                     as {norm}, which is not a column of {what}; the column is {}: quote it, {}",
                    tok.at(),
                    quoted(c),
                    quoted(c)
                ),
            );
        } else if qualifier.is_some() {
            let hint = match closest(&columns, value) {
                Some(c) => format!("did you mean {}?", quoted(c)),
                None => format!(
                    "its columns are {}",
                    quoted_list(columns.iter().map(|c| c.as_str()))
                ),
            };
            self.report(
                key,
                format!(
                    "`{written}` ({}): `{value}` is not quoted, so Kinesis Data Analytics reads it \
                     as {norm}, which is not a column of {what}: {hint}",
                    tok.at()
                ),
            );
        }
        // An unquoted, unqualified word that matches nothing may be a keyword or a function
        // this checker does not know: left alone.
    }

    /// Collects the streams, pumps and windows the code defines.
    fn collect_definitions(&mut self, toks: &[Tk]) {
        for i in 0..toks.len() {
            if !toks[i].is_kw("CREATE") {
                continue;
            }
            let mut j = i + 1;
            if toks.get(j).is_some_and(|t| t.is_kw("OR"))
                && toks.get(j + 1).is_some_and(|t| t.is_kw("REPLACE"))
            {
                j += 2;
            }
            let Some(kind) = toks.get(j) else { continue };
            let Some(name_tok) = toks.get(j + 1).filter(|t| t.is_word()) else {
                continue;
            };
            let name = name_tok.norm().unwrap_or_default();
            if kind.is_kw("STREAM") {
                let columns = stream_columns(toks, j + 2);
                self.created.push(CreatedStream {
                    name: name.clone(),
                    token: name_tok.clone(),
                    columns,
                });
                self.object_names.insert(name);
            } else if kind.is_any_kw(&["PUMP", "TABLE", "VIEW", "FUNCTION"]) {
                self.object_names.insert(name);
            }
        }
        for (i, t) in toks.iter().enumerate() {
            if t.is_kw("WINDOW") {
                if let Some(name) = toks.get(i + 1).and_then(Tk::norm) {
                    self.object_names.insert(name);
                }
            }
        }
    }

    fn check_statement(&mut self, stmt: &Stmt) {
        for (i, t) in stmt.toks.iter().enumerate() {
            if t.is_kw("SELECT") {
                self.check_select(stmt, i);
            }
        }
    }

    /// Checks the SELECT starting at token `sel`, up to the end of its parenthesised group,
    /// statement, or set operator.
    fn check_select(&mut self, stmt: &Stmt, sel: usize) {
        let toks = stmt.toks;
        let mut end = sel + 1;
        let mut depth = 0usize;
        while end < toks.len() {
            match toks[end].kind {
                TkKind::LParen => depth += 1,
                TkKind::RParen => {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                }
                _ if depth == 0
                    && toks[end].is_any_kw(&["UNION", "INTERSECT", "EXCEPT", "MINUS"]) =>
                {
                    break
                }
                _ => {}
            }
            end += 1;
        }
        let top = stmt.top_level(sel + 1, end);

        // Clauses: the select list, then FROM, WHERE, ... at the top level.
        let mut clauses: Vec<(String, usize, usize)> = Vec::new(); // (keyword, start, end) in `top`
        let mut current = ("SELECT".to_string(), 0usize);
        for (k, &i) in top.iter().enumerate() {
            if let Some(kw) = CLAUSE_WORDS.iter().find(|kw| toks[i].is_kw(kw)) {
                clauses.push((current.0.clone(), current.1, k));
                current = (kw.to_string(), k + 1);
            }
        }
        clauses.push((current.0, current.1, top.len()));
        let clause = |name: &str| {
            clauses
                .iter()
                .find(|(n, ..)| n == name)
                .map(|&(_, s, e)| &top[s.min(top.len())..e.max(s).min(top.len())])
        };

        let sources = clause("FROM")
            .map(|from| self.parse_from(stmt, from))
            .unwrap_or_default();
        let mut qualifiers: HashMap<String, SrcKind> = HashMap::new();
        for s in &sources {
            if let Some(a) = &s.alias {
                qualifiers.insert(a.clone(), s.kind);
            }
        }
        for s in &sources {
            if let Some(n) = &s.name {
                qualifiers.entry(n.clone()).or_insert(s.kind);
            }
        }

        // (a) Qualified references, anywhere in this SELECT.
        for i in stmt.scan(sel + 1, end) {
            let (Some(q), Some(dot), Some(c)) = (stmt.tok(i), stmt.tok(i + 1), stmt.tok(i + 2))
            else {
                continue;
            };
            if !q.is_word() || dot.kind != TkKind::Period || !c.is_word() || i + 2 >= end {
                continue;
            }
            if i > 0 && stmt.toks[i - 1].kind == TkKind::Period {
                continue;
            }
            if matches!(
                stmt.tok(i + 3).map(|t| &t.kind),
                Some(TkKind::Period | TkKind::LParen)
            ) {
                continue;
            }
            let Some(kind) = q.norm().and_then(|n| qualifiers.get(&n).copied()) else {
                continue;
            };
            let around = (i.checked_sub(1).and_then(|p| stmt.tok(p)), stmt.tok(i + 3));
            self.check_column(c, Some(q), kind, around);
        }

        // (b) Unqualified references, when the SELECT reads one source whose columns are known.
        let [only] = sources.as_slice() else { return };
        if only.kind == SrcKind::Unknown {
            return;
        }
        let mut aliases: HashSet<String> = HashSet::new();
        let mut skip: HashSet<usize> = HashSet::new();
        let select_list = clause("SELECT").unwrap_or(&[]);
        for item in select_list.split(|&i| toks[i].kind == TkKind::Comma) {
            let item: Vec<usize> = {
                let mut it = item;
                while let Some((&first, rest)) = it.split_first() {
                    if toks[first].is_any_kw(&["STREAM", "DISTINCT", "ALL"]) {
                        it = rest;
                    } else {
                        break;
                    }
                }
                it.to_vec()
            };
            if let [.., prev, last] = item.as_slice() {
                if toks[*last].is_word() && is_alias_position(stmt, *prev) {
                    skip.insert(*last);
                    if let Some(n) = toks[*last].norm() {
                        aliases.insert(n);
                    }
                }
            }
        }
        for &i in select_list {
            if toks[i].is_kw("AS") {
                if let Some(n) = stmt.tok(i + 1).and_then(Tk::norm) {
                    aliases.insert(n);
                }
            }
        }

        let mut ranges: Vec<&[usize]> = vec![select_list];
        ranges.extend(clause("WHERE"));
        ranges.extend(clause("GROUP"));
        for range in ranges {
            let (Some(&first), Some(&last)) = (range.first(), range.last()) else {
                continue;
            };
            let last_end = stmt.close[last].map_or(last + 1, |c| c + 1);
            for i in stmt.scan(first, last_end) {
                let t = &toks[i];
                let TkKind::Word {
                    quoted, keyword, ..
                } = &t.kind
                else {
                    continue;
                };
                if skip.contains(&i) || (!quoted && *keyword) {
                    continue;
                }
                let prev = i.checked_sub(1).and_then(|p| stmt.tok(p));
                let next = stmt.tok(i + 1);
                if prev.is_some_and(|p| p.kind == TkKind::Period || p.is_any_kw(&["AS", "OVER"]))
                    || next.is_some_and(|n| matches!(n.kind, TkKind::Period | TkKind::LParen))
                {
                    continue;
                }
                let norm = t.norm().unwrap_or_default();
                if aliases.contains(&norm)
                    || self.object_names.contains(&norm)
                    || qualifiers.contains_key(&norm)
                    || norm == self.ctx.input_stream
                {
                    continue;
                }
                self.check_column(t, None, only.kind, (prev, next));
            }
        }
    }

    /// The sources of a FROM clause (`from`: its top-level token indices).
    fn parse_from(&self, stmt: &Stmt, from: &[usize]) -> Vec<Source> {
        let toks = stmt.toks;
        let at = |k: usize| from.get(k).map(|&i| &toks[i]);
        let is_sep =
            |k: usize| at(k).is_some_and(|t| t.kind == TkKind::Comma || t.is_any_kw(JOIN_WORDS));
        let skip_over = |k: &mut usize| {
            if at(*k).is_some_and(|t| t.is_kw("OVER")) {
                *k += 1;
                if at(*k).is_some_and(|t| t.is_word())
                    || from.get(*k).is_some_and(|&i| stmt.is_group(i))
                {
                    *k += 1;
                }
            }
        };
        let mut sources = Vec::new();
        let mut k = 0;
        while k < from.len() {
            if is_sep(k) {
                k += 1;
                continue;
            }
            let mut source = Source {
                kind: SrcKind::Unknown,
                name: None,
                alias: None,
            };
            let t = &toks[from[k]];
            if t.is_any_kw(&["TABLE", "LATERAL", "UNNEST"]) || stmt.is_group(from[k]) {
                k += 1;
                if from.get(k).is_some_and(|&i| stmt.is_group(i)) {
                    k += 1;
                }
            } else if t.is_word() {
                if at(k + 1).is_some_and(|n| n.kind == TkKind::Period) {
                    // A dotted name: not an in-application object KDA knows.
                    k += 3;
                } else {
                    let name = t.norm().unwrap_or_default();
                    source.kind = self.resolve_source(&name);
                    source.name = Some(name);
                    k += 1;
                }
            } else {
                k += 1;
                continue;
            }
            skip_over(&mut k);
            if at(k).is_some_and(|t| t.is_kw("AS")) {
                k += 1;
                if at(k).is_some_and(|t| t.is_word()) {
                    source.alias = at(k).and_then(Tk::norm);
                    k += 1;
                }
            } else if at(k).is_some_and(|t| t.is_word() && !t.is_any_kw(ALIAS_STOP_WORDS)) {
                source.alias = at(k).and_then(Tk::norm);
                k += 1;
            }
            skip_over(&mut k);
            sources.push(source);
            // ON / USING and anything else up to the next item.
            while k < from.len() && !is_sep(k) {
                k += 1;
            }
        }
        sources
    }
}

/// Whether the token at `prev` ends an expression, so that a word after it is an alias.
fn is_alias_position(stmt: &Stmt, prev: usize) -> bool {
    let t = &stmt.toks[prev];
    if stmt.is_group(prev) {
        return true;
    }
    match &t.kind {
        TkKind::Literal | TkKind::RParen => true,
        TkKind::Word { quoted: true, .. } => true,
        TkKind::Word { keyword: false, .. } => true,
        TkKind::Word { .. } => t.is_any_kw(&["AS", "END", "NULL", "TRUE", "FALSE"]),
        _ => false,
    }
}

/// The column names of `CREATE STREAM name (col type, ...)`, the `(` expected at `open`.
fn stream_columns(toks: &[Tk], open: usize) -> Option<Vec<String>> {
    if toks.get(open)?.kind != TkKind::LParen {
        return None;
    }
    let mut columns = Vec::new();
    let mut depth = 0usize;
    let mut expect_name = true;
    for t in &toks[open + 1..] {
        match t.kind {
            TkKind::LParen => depth += 1,
            TkKind::RParen if depth == 0 => return Some(columns),
            TkKind::RParen => depth -= 1,
            TkKind::Comma if depth == 0 => expect_name = true,
            TkKind::Semi => return None,
            _ if expect_name => {
                columns.push(t.norm()?);
                expect_name = false;
            }
            _ => {}
        }
    }
    None
}

/// The column closest to `name`, ignoring case, if it is close enough to be a plausible
/// misspelling or abbreviation: a small edit distance, or a high Jaro-Winkler similarity (which
/// favours a common prefix, as in `itemQty` for `itemQuantity`).
fn closest<'s>(columns: &'s [String], name: &str) -> Option<&'s String> {
    let lower = name.to_lowercase();
    columns
        .iter()
        .filter_map(|c| {
            let column = c.to_lowercase();
            let distance = strsim::levenshtein(&column, &lower);
            let similarity = strsim::jaro_winkler(&column, &lower);
            let max_distance = (column.chars().count().max(lower.chars().count()) / 3).max(2);
            (distance <= max_distance || similarity >= 0.85).then_some((similarity, distance, c))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, _, c)| c)
}

/// Checks KDA SQL `code` against the mappings. Never panics; returns every problem found.
pub fn check_code(code: &str, ctx: &CodeContext) -> Vec<Finding> {
    let tokens = match Tokenizer::new(&GenericDialect {}, code).tokenize_with_location() {
        Ok(t) => t,
        Err(e) => {
            return vec![Finding {
                subject: Subject::Code,
                message: format!(
                    "the code cannot be read: {} at line {}, column {}",
                    e.message, e.location.line, e.location.column
                ),
            }]
        }
    };
    // Significant tokens only. `//` starts a comment too in the SQL reference's examples: the
    // rest of its line is dropped, so that its words are not taken for code.
    let mut toks: Vec<Tk> = Vec::new();
    let mut raw = tokens.into_iter().peekable();
    while let Some(t) = raw.next() {
        let start = t.span.start;
        let comment = t.token == Token::DuckIntDiv
            || t.token == Token::Div
                && raw.peek().is_some_and(|n| {
                    n.token == Token::Div
                        && n.span.start.line == start.line
                        && n.span.start.column == start.column + 1
                });
        if comment {
            while raw.next_if(|n| n.span.start.line == start.line).is_some() {}
            continue;
        }
        toks.extend(Tk::from_token(t));
    }

    let mut checker = Checker {
        ctx,
        created: Vec::new(),
        object_names: HashSet::new(),
        findings: Vec::new(),
        reported: HashSet::new(),
    };
    checker.collect_definitions(&toks);
    checker.object_names.insert(ctx.input_stream.to_string());
    for (name, _) in ctx.references {
        checker.object_names.insert(name.to_string());
    }
    for name in ctx.outputs {
        checker.object_names.insert(name.to_string());
    }

    let mut findings = Vec::new();

    // 1. Every output's stream is created by the code. Two in-application streams exist without
    // it: the input stream, and the error stream, which an output may deliver too.
    for (i, &output) in ctx.outputs.iter().enumerate() {
        if output == ERROR_STREAM
            || output == ctx.input_stream
            || checker.created.iter().any(|c| c.name == output)
        {
            continue;
        }
        let message = match checker
            .created
            .iter()
            .find(|c| c.name.to_lowercase() == output.to_lowercase())
        {
            Some(c) => format!(
                "output {i} reads the in-application stream {}, but the code creates {}, which \
                 differs in case (quoted names keep their case, unquoted ones are uppercased): \
                 write the name in the code as {} or set the output's stream name to {}",
                quoted(output),
                c.token.how_read(),
                quoted(output),
                quoted(&c.name)
            ),
            None => {
                let mut names: Vec<&str> = Vec::new();
                for c in &checker.created {
                    if !names.contains(&c.name.as_str()) {
                        names.push(&c.name);
                    }
                }
                let others = if names.is_empty() {
                    "the code creates no stream".to_string()
                } else {
                    format!("name a stream the code creates: {}", quoted_list(names))
                };
                format!(
                    "the code never creates the in-application stream {} that output {i} reads: \
                     add `CREATE OR REPLACE STREAM {} (...)` and a pump that inserts into it, \
                     or {others}",
                    quoted(output),
                    quoted(output)
                )
            }
        };
        findings.push(Finding {
            subject: Subject::Output(i),
            message,
        });
    }

    // 2 and 3. The input stream and every reference table are read.
    let words: Vec<&Tk> = toks.iter().filter(|t| t.is_word()).collect();
    let used = |name: &str| words.iter().any(|t| t.norm().as_deref() == Some(name));
    let used_but_case = |name: &str| {
        let lower = name.to_lowercase();
        words
            .iter()
            .find(|t| t.norm().is_some_and(|n| n.to_lowercase() == lower))
            .copied()
    };
    if !used(ctx.input_stream) {
        let message = match used_but_case(ctx.input_stream) {
            Some(t) => format!(
                "the code reads {}, which differs in case from the input stream {} (quoted names \
                 keep their case, unquoted ones are uppercased): write it as {} in the code, or \
                 change the input's name prefix",
                t.how_read(),
                quoted(ctx.input_stream),
                quoted(ctx.input_stream)
            ),
            None => {
                let mut message = format!(
                    "the code never reads the input stream {}: read it, e.g. `SELECT STREAM ... \
                     FROM {}`, or change the input's name prefix to name the stream the code reads",
                    quoted(ctx.input_stream),
                    quoted(ctx.input_stream)
                );
                // A stream read but defined nowhere, named like an input stream.
                let known: HashSet<String> = checker
                    .created
                    .iter()
                    .map(|c| c.name.clone())
                    .chain(ctx.references.iter().map(|(r, _)| r.to_string()))
                    .collect();
                let candidate = toks.windows(2).find_map(|w| {
                    let name = w[1].norm()?;
                    (w[0].is_any_kw(&["FROM", "JOIN"]) && !known.contains(&name))
                        .then_some(name)
                        .filter(|n| n.ends_with("_001") && n.len() > 4)
                });
                if let Some(name) = candidate {
                    message.push_str(&format!(
                        " (the code reads {}, which it does not create: its name prefix would \
                         be {})",
                        quoted(&name),
                        quoted(&name[..name.len() - 4])
                    ));
                }
                message
            }
        };
        findings.push(Finding {
            subject: Subject::InputPrefix,
            message,
        });
    }
    for (i, (name, _)) in ctx.references.iter().enumerate() {
        if used(name) {
            continue;
        }
        let message = match used_but_case(name) {
            Some(t) => format!(
                "the code uses {}, which differs in case from the reference table {} (quoted names \
                 keep their case, unquoted ones are uppercased): write it as {}",
                t.how_read(),
                quoted(name),
                quoted(name)
            ),
            None => format!(
                "the code never uses the reference table {}: join it, e.g. `... JOIN {} AS r ON \
                 ...`, or remove the reference data source",
                quoted(name),
                quoted(name)
            ),
        };
        findings.push(Finding {
            subject: Subject::Reference(i),
            message,
        });
    }

    // 4. Columns, statement by statement.
    for statement in toks.split(|t| t.kind == TkKind::Semi) {
        if statement.is_empty() {
            continue;
        }
        match Stmt::new(statement) {
            Ok(stmt) => checker.check_statement(&stmt),
            Err(t) => checker.findings.push(Finding {
                subject: Subject::Code,
                message: format!(
                    "unbalanced parenthesis at {} in the statement starting on line {}: every `(` \
                     needs its `)`",
                    t.at(),
                    statement[0].line
                ),
            }),
        }
    }
    findings.append(&mut checker.findings);
    findings
}

// ------------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERDB_DDL: &str = include_str!("../../sql/orderdb-setup.sql");
    const KDA_SQL: &str = include_str!("../../sql/kda-orders-setup.sql");
    const PRODUCTS: &str = concat!(
        r#"{"productId":999900001,"productName":"Durable Concrete Chair","productPrice":13.56}"#,
        "\n",
        r#"{"productId":999900002,"productName":"Small Granite Keyboard","productPrice":7}"#,
        "\n",
        r#"{"productId":999900003,"productName":"Incredible Frozen Pizza","productPrice":99.9}"#,
        "\n"
    );

    fn col(name: &str, sql_type: &str, mapping: &str) -> Column {
        Column {
            name: name.to_string(),
            sql_type: sql_type.to_string(),
            mapping: mapping.to_string(),
        }
    }

    fn input_columns() -> Vec<Column> {
        columns_from_ddl(ORDERDB_DDL).expect("orderdb-setup.sql")
    }

    fn product_columns() -> Vec<Column> {
        columns_from_json(PRODUCTS.as_bytes()).expect("products")
    }

    /// Runs check_code against the project's input and "products" reference table.
    fn check(code: &str, outputs: &[&str]) -> Vec<Finding> {
        let input = input_columns();
        let products = product_columns();
        let references = [("products", products.as_slice())];
        check_code(
            code,
            &CodeContext {
                input_stream: "SOURCE_SQL_STREAM_001",
                input_columns: &input,
                references: &references,
                outputs,
            },
        )
    }

    /// A minimal valid application with `body` added.
    fn app(body: &str) -> String {
        format!(
            "CREATE OR REPLACE STREAM \"OUT\" (\"orderId\" INTEGER);\n\
             CREATE OR REPLACE PUMP \"OUT_PUMP\" AS INSERT INTO \"OUT\"\n\
             SELECT STREAM s.\"orderId\" FROM \"SOURCE_SQL_STREAM_001\" AS s\n\
             LEFT JOIN \"products\" AS p ON s.\"itemId\" = p.\"productId\";\n{body}"
        )
    }

    fn messages(findings: &[Finding]) -> String {
        findings
            .iter()
            .map(|f| format!("{:?}: {}", f.subject, f.message))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Translates one MySQL column type, as written in DDL (`INT UNSIGNED`, `DECIMAL(6,2)`,
    /// `ENUM('a','b')`, ...), to the Kinesis Data Analytics SQL type [`columns_from_ddl`] uses.
    fn kda_type_of_mysql(mysql_type: &str) -> Result<String, String> {
        let sql = format!("CREATE TABLE t (c {mysql_type})");
        let statements = Parser::parse_sql(&MySqlDialect {}, &sql)
            .map_err(|e| format!("`{mysql_type}` is not a MySQL column type: {e}"))?;
        match statements.as_slice() {
            [Statement::CreateTable(table)] if table.columns.len() == 1 => {
                Ok(kda_type_of_data_type(&table.columns[0].data_type).to_string())
            }
            _ => Err(format!("`{mysql_type}` is not a MySQL column type")),
        }
    }

    // ---- columns_from_ddl ------------------------------------------------------------------

    #[test]
    fn ddl_of_the_orders_database() {
        let d = |c: &str| format!("$.data.{c}");
        let expected = vec![
            col("recordType", "VARCHAR(64)", "$.metadata.table-name"),
            col("operation", "VARCHAR(16)", "$.metadata.operation"),
            col("orderId", "INTEGER", &d("orderId")),
            col("orderAmount", "DECIMAL(6,2)", &d("orderAmount")),
            col("orderStatus", "VARCHAR(30)", &d("orderStatus")),
            col("orderDateTime", "VARCHAR(30)", &d("orderDateTime")),
            col("shipToName", "VARCHAR(30)", &d("shipToName")),
            col("shipToAddress", "VARCHAR(30)", &d("shipToAddress")),
            col("shipToCity", "VARCHAR(30)", &d("shipToCity")),
            col("shipToState", "VARCHAR(30)", &d("shipToState")),
            col("shipToZip", "VARCHAR(10)", &d("shipToZip")),
            col("billToName", "VARCHAR(45)", &d("billToName")),
            col("billToAddress", "VARCHAR(45)", &d("billToAddress")),
            col("billToCity", "VARCHAR(20)", &d("billToCity")),
            col("billToState", "VARCHAR(15)", &d("billToState")),
            col("billToZip", "VARCHAR(10)", &d("billToZip")),
            col("itemId", "INTEGER", &d("itemId")),
            col("itemQuantity", "INTEGER", &d("itemQuantity")),
            col("itemAmount", "DECIMAL(6,2)", &d("itemAmount")),
            col("itemStatus", "VARCHAR(15)", &d("itemStatus")),
        ];
        assert_eq!(input_columns(), expected);
        for c in &expected {
            check_sql_type(&c.sql_type).unwrap();
            check_mapping(&c.mapping).unwrap();
        }
    }

    #[test]
    fn ddl_widens_types_shared_by_tables() {
        let ddl = "CREATE TABLE a (x VARCHAR(30), n INT, d DECIMAL(6,2), m INT, b BOOL, t DATE);\n\
                   CREATE TABLE b (x VARCHAR(45), n BIGINT, d DECIMAL(10,4), m VARCHAR(5), b INT, t DATETIME);";
        let cols = columns_from_ddl(ddl).unwrap();
        let types: Vec<(&str, &str)> = cols[2..]
            .iter()
            .map(|c| (c.name.as_str(), c.sql_type.as_str()))
            .collect();
        assert_eq!(
            types,
            [
                ("x", "VARCHAR(45)"),
                ("n", "BIGINT"),
                ("d", "DECIMAL(10,4)"),
                ("m", "VARCHAR(11)"),
                ("b", "INTEGER"),
                ("t", "TIMESTAMP"),
            ]
        );
    }

    #[test]
    fn ddl_accepts_other_statements_and_odd_names() {
        let ddl = "-- c\nCREATE DATABASE IF NOT EXISTS d; USE d; SET NAMES utf8mb4;\n\
                   DROP TABLE IF EXISTS `t`;\n\
                   CREATE TABLE `t` (`the-key` INT NOT NULL AUTO_INCREMENT, `a b` TEXT,\n\
                   PRIMARY KEY (`the-key`)) ENGINE=InnoDB;\n\
                   INSERT INTO t VALUES (1, 'x');";
        let cols = columns_from_ddl(ddl).unwrap();
        assert_eq!(cols.len(), 4);
        assert_eq!(cols[2], col("the_key", "INTEGER", "$.data['the-key']"));
        assert_eq!(cols[3], col("a_b", "VARCHAR(65534)", "$.data['a b']"));
        for c in &cols {
            check_mapping(&c.mapping).unwrap();
        }
    }

    #[test]
    fn ddl_errors() {
        let e = columns_from_ddl("CREATE DATABASE x; USE x;").unwrap_err();
        assert!(e.contains("no CREATE TABLE"), "{e}");
        let e = columns_from_ddl("CREATE TABLE t (a INT,\n b VARCHAR(10) NOT NULL,\n c INT INT);")
            .unwrap_err();
        assert!(e.contains("line 1") && e.contains("Line: 3"), "{e}");
        let e = columns_from_ddl("CREATE TABLE t (recordType VARCHAR(10));").unwrap_err();
        assert!(e.contains("metadata column \"recordType\""), "{e}");
        let e = columns_from_ddl("CREATE TABLE t (Operation INT);").unwrap_err();
        assert!(e.contains("\"operation\""), "{e}");
        let e = columns_from_ddl("CREATE TABLE t (a VARCHAR(10), b 'oops);").unwrap_err();
        assert!(e.contains("line 1, column"), "{e}");
        let e = columns_from_ddl("CREATE TABLE t LIKE u;").unwrap_err();
        assert!(e.contains("defines no columns"), "{e}");
    }

    // ---- type translation ------------------------------------------------------------------

    #[test]
    fn mysql_types_translate_to_kda_types() {
        let cases = [
            ("INT", "INTEGER"),
            ("INTEGER", "INTEGER"),
            ("MEDIUMINT", "INTEGER"),
            ("INT(11)", "INTEGER"),
            ("TINYINT(1)", "BOOLEAN"),
            ("BOOL", "BOOLEAN"),
            ("BOOLEAN", "BOOLEAN"),
            ("TINYINT", "TINYINT"),
            ("TINYINT(4)", "TINYINT"),
            ("SMALLINT", "SMALLINT"),
            ("BIGINT", "BIGINT"),
            ("TINYINT UNSIGNED", "SMALLINT"),
            ("SMALLINT UNSIGNED", "INTEGER"),
            ("MEDIUMINT UNSIGNED", "INTEGER"),
            ("INT UNSIGNED", "BIGINT"),
            ("INT(10) UNSIGNED ZEROFILL", "BIGINT"),
            ("BIGINT UNSIGNED", "BIGINT"),
            ("DECIMAL(6,2)", "DECIMAL(6,2)"),
            ("NUMERIC(8,3)", "DECIMAL(8,3)"),
            ("DECIMAL", "DECIMAL(10,0)"),
            ("DECIMAL(12)", "DECIMAL(12,0)"),
            ("DECIMAL(30,2)", "DOUBLE"),
            ("FLOAT", "REAL"),
            ("FLOAT(30)", "DOUBLE"),
            ("DOUBLE", "DOUBLE"),
            ("DOUBLE PRECISION", "DOUBLE"),
            ("REAL", "DOUBLE"),
            ("CHAR(2)", "CHAR(2)"),
            ("CHAR", "CHAR(1)"),
            ("VARCHAR(45)", "VARCHAR(45)"),
            ("VARCHAR(20) CHARACTER SET utf8mb4", "VARCHAR(20)"),
            ("VARCHAR(65535)", "VARCHAR(65534)"),
            ("TINYTEXT", "VARCHAR(255)"),
            ("TEXT", "VARCHAR(65534)"),
            ("LONGTEXT", "VARCHAR(65534)"),
            ("JSON", "VARCHAR(65534)"),
            ("ENUM('new','shipped','delivered')", "VARCHAR(9)"),
            ("SET('a','bc')", "VARCHAR(5)"),
            ("DATE", "DATE"),
            ("TIME", "TIME"),
            ("DATETIME", "TIMESTAMP"),
            ("DATETIME(3)", "TIMESTAMP"),
            ("TIMESTAMP", "TIMESTAMP"),
            ("YEAR", "SMALLINT"),
            ("BINARY(16)", "VARBINARY(16)"),
            ("VARBINARY(200)", "VARBINARY(200)"),
            ("BLOB", "VARBINARY(65534)"),
            ("TINYBLOB", "VARBINARY(255)"),
            ("BIT(1)", "BOOLEAN"),
            ("BIT(12)", "VARBINARY(2)"),
        ];
        for (mysql, kda) in cases {
            let got = kda_type_of_mysql(mysql).unwrap();
            assert_eq!(got, kda, "{mysql}");
            check_sql_type(&got).unwrap_or_else(|e| panic!("{mysql} -> {e}"));
        }
        assert!(kda_type_of_mysql("NOT A TYPE (").is_err());
    }

    #[test]
    fn type_widening() {
        use KdaType::*;
        assert_eq!(Varchar(30).widen(Varchar(45)), Varchar(45));
        assert_eq!(Integer.widen(BigInt), BigInt);
        assert_eq!(TinyInt.widen(SmallInt), SmallInt);
        assert_eq!(Char(3).widen(Char(3)), Char(3));
        assert_eq!(Char(3).widen(Varchar(2)), Varchar(3));
        assert_eq!(Integer.widen(Decimal(6, 2)), Decimal(12, 2));
        assert_eq!(Decimal(6, 2).widen(Decimal(5, 4)), Decimal(8, 4));
        assert_eq!(BigInt.widen(Decimal(6, 2)), Double);
        assert_eq!(Real.widen(Double), Double);
        assert_eq!(Integer.widen(Real), Double);
        assert_eq!(Date.widen(Timestamp), Timestamp);
        assert_eq!(Integer.widen(Date), Varchar(11));
        assert_eq!(Varchar(5).widen(BigInt), Varchar(20));
        assert_eq!(Boolean.widen(Date), Varchar(10));
        assert_eq!(Varbinary(4).widen(Varbinary(8)), Varbinary(8));
    }

    // ---- check_sql_type --------------------------------------------------------------------

    #[test]
    fn sql_types_accepted() {
        for t in [
            "INTEGER",
            "int",
            "BIGINT",
            "SmallInt",
            "TINYINT",
            "BOOLEAN",
            "REAL",
            "DOUBLE",
            "double precision",
            "FLOAT",
            "DECIMAL",
            "DECIMAL(6,2)",
            "decimal ( 6 , 2 )",
            "NUMERIC(18)",
            "DEC(18,18)",
            "CHAR",
            "CHAR(1)",
            "CHARACTER(10)",
            "VARCHAR(30)",
            " varchar(65534) ",
            "CHARACTER VARYING(8)",
            "BINARY",
            "BINARY(4)",
            "VARBINARY(16)",
            "DATE",
            "TIME",
            "TIMESTAMP",
        ] {
            check_sql_type(t).unwrap_or_else(|e| panic!("{t}: {e}"));
        }
    }

    #[test]
    fn sql_types_rejected() {
        let e = check_sql_type("VARCHR(30)").unwrap_err();
        assert!(
            e.starts_with("`VARCHR(30)` is not a Kinesis Data Analytics SQL type: use one of")
                && e.contains("VARCHAR(n)"),
            "{e}"
        );
        for (t, needle) in [
            ("VARCHAR(0)", "from 1 to 65534"),
            ("VARCHAR(65535)", "from 1 to 65534"),
            ("VARCHAR", "needs a length"),
            ("VARBINARY", "needs a length"),
            ("CHAR(0)", "from 1 to 65534"),
            ("DECIMAL(19,2)", "from 1 to 18"),
            ("DECIMAL(0)", "from 1 to 18"),
            ("DECIMAL(6,7)", "must not exceed its precision"),
            ("DECIMAL(1,2,3)", "write DECIMAL"),
            ("INTEGER(10)", "takes no length"),
            ("TIMESTAMP(3)", "takes no length"),
            ("VARCHAR(1.5)", "not a whole number"),
            ("VARCHAR(-1)", "not a Kinesis"),
            ("VARCHAR(10", "not a Kinesis"),
            ("VARCHAR(10) NOT NULL", "not a Kinesis"),
            ("\"VARCHAR\"(10)", "not a Kinesis"),
            ("INTERVAL", "not a Kinesis"),
            ("TEXT", "not a Kinesis"),
            ("", "not a Kinesis"),
        ] {
            let e = check_sql_type(t).expect_err(t);
            assert!(e.contains(needle), "{t}: {e}");
        }
    }

    // ---- check_mapping ---------------------------------------------------------------------

    #[test]
    fn mappings() {
        for m in [
            "$",
            "$.data.orderId",
            "$.metadata.table-name",
            "$.a[0]",
            "$.a[0:]",
            "$['x y']",
            "$.a-b.c-d[0:].e",
            "$..table-name",
            "$.data['it''s'].x",
            "$.data['a.b-c'].x-y",
        ] {
            let r = check_mapping(m);
            if m == "$.data['it''s'].x" {
                assert!(r.is_err(), "{m}");
            } else {
                r.unwrap_or_else(|e| panic!("{m}: {e}"));
            }
        }
        let e = check_mapping("$.data[").unwrap_err();
        assert!(e.contains("`$.data[` is not a valid JSONPath"), "{e}");
        let e = check_mapping("data.x").unwrap_err();
        assert!(e.contains("starts with `$`"), "{e}");
        let e = check_mapping("").unwrap_err();
        assert!(e.contains("starts with `$`"), "{e}");
        let e = check_mapping("$.a..").unwrap_err();
        assert!(e.contains("not a valid JSONPath"), "{e}");
    }

    #[test]
    fn rfc9535_rewrite() {
        assert_eq!(
            kda_path_to_rfc9535("$.metadata.table-name"),
            "$.metadata['table-name']"
        );
        assert_eq!(kda_path_to_rfc9535("$..a-b[0:]"), "$..['a-b'][0:]");
        assert_eq!(kda_path_to_rfc9535("$['a.b-c'].d"), "$['a.b-c'].d");
        assert_eq!(kda_path_to_rfc9535("$.data.x"), "$.data.x");
    }

    // ---- columns_from_json -----------------------------------------------------------------

    #[test]
    fn json_lines_of_products() {
        assert_eq!(
            product_columns(),
            vec![
                col("productId", "INTEGER", "$.productId"),
                col("productName", "VARCHAR(24)", "$.productName"),
                col("productPrice", "DOUBLE", "$.productPrice"),
            ]
        );
    }

    #[test]
    fn json_type_inference() {
        let content = "[{\"a\": 1, \"b\": \"x\", \"c\": true, \"d\": 1},\n\
                        {\"a\": 3000000000, \"b\": \"abcdefghij\", \"c\": false, \"d\": \"one\",\n\
                         \"e-f\": null, \"g\": [1, 2]}]";
        let cols = columns_from_json(content.as_bytes()).unwrap();
        assert_eq!(
            cols,
            vec![
                col("a", "BIGINT", "$.a"),
                col("b", "VARCHAR(16)", "$.b"),
                col("c", "BOOLEAN", "$.c"),
                col("d", "VARCHAR(8)", "$.d"),
                col("e_f", "VARCHAR(8)", "$['e-f']"),
                col("g", "VARCHAR(8)", "$.g"),
            ]
        );
        for c in &cols {
            check_mapping(&c.mapping).unwrap();
            check_sql_type(&c.sql_type).unwrap();
        }
        let cols = columns_from_json(b"{\"n\": 1}\n\n{\"n\": 2.5}\r\n").unwrap();
        assert_eq!(cols, vec![col("n", "DOUBLE", "$.n")]);
    }

    #[test]
    fn json_errors() {
        let e = columns_from_json(b"").unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = columns_from_json(b"  \n ").unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = columns_from_json(b"{\"a\":1}\n{\"a\":2\n").unwrap_err();
        assert!(e.contains("line 3") || e.contains("line 2"), "{e}");
        let e = columns_from_json(b"{\"a\":1}\n[1,2]\n").unwrap_err();
        assert!(
            e.contains("line 2") && e.contains("not a JSON object"),
            "{e}"
        );
        let e = columns_from_json(b"{\"a\":1}\nnot json\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let e = columns_from_json(b"{\"a\":\n1}\n\n{\"a\":2}\n{\"a\":3} 4\n").unwrap_err();
        assert!(e.contains("the record on line 5 is a number"), "{e}");
        let e = columns_from_json(b"[{\"a\":1}, 2]").unwrap_err();
        assert!(e.contains("element 1"), "{e}");
        let e = columns_from_json(b"[]").unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = columns_from_json(b"{}").unwrap_err();
        assert!(e.contains("no fields"), "{e}");
        let e = columns_from_json(b"\xff\xfe").unwrap_err();
        assert!(e.contains("UTF-8"), "{e}");
    }

    // ---- check_code ------------------------------------------------------------------------

    #[test]
    fn project_sql_has_no_findings() {
        let f = check(KDA_SQL, &["ORDER_ITEM_ENRICHED_STREAM"]);
        assert!(f.is_empty(), "{}", messages(&f));
        let f = check(KDA_SQL, &["ORDER_ITEM_ENRICHED_STREAM", "ORDER_STREAM"]);
        assert!(f.is_empty(), "{}", messages(&f));
    }

    /// The project's pumps fill every column from the source column of the same name (the
    /// original sample filled the item quantity from the wrong column): the INSERT column list
    /// and the SELECT list are paired by position.
    #[test]
    fn project_sql_fills_each_column_from_its_namesake() {
        let code: String = KDA_SQL
            .lines()
            .map(|l| l.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let between = |text: &str, from: &str, to: &str| -> String {
            let start = text.find(from).expect(from) + from.len();
            let end = start + text[start..].find(to).expect(to);
            text[start..end].to_string()
        };
        let names = |list: &str| -> Vec<String> {
            list.split(',')
                .map(|item| {
                    let item = item.trim();
                    let column = item.rsplit('.').next().unwrap_or(item);
                    column.trim_matches('"').to_string()
                })
                .collect()
        };
        let mut pumps = 0;
        for statement in code.split(';').filter(|s| s.contains("INSERT INTO")) {
            let insert = between(statement, "INSERT INTO", "SELECT STREAM");
            let targets = names(&between(&insert, "(", ")"));
            let sources = names(&between(statement, "SELECT STREAM", "FROM"));
            assert_eq!(targets.len(), sources.len(), "{statement}");
            for (target, source) in targets.iter().zip(&sources) {
                let ok = target == source || (target == "event_ts" && source == "ROWTIME");
                assert!(ok, "{target} is filled from {source} in {statement}");
            }
            pumps += 1;
        }
        assert_eq!(pumps, 3);
        assert!(code.contains("i.\"itemQuantity\""));
        // And the checker catches a quantity taken from a column that does not exist.
        let f = check(
            &KDA_SQL.replace("i.\"itemQuantity\"", "i.\"itemQty\""),
            &["ORDER_ITEM_ENRICHED_STREAM"],
        );
        assert_eq!(f.len(), 2, "{}", messages(&f));
    }

    #[test]
    fn output_stream_not_created() {
        let f = check(&app(""), &["ORDER_ITEM_ENRICHED_STREAM"]);
        assert_eq!(f.len(), 1, "{}", messages(&f));
        assert_eq!(f[0].subject, Subject::Output(0));
        assert!(
            f[0].message.contains(
                "the code never creates the in-application stream \"ORDER_ITEM_ENRICHED_STREAM\" that output 0 reads"
            ) && f[0].message.contains("CREATE OR REPLACE STREAM \"ORDER_ITEM_ENRICHED_STREAM\"")
                && f[0].message.contains("\"OUT\""),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn outputs_of_streams_the_application_has_anyway() {
        let f = check(&app(""), &["OUT", "error_stream", "SOURCE_SQL_STREAM_001"]);
        assert!(f.is_empty(), "{}", messages(&f));
    }

    #[test]
    fn output_stream_created_in_other_case() {
        let f = check(
            &app("CREATE OR REPLACE STREAM order_item_enriched_stream (x INTEGER);"),
            &["OUT", "order_item_enriched_stream"],
        );
        assert_eq!(f.len(), 1, "{}", messages(&f));
        assert_eq!(f[0].subject, Subject::Output(1));
        assert!(
            f[0].message.contains("differs in case")
                && f[0].message.contains("ORDER_ITEM_ENRICHED_STREAM"),
            "{}",
            f[0].message
        );
        let f = check(
            &app("CREATE OR REPLACE STREAM \"Enriched\" (x INTEGER);"),
            &["ENRICHED"],
        );
        assert_eq!(f.len(), 1, "{}", messages(&f));
        assert!(f[0].message.contains("differs in case"), "{}", f[0].message);
        // Unquoted in the code and uppercase in the configuration: the same stream.
        let f = check(
            &app("CREATE OR REPLACE STREAM enriched (x INTEGER);"),
            &["ENRICHED"],
        );
        assert!(f.is_empty(), "{}", messages(&f));
    }

    #[test]
    fn input_stream_not_read() {
        let code = "CREATE OR REPLACE STREAM \"OUT\" (\"x\" INTEGER);\n\
                    CREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"OUT\"\n\
                    SELECT STREAM s.\"x\" FROM \"MY_INPUT_001\" AS s JOIN \"products\" AS p ON s.\"x\" = p.\"productId\";";
        let f = check(code, &["OUT"]);
        assert_eq!(f.len(), 1, "{}", messages(&f));
        assert_eq!(f[0].subject, Subject::InputPrefix);
        assert!(
            f[0].message
                .contains("never reads the input stream \"SOURCE_SQL_STREAM_001\"")
                && f[0].message.contains("\"MY_INPUT\""),
            "{}",
            f[0].message
        );
        let f = check(
            &app("").replace("\"SOURCE_SQL_STREAM_001\"", "\"source_sql_stream_001\""),
            &["OUT"],
        );
        assert_eq!(f.len(), 1, "{}", messages(&f));
        assert_eq!(f[0].subject, Subject::InputPrefix);
        assert!(f[0].message.contains("differs in case"), "{}", f[0].message);
        // Unquoted, it is uppercased: found.
        let f = check(
            &app("").replace("\"SOURCE_SQL_STREAM_001\"", "source_sql_stream_001"),
            &["OUT"],
        );
        assert!(f.is_empty(), "{}", messages(&f));
    }

    #[test]
    fn reference_never_used() {
        let code = "CREATE OR REPLACE STREAM \"OUT\" (\"x\" INTEGER);\n\
                    CREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"OUT\"\n\
                    SELECT STREAM \"orderId\" FROM \"SOURCE_SQL_STREAM_001\";";
        let f = check(code, &["OUT"]);
        assert_eq!(f.len(), 1, "{}", messages(&f));
        assert_eq!(f[0].subject, Subject::Reference(0));
        assert!(
            f[0].message
                .contains("never uses the reference table \"products\""),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn reference_unquoted_is_uppercased() {
        let f = check(&app("").replace("\"products\"", "products"), &["OUT"]);
        assert_eq!(f.len(), 1, "{}", messages(&f));
        assert_eq!(f[0].subject, Subject::Reference(0));
        assert!(
            f[0].message.contains("`products`")
                && f[0].message.contains("PRODUCTS")
                && f[0].message.contains("write it as \"products\""),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn misspelt_quoted_column() {
        let code = app(
            "CREATE OR REPLACE STREAM \"O\" (\"id\" INTEGER);\n\
             CREATE OR REPLACE PUMP \"P2\" AS INSERT INTO \"O\"\n\
             SELECT STREAM \"orderid\" FROM \"SOURCE_SQL_STREAM_001\" WHERE \"recordType\" = 'order';",
        );
        let f = check(&code, &["OUT"]);
        assert_eq!(f.len(), 1, "{}", messages(&f));
        assert_eq!(f[0].subject, Subject::Code);
        assert!(
            f[0].message.contains("did you mean \"orderId\"")
                && f[0].message.contains("line 7")
                && f[0]
                    .message
                    .contains("input stream \"SOURCE_SQL_STREAM_001\""),
            "{}",
            f[0].message
        );
        // A misspelling, not only a case difference.
        let f = check(&code.replace("\"orderid\"", "\"ordrId\""), &["OUT"]);
        assert_eq!(f.len(), 1, "{}", messages(&f));
        assert!(
            f[0].message.contains("did you mean \"orderId\"?"),
            "{}",
            f[0].message
        );
        // Nothing close: the columns are listed.
        let f = check(&code.replace("\"orderid\"", "\"zzzzzzzzzz\""), &["OUT"]);
        assert_eq!(f.len(), 1, "{}", messages(&f));
        assert!(
            f[0].message.contains("its columns are \"recordType\""),
            "{}",
            f[0].message
        );
        // In WHERE and GROUP BY too.
        let f = check(
            &code.replace("\"recordType\" =", "\"recordtype\" ="),
            &["OUT"],
        );
        assert_eq!(f.len(), 2, "{}", messages(&f));
    }

    #[test]
    fn unquoted_column_in_other_case() {
        let code = app(
            "CREATE OR REPLACE STREAM \"O\" (\"id\" INTEGER);\n\
             CREATE OR REPLACE PUMP \"P2\" AS INSERT INTO \"O\"\n\
             SELECT STREAM orderId, unknownThing, CURRENT_ROW_TIMESTAMP FROM \"SOURCE_SQL_STREAM_001\";",
        );
        let f = check(&code, &["OUT"]);
        assert_eq!(f.len(), 1, "{}", messages(&f));
        assert!(
            f[0].message.contains("`orderId` is not quoted")
                && f[0].message.contains("ORDERID")
                && f[0].message.contains("quote it, \"orderId\""),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn qualified_column_of_an_input_alias() {
        let f = check(&app("").replace("s.\"itemId\"", "s.\"itemQty\""), &["OUT"]);
        assert_eq!(f.len(), 1, "{}", messages(&f));
        assert_eq!(f[0].subject, Subject::Code);
        assert!(
            f[0].message.contains("`s.\"itemQty\"`")
                && f[0].message.contains("not a column of the input stream")
                && f[0].message.contains("did you mean \"itemQuantity\"?"),
            "{}",
            f[0].message
        );
        // Without AS, and qualified by the stream's own name.
        let code = "CREATE OR REPLACE STREAM \"OUT\" (\"x\" INTEGER);\n\
                    CREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"OUT\"\n\
                    SELECT STREAM s.\"itemQty\", \"SOURCE_SQL_STREAM_001\".\"itemQt\", p.\"productNam\"\n\
                    FROM \"SOURCE_SQL_STREAM_001\" s, \"products\" p;";
        let f = check(code, &["OUT"]);
        assert_eq!(f.len(), 3, "{}", messages(&f));
        assert!(
            f[2].message.contains("reference table \"products\"")
                && f[2].message.contains("did you mean \"productName\"?"),
            "{}",
            f[2].message
        );
    }

    #[test]
    fn columns_of_created_streams() {
        let code = app("CREATE OR REPLACE STREAM \"O\" (\"id\" INTEGER);\n\
             CREATE OR REPLACE PUMP \"P2\" AS INSERT INTO \"O\"\n\
             SELECT STREAM o.\"orderID\" FROM \"OUT\" AS o;");
        let f = check(&code, &["OUT"]);
        assert_eq!(f.len(), 1, "{}", messages(&f));
        assert!(
            f[0].message
                .contains("the stream \"OUT\" (created on line 1)"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn tokenizer_error() {
        let f = check(
            "CREATE OR REPLACE STREAM \"OUT\" (x INTEGER);\nSELECT 'oops FROM x;",
            &["OUT"],
        );
        assert_eq!(f.len(), 1, "{}", messages(&f));
        assert_eq!(f[0].subject, Subject::Code);
        assert!(
            f[0].message.contains("Unterminated string literal")
                && f[0].message.contains("line 2, column 8"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn unbalanced_parenthesis() {
        let f = check(
            &app("SELECT STREAM (\"orderId\" FROM \"SOURCE_SQL_STREAM_001\";"),
            &["OUT"],
        );
        assert_eq!(f.len(), 1, "{}", messages(&f));
        assert!(
            f[0].message
                .contains("unbalanced parenthesis at line 5, column 15"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn typical_kda_sql_has_no_findings() {
        let code = r#"
            -- Aggregates, windows, casts: nothing here is a problem.
            CREATE OR REPLACE STREAM "OUT" ("orderId" INTEGER, "total" DOUBLE, "minute_ts" TIMESTAMP);
            CREATE OR REPLACE STREAM "COUNTS" (n BIGINT, "status" VARCHAR(30), ts TIMESTAMP);
            /* a pump
               over two lines */
            CREATE OR REPLACE PUMP "OUT_PUMP" AS INSERT INTO "OUT"
                SELECT STREAM "orderId",
                       SUM(CAST("orderAmount" AS DOUBLE)) OVER W1 AS "total",
                       FLOOR("SOURCE_SQL_STREAM_001".ROWTIME TO MINUTE) "minute_ts"
                FROM "SOURCE_SQL_STREAM_001"
                WHERE "recordType" = 'order' AND "operation" IN ('insert', 'update')
                WINDOW W1 AS (PARTITION BY "orderId" RANGE INTERVAL '30' MINUTE PRECEDING);
            CREATE OR REPLACE PUMP "COUNT_PUMP" AS INSERT INTO "COUNTS"
                SELECT STREAM COUNT(*) AS n, "orderStatus" AS "status",
                       STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND) AS ts
                FROM "SOURCE_SQL_STREAM_001"
                GROUP BY "orderStatus", STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND);
            CREATE OR REPLACE PUMP "NESTED_PUMP" AS INSERT INTO "COUNTS"
                SELECT STREAM t.n, t."s", CURRENT_ROW_TIMESTAMP
                FROM (SELECT STREAM 1 AS n, CAST("orderStatus" AS VARCHAR(10)) AS "s"
                      FROM "SOURCE_SQL_STREAM_001") AS t;
            CREATE OR REPLACE PUMP "JOIN_PUMP" AS INSERT INTO "OUT"
                SELECT STREAM i."orderId", p."productPrice" * i."itemQuantity", i.ROWTIME
                FROM "SOURCE_SQL_STREAM_001" OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS i
                LEFT OUTER JOIN "products" AS p ON i."itemId" = p."productId"
                WHERE TRIM(BOTH ' ' FROM i."itemStatus") <> '' AND i.ROWTIME IS NOT NULL;
        "#;
        let f = check(code, &["OUT", "COUNTS"]);
        assert!(f.is_empty(), "{}", messages(&f));
    }

    #[test]
    fn double_quoted_text_gets_a_single_quote_hint() {
        let code = app(
            "CREATE OR REPLACE STREAM \"O\" (\"id\" INTEGER);\n\
             CREATE OR REPLACE PUMP \"P2\" AS INSERT INTO \"O\"\n\
             SELECT STREAM \"orderId\" FROM \"SOURCE_SQL_STREAM_001\" WHERE \"recordType\" = \"order\";",
        );
        let f = check(&code, &["OUT"]);
        assert_eq!(f.len(), 1, "{}", messages(&f));
        assert!(
            f[0].message.contains("use single quotes: 'order'"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn documented_forms_have_no_findings() {
        // Window named in a WINDOW clause, used with OVER as the join side's name; `//`
        // comments and DESCRIPTION as in the SQL reference's examples.
        let code = r#"
            CREATE OR REPLACE STREAM "OUT" ("orderId" INTEGER, "n" INTEGER)
                DESCRIPTION 'the output';
            CREATE OR REPLACE PUMP "200-OutPump" AS INSERT INTO "OUT" ("orderId", "n")
                // note that this list matches that of the query: orderId, itemId
                SELECT STREAM o."orderId", t."itemQuantity"
                // note: itemQuantity
                FROM "SOURCE_SQL_STREAM_001" AS o
                JOIN "SOURCE_SQL_STREAM_001" OVER t ON o."orderId" = t."orderId"
                JOIN "products" ON "products"."productId" = o."itemId"
                WINDOW t AS (RANGE INTERVAL '1' MINUTE PRECEDING);
            CREATE OR REPLACE PUMP "P2" AS INSERT INTO "OUT"
                SELECT STREAM "orderId", 1 // itemId
                FROM "SOURCE_SQL_STREAM_001";
        "#;
        let f = check(code, &["OUT"]);
        assert!(f.is_empty(), "{}", messages(&f));
    }

    #[test]
    fn check_code_never_panics_on_odd_input() {
        for code in [
            "",
            ";;;",
            "SELECT",
            "SELECT STREAM FROM",
            "SELECT STREAM a. FROM \"SOURCE_SQL_STREAM_001\" AS",
            "SELECT STREAM x FROM \"SOURCE_SQL_STREAM_001\" AS s JOIN",
            ")(",
            "CREATE OR REPLACE STREAM",
            "CREATE OR REPLACE STREAM \"X\" (",
            "SELECT STREAM s. \"a\" . FROM (SELECT) AS , ON",
            "FROM FROM FROM \"SOURCE_SQL_STREAM_001\" . . .",
            "\"unterminated",
            "SELECT STREAM \"x\" FROM \"SOURCE_SQL_STREAM_001\" UNION ALL SELECT STREAM \"y\" FROM \"products\"",
        ] {
            let _ = check(code, &["OUT"]);
        }
    }
}
