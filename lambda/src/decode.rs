//! Payload → DynamoDB item: the pure mapping from one Kinesis record's bytes (a JSON object, one
//! row) to a DynamoDB item and its key.
//!
//! Numbers keep their exact source text: `300.10` is written as `N "300.10"` and a 30-digit
//! integer stays exact. serde_json's `arbitrary_precision` feature would do that too, but it
//! changes `serde_json::Value` for every crate in the workspace; instead every value is parsed
//! as a [`RawValue`] and dispatched on its first byte, one nesting level at a time.
//!
//! Everything DynamoDB would reject for one item (and thereby fail all 25 writes of its
//! BatchWriteItem call) is checked here instead and reported as a [`PoisonReason`]: missing or
//! mistyped keys, numbers outside DynamoDB's range, nesting deeper than 32 levels, and items over
//! 400 KB.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::value::RawValue;

use crate::poison::PoisonReason;

/// A DynamoDB item: attribute name → value.
pub type Item = HashMap<String, AttributeValue>;

/// DynamoDB's item size limit (400 KB, counted as DynamoDB counts it).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// DynamoDB's limit on nested maps and lists.
pub const MAX_DEPTH: usize = 32;
const MAX_PARTITION_KEY_BYTES: usize = 2048;
const MAX_SORT_KEY_BYTES: usize = 1024;
const MAX_SIGNIFICANT_DIGITS: usize = 38;
/// Decimal exponents (scientific notation, `d.ddd × 10^e`) DynamoDB can store: 1E-130 to
/// 9.99…E+125.
const EXPONENT_RANGE: std::ops::RangeInclusive<i64> = -130..=125;

/// The DynamoDB type of a key attribute (or of the version attribute, see
/// [`crate::version::VersionAttribute`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// String (`S`).
    S,
    /// Number (`N`).
    N,
    /// Not known (the key was named in the environment without a type): a JSON string or number
    /// is accepted, and DynamoDB checks the rest.
    StringOrNumber,
}

/// One key attribute of the target table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyAttribute {
    /// Attribute name.
    pub name: String,
    /// Its DynamoDB type.
    pub key_type: KeyType,
}

/// The target table's primary key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySchema {
    /// The partition (hash) key.
    pub partition: KeyAttribute,
    /// The sort (range) key, if the table has one.
    pub sort: Option<KeyAttribute>,
}

/// One key attribute's value, normalised so that two values DynamoDB treats as the same key
/// compare equal (`1`, `1.0` and `10E-1` are one number key).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyValue {
    /// A string key, verbatim.
    S(String),
    /// A number key in canonical form (see [`Decimal::canonical`]).
    N(String),
}

/// The primary key of one item.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ItemKey {
    /// Partition key value.
    pub partition: KeyValue,
    /// Sort key value, if the table has a sort key.
    pub sort: Option<KeyValue>,
}

/// One decoded row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The item's primary key.
    pub key: ItemKey,
    /// The item to put.
    pub item: Item,
}

/// Decodes one record's payload into an item and its key.
///
/// One pass over the payload: the top-level object is read entry by entry (no intermediate
/// map), each value is taken as a borrowed [`RawValue`] and mapped from its first byte; strings
/// without escapes are copied without a second parse. A name given twice keeps its last value,
/// as in serde_json, and the first fault in document order is the one reported, so the reason
/// is the same every time the record is decoded.
pub fn decode(payload: &[u8], keys: &KeySchema) -> Result<Row, PoisonReason> {
    let text = std::str::from_utf8(payload)
        .map_err(|err| PoisonReason::NotJson(format!("not UTF-8: {err}")))?;
    let item = object_item(text)?;
    let key = key_of(&item, keys)?;
    Ok(Row { key, item })
}

/// Decodes a JSON object's text (a row nested in an envelope, such as a DMS record's `data`)
/// into an item, with the checks [`decode`] makes except the key's.
pub fn object_item(text: &str) -> Result<Item, PoisonReason> {
    if !text.trim_start_matches(JSON_WHITESPACE).starts_with('{') {
        let raw: &RawValue = parse(text)?;
        return Err(PoisonReason::NotAnObject {
            found: json_type(raw.get().trim_start_matches(JSON_WHITESPACE)),
        });
    }
    let (item, size) = object(text, 0, None)?;
    if size > MAX_ITEM_BYTES {
        return Err(PoisonReason::ItemTooLarge {
            size,
            max: MAX_ITEM_BYTES,
        });
    }
    Ok(item)
}

