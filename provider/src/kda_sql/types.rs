//! KDA SQL types: MySQL column types translated and widened to them, and [`check_sql_type`],
//! which checks one `RecordColumn`'s `SqlType` against the KDA SQL reference ("Data Types").

use std::fmt;

use sqlparser::ast::{BinaryLength, CharacterLength, DataType, EnumMember, ExactNumberInfo};
use sqlparser::dialect::GenericDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// CHAR(n) and VARCHAR(n): "n must be greater than 0 and less than 65535" (KDA SQL reference,
/// Data Types). The reference states no limit for BINARY/VARBINARY; the same one is applied.
pub(super) const MAX_LENGTH: u64 = 65_534;

/// DECIMAL: "a maximum of 18 digits for precision and scale" (KDA SQL reference, Numeric Types
/// and Precision); scale must not exceed precision.
const MAX_DECIMAL_PRECISION: u64 = 18;

/// A Kinesis Data Analytics column type, as the schema derivations produce it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KdaType {
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
    pub(super) fn widen(self, other: KdaType) -> KdaType {
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
pub(super) fn kda_type_of_data_type(dt: &DataType) -> KdaType {
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