/// The four characters JSON allows between tokens.
const JSON_WHITESPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// Reads a JSON object (`text` is `{...}`, perhaps with whitespace around) into a map and its
/// size as DynamoDB counts it. `depth` is the number of maps and lists around the object;
/// `attribute` the top-level attribute it belongs to (`None` for the item itself, whose entries
/// are the top-level attributes).
fn object(
    text: &str,
    depth: usize,
    attribute: Option<&str>,
) -> Result<(Item, usize), PoisonReason> {
    let mut poison = None;
    let visitor = ObjectVisitor {
        depth,
        attribute,
        poison: &mut poison,
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let read = serde::Deserializer::deserialize_map(&mut deserializer, visitor)
        .and_then(|read| deserializer.end().map(|()| read));
    match (read, poison) {
        // Malformed JSON anywhere in the payload is the more basic fault, so it wins over a
        // value found unusable before the parser got there.
        (Err(err), _) => Err(PoisonReason::NotJson(err.to_string())),
        (Ok(_), Some(reason)) => Err(reason),
        (Ok(read), None) => Ok(read),
    }
}

/// Visits one object's entries; the first unusable value is kept in `poison`, and the rest of
/// the object is only checked for syntax.
struct ObjectVisitor<'p> {
    depth: usize,
    attribute: Option<&'p str>,
    poison: &'p mut Option<PoisonReason>,
}

impl<'de> serde::de::Visitor<'de> for ObjectVisitor<'_> {
    type Value = (Item, usize);

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut entries: A,
    ) -> Result<Self::Value, A::Error> {
        let top_level = self.attribute.is_none();
        // The item itself has no overhead; a nested map has 3 bytes, plus 1 per element.
        let (mut size, per_entry) = if top_level { (0, 0) } else { (3, 1) };
        let mut map = Item::with_capacity(if top_level { 16 } else { 4 });
        while let Some(name) = entries.next_key::<String>()? {
            if self.poison.is_some() {
                entries.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            let raw: &'de RawValue = entries.next_value()?;
            match attribute_value(raw.get(), self.depth, self.attribute.unwrap_or(&name)) {
                Ok((value, value_size)) => {
                    let entry_size = name.len() + per_entry;
                    size += entry_size + value_size;
                    if let Some(replaced) = map.insert(name, value) {
                        // A duplicate name: the last value wins, so the first one's size goes.
                        size -= entry_size + attribute_size(&replaced);
                    }
                }
                Err(reason) => *self.poison = Some(reason),
            }
        }
        Ok((map, size))
    }
}

/// Extracts and checks an item's key. Also used to match the items DynamoDB hands back as
/// unprocessed to the records they came from.
pub fn key_of(item: &Item, keys: &KeySchema) -> Result<ItemKey, PoisonReason> {
    let partition = key_value(item, &keys.partition, MAX_PARTITION_KEY_BYTES)?;
    let sort = keys
        .sort
        .as_ref()
        .map(|sort| key_value(item, sort, MAX_SORT_KEY_BYTES))
        .transpose()?;
    Ok(ItemKey { partition, sort })
}

fn key_value(item: &Item, key: &KeyAttribute, max_len: usize) -> Result<KeyValue, PoisonReason> {
    let value = item
        .get(&key.name)
        .ok_or_else(|| PoisonReason::KeyMissing {
            name: key.name.clone(),
        })?;
    let wrong_type = |expected| PoisonReason::KeyWrongType {
        name: key.name.clone(),
        expected,
        found: attribute_type(value),
    };
    match (value, key.key_type) {
        (AttributeValue::S(text), KeyType::S | KeyType::StringOrNumber) => {
            if text.is_empty() || text.len() > max_len {
                return Err(PoisonReason::KeyLength {
                    name: key.name.clone(),
                    len: text.len(),
                    max: max_len,
                });
            }
            Ok(KeyValue::S(text.clone()))
        }
        (AttributeValue::N(text), KeyType::N | KeyType::StringOrNumber) => Decimal::parse(text)
            .map(|number| KeyValue::N(number.canonical()))
            .ok_or_else(|| wrong_type("a number")),
        (_, KeyType::S) => Err(wrong_type("a string")),
        // A number sent as a JSON string ("10000001") is refused rather than converted: the
        // producer's schema is wrong, and guessing would hide it.
        (_, KeyType::N) => Err(wrong_type("a number")),
        (_, KeyType::StringOrNumber) => Err(wrong_type("a string or a number")),
    }
}

/// Maps one JSON value (raw text, already checked by serde_json) to an attribute value and its
/// size as DynamoDB counts it. `depth` is the number of maps and lists around the value;
/// `attribute` is the top-level attribute it belongs to, for error messages.
fn attribute_value(
    raw: &str,
    depth: usize,
    attribute: &str,
) -> Result<(AttributeValue, usize), PoisonReason> {
    let nested = || {
        if depth + 1 > MAX_DEPTH {
            Err(PoisonReason::TooDeep {
                attribute: attribute.to_string(),
                max: MAX_DEPTH,
            })
        } else {
            Ok(depth + 1)
        }
    };
    // serde_json already validated the text, so the first byte tells the type.
    match raw.as_bytes().first() {
        Some(b'{') => {
            let (map, size) = object(raw, nested()?, Some(attribute))?;
            Ok((AttributeValue::M(map), size))
        }
        Some(b'[') => {
            let depth = nested()?;
            let elements: Vec<&RawValue> = parse(raw)?;
            let mut list = Vec::with_capacity(elements.len());
            // Documented overhead of a list: 3 bytes, plus 1 byte per element.
            let mut size = 3;
            for raw in elements {
                let (value, value_size) = attribute_value(raw.get(), depth, attribute)?;
                size += value_size + 1;
                list.push(value);
            }
            Ok((AttributeValue::L(list), size))
        }
        Some(b'"') => {
            // Without a backslash, the text between the quotes is the string itself (serde_json
            // has refused control characters already).
            let text = match raw.get(1..raw.len() - 1) {
                Some(inner) if !inner.contains('\\') => inner.to_string(),
                _ => parse::<String>(raw)?,
            };
            let size = text.len();
            Ok((AttributeValue::S(text), size))
        }
        Some(b't') => Ok((AttributeValue::Bool(true), 1)),
        Some(b'f') => Ok((AttributeValue::Bool(false), 1)),
        Some(b'n') => Ok((AttributeValue::Null(true), 1)),
        _ => {
            let digits = NumberParts::split(raw)
                .filter(NumberParts::fits_dynamodb)
                .ok_or_else(|| PoisonReason::NumberOutOfRange {
                    attribute: attribute.to_string(),
                })?
                .significant_digits();
            Ok((AttributeValue::N(raw.to_string()), number_size(digits)))
        }
    }
}

/// Documented size of a number: 1 byte per two significant digits, plus 1.
fn number_size(significant_digits: usize) -> usize {
    significant_digits.div_ceil(2) + 1
}

/// The size DynamoDB counts for a value made by [`attribute_value`] (for a duplicate name, whose
/// replaced value no longer counts).
fn attribute_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) => text.len(),
        AttributeValue::N(text) => NumberParts::split(text)
            .map(|parts| number_size(parts.significant_digits()))
            .unwrap_or(0),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(name, value)| name.len() + attribute_size(value) + 1)
                .sum::<usize>()
        }
        AttributeValue::L(list) => 3 + list.iter().map(|v| attribute_size(v) + 1).sum::<usize>(),
        _ => 1,
    }
}

fn parse<'a, T: serde::Deserialize<'a>>(raw: &'a str) -> Result<T, PoisonReason> {
    serde_json::from_str(raw).map_err(|err| PoisonReason::NotJson(err.to_string()))
}

/// The JSON type of a raw value, for error messages.
fn json_type(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

/// The JSON type an attribute value came from, for error messages.
fn attribute_type(value: &AttributeValue) -> &'static str {
    match value {
        AttributeValue::S(_) => "string",
        AttributeValue::N(_) => "number",
        AttributeValue::Bool(_) => "boolean",
        AttributeValue::Null(_) => "null",
        AttributeValue::M(_) => "object",
        AttributeValue::L(_) => "array",
        _ => "other",
    }
}

/// A decimal number taken apart: `±0.d₁d₂… × 10^(exponent + 1)`, i.e. `d₁.d₂… × 10^exponent`.
/// Ordered by value, as DynamoDB orders numbers; equal values are equal (`1.0` = `1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decimal {
    negative: bool,
    /// Significant digits without leading or trailing zeros; empty for zero.
    digits: String,
    /// The exponent in scientific notation (`d₁.d₂… × 10^exponent`).
    exponent: i64,
}

/// A JSON number's parts, borrowed from its text: `-?int(.frac)?(e exponent)?`.
struct NumberParts<'a> {
    negative: bool,
    int: &'a str,
    frac: &'a str,
    exponent: i64,
}

impl<'a> NumberParts<'a> {
    /// Splits JSON number syntax; `None` for anything else.
    fn split(text: &'a str) -> Option<Self> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !all_digits(int) || !all_digits(frac) {
            return None;
        }
        if mantissa.contains('.') && frac.is_empty() {
            return None;
        }
        let exponent: i64 = match exponent {
            None => 0,
            Some(exp) => {
                let unsigned = exp.trim_start_matches(['+', '-']);
                if unsigned.is_empty() || !all_digits(unsigned) || exp.len() - unsigned.len() > 1 {
                    return None;
                }
                // An exponent too long for i64 is far outside DynamoDB's range either way.
                let magnitude: i64 = unsigned.parse().unwrap_or(i64::MAX / 4);
                if exp.starts_with('-') {
                    -magnitude
                } else {
                    magnitude
                }
            }
        };
        Some(NumberParts {
            negative,
            int,
            frac,
            exponent,
        })
    }

    /// The mantissa's digits, integer part then fraction.
    fn mantissa_digits(&self) -> impl DoubleEndedIterator<Item = u8> + 'a {
        self.int.bytes().chain(self.frac.bytes())
    }

    /// Leading zeros of the mantissa (all of its digits for zero).
    fn leading_zeros(&self) -> usize {
        self.mantissa_digits().take_while(|&b| b == b'0').count()
    }

    /// Significant digits: without leading or trailing zeros; 0 for zero.
    fn significant_digits(&self) -> usize {
        let total = self.int.len() + self.frac.len();
        let leading = self.leading_zeros();
        if leading == total {
            return 0;
        }
        let trailing = self
            .mantissa_digits()
            .rev()
            .take_while(|&b| b == b'0')
            .count();
        total - leading - trailing
    }

    /// The exponent in scientific notation (`d₁.d₂… × 10^e`); meaningless for zero.
    fn scientific_exponent(&self) -> i64 {
        (self.int.len() as i64 - self.leading_zeros() as i64 - 1).saturating_add(self.exponent)
    }

    /// Whether DynamoDB can store the number: up to 38 significant digits, magnitude zero or
    /// between 1E-130 and 9.99…E+125.
    fn fits_dynamodb(&self) -> bool {
        let digits = self.significant_digits();
        digits == 0
            || (digits <= MAX_SIGNIFICANT_DIGITS
                && EXPONENT_RANGE.contains(&self.scientific_exponent()))
    }
}

impl Decimal {
    /// Parses JSON number syntax (`-?int(.frac)?([eE][+-]?exp)?`); `None` for anything else.
    pub fn parse(text: &str) -> Option<Decimal> {
        let parts = NumberParts::split(text)?;
        let count = parts.significant_digits();
        if count == 0 {
            return Some(Decimal {
                negative: false,
                digits: String::new(),
                exponent: 0,
            });
        }
        let digits = parts
            .mantissa_digits()
            .skip(parts.leading_zeros())
            .take(count)
            .map(char::from)
            .collect();
        Some(Decimal {
            negative: parts.negative,
            digits,
            exponent: parts.scientific_exponent(),
        })
    }

    /// Whether DynamoDB can store the number: up to 38 significant digits, magnitude zero or
    /// between 1E-130 and 9.99…E+125.
    pub fn fits_dynamodb(&self) -> bool {
        self.digits.is_empty()
            || (self.digits.len() <= MAX_SIGNIFICANT_DIGITS
                && EXPONENT_RANGE.contains(&self.exponent))
    }

    /// A canonical spelling, equal for equal values: `-15E-1` for `-1.50`, `0` for zero.
    pub fn canonical(&self) -> String {
        if self.digits.is_empty() {
            return "0".to_string();
        }
        let sign = if self.negative { "-" } else { "" };
        format!("{sign}{}E{}", self.digits, self.exponent)
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Zero is normalised to no digits, not negative, exponent 0.
        let sign = |d: &Decimal| match (d.digits.is_empty(), d.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        };
        sign(self).cmp(&sign(other)).then_with(|| {
            // Same sign: a larger exponent is a larger magnitude; at equal exponents the digit
            // strings (no leading or trailing zeros) compare like the mantissas they spell.
            let magnitude = self
                .exponent
                .cmp(&other.exponent)
                .then_with(|| self.digits.cmp(&other.digits));
            if self.negative {
                magnitude.reverse()
            } else {
                magnitude
            }
        })
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(partition: (&str, KeyType), sort: Option<(&str, KeyType)>) -> KeySchema {
        let attribute = |(name, key_type): (&str, KeyType)| KeyAttribute {
            name: name.to_string(),
            key_type,
        };
        KeySchema {
            partition: attribute(partition),
            sort: sort.map(attribute),
        }
    }

    fn order_keys() -> KeySchema {
        keys(("orderId", KeyType::N), Some(("itemId", KeyType::N)))
    }

    fn n(text: &str) -> AttributeValue {
        AttributeValue::N(text.to_string())
    }

    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.to_string())
    }

    fn reason(payload: &str, keys: &KeySchema) -> PoisonReason {
        decode(payload.as_bytes(), keys).unwrap_err()
    }

    #[test]
    fn numbers_keep_their_exact_text() {
        let row = decode(
            br#"{"orderId": 10000001, "itemId": 999900001, "orderAmount": 300.10,
                "big": 123456789012345678901234567890123456, "tiny": -1.5e-7, "zero": 0.00}"#,
            &order_keys(),
        )
        .unwrap();
        assert_eq!(row.item["orderAmount"], n("300.10"));
        assert_eq!(row.item["big"], n("123456789012345678901234567890123456"));
        assert_eq!(row.item["tiny"], n("-1.5e-7"));
        assert_eq!(row.item["zero"], n("0.00"));
        assert_eq!(row.item["orderId"], n("10000001"));
    }

    #[test]
    fn every_json_type_maps_to_its_dynamodb_type() {
        let row = decode(
            br#"{ "orderId" : 1 , "itemId":2, "name": "caf\u00e9 \"quoted\"", "ok": true,
                "no": false, "gone": null, "empty": "",
                "shipTo": {"city": "Seattle", "zip": "98101", "geo": [47.60, -122.33]},
                "tags": ["a", 1, {"deep": [[]]}], "emptyMap": {}}"#,
            &order_keys(),
        )
        .unwrap();
        assert_eq!(row.item["name"], s("café \"quoted\""));
        assert_eq!(row.item["ok"], AttributeValue::Bool(true));
        assert_eq!(row.item["no"], AttributeValue::Bool(false));
        assert_eq!(row.item["gone"], AttributeValue::Null(true));
        assert_eq!(row.item["empty"], s(""));
        assert_eq!(row.item["emptyMap"], AttributeValue::M(HashMap::new()));
        assert_eq!(
            row.item["shipTo"],
            AttributeValue::M(HashMap::from([
                ("city".to_string(), s("Seattle")),
                ("zip".to_string(), s("98101")),
                (
                    "geo".to_string(),
                    AttributeValue::L(vec![n("47.60"), n("-122.33")])
                ),
            ]))
        );
        assert_eq!(
            row.item["tags"],
            AttributeValue::L(vec![
                s("a"),
                n("1"),
                AttributeValue::M(HashMap::from([(
                    "deep".to_string(),
                    AttributeValue::L(vec![AttributeValue::L(vec![])])
                )])),
            ])
        );
        assert_eq!(
            row.key,
            ItemKey {
                partition: KeyValue::N("1E0".into()),
                sort: Some(KeyValue::N("2E0".into())),
            }
        );
    }

    #[test]
    fn equal_number_keys_have_one_canonical_form() {
        let keys = keys(("id", KeyType::N), None);
        let key = |payload: &str| decode(payload.as_bytes(), &keys).unwrap().key;
        let one = key(r#"{"id": 1}"#);
        for same in ["1.0", "1.00", "10E-1", "0.1e1", "1e0"] {
            assert_eq!(key(&format!(r#"{{"id": {same}}}"#)), one, "{same}");
        }
        assert_ne!(key(r#"{"id": 10}"#), one);
        assert_ne!(key(r#"{"id": -1}"#), one);
        assert_eq!(key(r#"{"id": -0.0}"#), key(r#"{"id": 0}"#));
    }

    #[test]
    fn decimal_canonical_forms() {
        let canonical = |text: &str| Decimal::parse(text).unwrap().canonical();
        assert_eq!(canonical("300.10"), "3001E2");
        assert_eq!(canonical("0.00123"), "123E-3");
        assert_eq!(canonical("-1.50"), "-15E0");
        assert_eq!(canonical("1200"), "12E3");
        assert_eq!(canonical("0"), "0");
        for bad in ["", "-", "1.", ".5", "01x", "1e", "1e+-2", "abc"] {
            assert_eq!(Decimal::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn decimals_order_by_value() {
        let sorted = [
            "-1e10", "-12", "-1.5", "-1", "-0.001", "0", "1e-130", "0.5", "1", "1.05", "1.5", "2",
            "9.99", "10", "10.5", "1e3", "9.99e125",
        ];
        let parsed: Vec<Decimal> = sorted.iter().map(|t| Decimal::parse(t).unwrap()).collect();
        for (i, a) in parsed.iter().enumerate() {
            for (j, b) in parsed.iter().enumerate() {
                assert_eq!(a.cmp(b), i.cmp(&j), "{} vs {}", sorted[i], sorted[j]);
            }
        }
        let same = |a: &str, b: &str| Decimal::parse(a).unwrap().cmp(&Decimal::parse(b).unwrap());
        assert_eq!(same("1.50", "15e-1"), std::cmp::Ordering::Equal);
        assert_eq!(same("-0", "0.000"), std::cmp::Ordering::Equal);
    }

    #[test]
    fn untyped_keys_accept_strings_and_numbers() {
        let keys = keys(("id", KeyType::StringOrNumber), None);
        let row = decode(br#"{"id": "abc"}"#, &keys).unwrap();
        assert_eq!(row.key.partition, KeyValue::S("abc".into()));
        let row = decode(br#"{"id": 7}"#, &keys).unwrap();
        assert_eq!(row.key.partition, KeyValue::N("7E0".into()));
        assert_eq!(
            reason(r#"{"id": true}"#, &keys).kind(),
            "key_wrong_type",
            "booleans cannot be keys"
        );
    }

    #[test]
    fn payloads_that_are_not_json_objects_are_poison() {
        let keys = order_keys();
        assert_eq!(decode(b"\xff\xfe", &keys).unwrap_err().kind(), "not_json");
        assert_eq!(reason("not json", &keys).kind(), "not_json");
        assert_eq!(reason(r#"{"orderId": 1"#, &keys).kind(), "not_json");
        assert_eq!(
            reason(r#"{"orderId": 1} trailing"#, &keys).kind(),
            "not_json"
        );
        assert_eq!(reason("", &keys).kind(), "not_json");
        assert_eq!(
            reason("[1, 2]", &keys),
            PoisonReason::NotAnObject { found: "array" }
        );
        assert_eq!(
            reason(r#""text""#, &keys),
            PoisonReason::NotAnObject { found: "string" }
        );
        assert_eq!(
            reason("42", &keys),
            PoisonReason::NotAnObject { found: "number" }
        );
    }

    #[test]
    fn missing_or_mistyped_keys_are_poison() {
        let keys = order_keys();
        assert_eq!(
            reason(r#"{"itemId": 1}"#, &keys),
            PoisonReason::KeyMissing {
                name: "orderId".into()
            }
        );
        assert_eq!(
            reason(r#"{"orderId": 1}"#, &keys),
            PoisonReason::KeyMissing {
                name: "itemId".into()
            }
        );
        assert_eq!(
            reason(r#"{"orderId": "10000001", "itemId": 1}"#, &keys),
            PoisonReason::KeyWrongType {
                name: "orderId".into(),
                expected: "a number",
                found: "string"
            }
        );
        assert_eq!(
            reason(r#"{"orderId": null, "itemId": 1}"#, &keys).kind(),
            "key_wrong_type"
        );
        let string_keys = keys_s();
        assert_eq!(
            reason(r#"{"id": 5}"#, &string_keys).kind(),
            "key_wrong_type"
        );
        assert_eq!(
            reason(r#"{"id": ""}"#, &string_keys),
            PoisonReason::KeyLength {
                name: "id".into(),
                len: 0,
                max: 2048
            }
        );
        let long = "x".repeat(2049);
        assert_eq!(
            reason(&format!(r#"{{"id": "{long}"}}"#), &string_keys).kind(),
            "key_length"
        );
    }

    fn keys_s() -> KeySchema {
        keys(("id", KeyType::S), None)
    }

    #[test]
    fn numbers_dynamodb_cannot_store_are_poison() {
        let keys = keys_s();
        let too_precise = "1".repeat(39);
        for bad in [
            too_precise.as_str(),
            "1e126",
            "1e-131",
            "-5e999999999999999999999",
        ] {
            assert_eq!(
                reason(&format!(r#"{{"id": "a", "x": [{bad}]}}"#), &keys),
                PoisonReason::NumberOutOfRange {
                    attribute: "x".into()
                },
                "{bad}"
            );
        }
        let ok = "1".repeat(38);
        for fine in [
            ok.as_str(),
            "9.99e125",
            "1e-130",
            "1000000000000000000000000000000000000000000",
        ] {
            decode(format!(r#"{{"id": "a", "x": {fine}}}"#).as_bytes(), &keys)
                .unwrap_or_else(|err| panic!("{fine}: {err}"));
        }
    }

    #[test]
    fn nesting_beyond_32_levels_is_poison() {
        let keys = keys_s();
        let nest = |levels: usize| {
            format!(
                r#"{{"id": "a", "x": {}1{}}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        decode(nest(32).as_bytes(), &keys).unwrap();
        assert_eq!(
            reason(&nest(33), &keys),
            PoisonReason::TooDeep {
                attribute: "x".into(),
                max: 32
            }
        );
    }

    #[test]
    fn items_over_400_kb_are_poison() {
        let keys = keys_s();
        let fits = "x".repeat(MAX_ITEM_BYTES - 100);
        decode(format!(r#"{{"id": "a", "x": "{fits}"}}"#).as_bytes(), &keys).unwrap();
        let big = "x".repeat(MAX_ITEM_BYTES);
        assert_eq!(
            reason(&format!(r#"{{"id": "a", "x": "{big}"}}"#), &keys).kind(),
            "item_too_large"
        );
    }

    #[test]
    fn the_first_fault_in_document_order_is_the_reason_every_time() {
        let keys = keys_s();
        let deep = format!("{}1{}", "[".repeat(33), "]".repeat(33));
        let payload = format!(r#"{{"id": "a", "b": {deep}, "a": 1e999, "c": {{"d": 1e999}}}}"#);
        for _ in 0..50 {
            assert_eq!(
                reason(&payload, &keys),
                PoisonReason::TooDeep {
                    attribute: "b".into(),
                    max: 32
                }
            );
        }
        // Broken JSON after an unusable value is reported as what it is.
        assert_eq!(
            reason(r#"{"id": "a", "a": 1e999, "b": }"#, &keys).kind(),
            "not_json"
        );
    }

    #[test]
    fn a_name_given_twice_keeps_its_last_value_and_size() {
        let keys = keys_s();
        let row = decode(br#"{"id": "a", "x": "first", "x": 2.50}"#, &keys).unwrap();
        assert_eq!(row.item.len(), 2);
        assert_eq!(row.item["x"], n("2.50"));
        // The replaced value no longer counts towards the 400 KB.
        let half = "x".repeat(MAX_ITEM_BYTES / 2 + 10);
        let payload = format!(r#"{{"id": "a", "x": "{half}", "x": "{half}"}}"#);
        decode(payload.as_bytes(), &keys).unwrap();
        let nested = format!(r#"{{"id": "a", "m": {{"x": "{half}", "x": "{half}"}}}}"#);
        decode(nested.as_bytes(), &keys).unwrap();
    }

    #[test]
    fn strings_with_and_without_escapes() {
        let keys = keys_s();
        let payload = concat!(
            r#"{"id": "a", "plain": "São Paulo, café", "#,
            r#""escaped": "tab\there \"q\" \\ \u00e9 \ud83d\ude00", "slash": "a\/b"}"#
        );
        let row = decode(payload.as_bytes(), &keys).unwrap();
        assert_eq!(row.item["plain"], s("São Paulo, café"));
        assert_eq!(row.item["escaped"], s("tab\there \"q\" \\ é \u{1F600}"));
        assert_eq!(row.item["slash"], s("a/b"));
    }

    #[test]
    fn poison_messages_never_quote_the_payload() {
        let keys = order_keys();
        let secret = "alice@example.com";
        for payload in [
            format!(r#"{{"orderId": "{secret}", "itemId": 1}}"#),
            format!(r#"["{secret}"]"#),
            format!(r#"{{"itemId": 1, "mail": "{secret}"}}"#),
        ] {
            let message = reason(&payload, &keys).to_string();
            assert!(!message.contains(secret), "{message}");
        }
    }
}
