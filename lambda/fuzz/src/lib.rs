//! Invariants of the record decoder (`unifiedetl_lambda::decode::decode`), shared by the fuzz
//! targets. Every check panics on violation, which libFuzzer reports as a crash.
//!
//! For each payload and each kind of key schema the table may have:
//!
//! 1. `decode` returns (never panics, never loops);
//! 2. it is deterministic: decoding again gives the same row, or exactly the same poison reason
//!    (the first fault in document order);
//! 3. every `N` in a decoded item (at any depth) is a number DynamoDB accepts: JSON number
//!    syntax, at most 38 significant digits, magnitude zero or within 1E-130 ..= 9.99…E+125 —
//!    checked by an oracle written here, independently of `Decimal`;
//! 4. the decoder only produces `S`, `N`, `BOOL`, `NULL`, `M` and `L`, and its key is the key
//!    `key_of` extracts from the item, of the schema's type;
//! 5. round trip: the item written back as JSON (numbers with their exact text) decodes to the
//!    same row;
//! 6. agreement with serde_json: a payload `serde_json::Value` parses is never `not_json`, a
//!    non-object is `not_an_object`, and a decoded item has exactly the object's attribute names,
//!    types, strings, booleans and (as far as an f64 holds them) numbers.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use unifiedetl_lambda::decode::{decode, key_of, KeyAttribute, KeySchema, KeyType, KeyValue, Row};
use unifiedetl_lambda::poison::PoisonReason;

/// The key schemas the sink can be configured with: the sample's `orderId:N` + `itemId:N`, a
/// string partition key alone, and an untyped partition key (named in the environment without a
/// type).
pub fn schemas() -> [KeySchema; 3] {
    let attribute = |name: &str, key_type| KeyAttribute {
        name: name.to_string(),
        key_type,
    };
    [
        KeySchema {
            partition: attribute("orderId", KeyType::N),
            sort: Some(attribute("itemId", KeyType::N)),
        },
        KeySchema {
            partition: attribute("id", KeyType::S),
            sort: None,
        },
        KeySchema {
            partition: attribute("orderId", KeyType::StringOrNumber),
            sort: None,
        },
    ]
}

/// Runs every invariant on one payload, for every schema.
pub fn check(payload: &[u8]) {
    let reference: Option<serde_json::Value> = serde_json::from_slice(payload).ok();
    for keys in schemas() {
        check_with(payload, &keys, reference.as_ref());
    }
}

fn check_with(payload: &[u8], keys: &KeySchema, reference: Option<&serde_json::Value>) {
    let first = decode(payload, keys);
    let second = decode(payload, keys);
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "decoding twice gave two rows"),
        (Err(a), Err(b)) => assert_eq!(a, b, "decoding twice gave two reasons"),
        _ => panic!("decoding twice gave {first:?} and then {second:?}"),
    }

    if let (Some(value), Err(reason)) = (reference, &first) {
        if value.is_object() {
            // A nested number serde_json cannot hold as an f64 makes `reference` None, so a
            // valid object never has a reason to be `not_json` here.
            assert!(
                !matches!(
                    reason,
                    PoisonReason::NotJson(_) | PoisonReason::NotAnObject { .. }
                ),
                "serde_json reads a JSON object, but decode says {reason:?}"
            );
        } else {
            assert_eq!(reason.kind(), "not_an_object", "{reason:?}");
        }
    }

    let Ok(row) = first else { return };
    check_row(&row, keys);
    // serde_json::Value refuses numbers beyond f64 (1e400) even where the decoder may rightly
    // accept the payload (an earlier duplicate attribute name, overwritten): compare when it can.
    if let Some(value) = reference {
        check_against_reference(&row.item, value);
    }

    // Round trip through JSON text.
    let text = to_json(&row.item);
    let again = decode(text.as_bytes(), keys)
        .unwrap_or_else(|reason| panic!("re-decoding {text} failed: {reason:?}"));
    assert_eq!(again, row, "re-decoding {text} changed the row");
}

/// Invariants 3 and 4 for one decoded row.
pub fn check_row(row: &Row, keys: &KeySchema) {
    for (name, value) in &row.item {
        check_value(value, name, 0);
    }
    let key = key_of(&row.item, keys).expect("the decoded item has a valid key");
    assert_eq!(key, row.key, "row key differs from key_of(item)");
    check_key_type(
        &row.key.partition,
        &row.item[&keys.partition.name],
        keys.partition.key_type,
    );
    if let Some(sort) = &keys.sort {
        let value = row.key.sort.as_ref().expect("sort key value");
        check_key_type(value, &row.item[&sort.name], sort.key_type);
    } else {
        assert!(row.key.sort.is_none());
    }
}

fn check_key_type(key: &KeyValue, attribute: &AttributeValue, key_type: KeyType) {
    match (key, attribute, key_type) {
        (KeyValue::S(text), AttributeValue::S(item), KeyType::S | KeyType::StringOrNumber) => {
            assert_eq!(text, item);
            assert!(
                !text.is_empty() && text.len() <= 2048,
                "string key of {} bytes",
                text.len()
            );
        }
        (KeyValue::N(canonical), AttributeValue::N(item), KeyType::N | KeyType::StringOrNumber) => {
            assert!(dynamodb_number(item), "number key {item:?}");
            assert!(!canonical.is_empty());
        }
        other => panic!("key of the wrong type: {other:?}"),
    }
}

fn check_value(value: &AttributeValue, attribute: &str, depth: usize) {
    assert!(depth <= 32, "`{attribute}` nests {depth} levels deep");
    match value {
        AttributeValue::N(text) => assert!(
            dynamodb_number(text),
            "`{attribute}` holds N {text:?}, which DynamoDB refuses"
        ),
        AttributeValue::S(_) | AttributeValue::Bool(_) => {}
        AttributeValue::Null(null) => assert!(*null, "NULL must be true"),
        AttributeValue::M(map) => {
            for value in map.values() {
                check_value(value, attribute, depth + 1);
            }
        }
        AttributeValue::L(list) => {
            for value in list {
                check_value(value, attribute, depth + 1);
            }
        }
        other => panic!("`{attribute}`: the decoder produced {other:?}"),
    }
}

/// The oracle for DynamoDB's `N`: JSON number syntax, at most 38 significant digits, and zero or
/// a magnitude within 1E-130 ..= 9.99…E+125 (with ≤ 38 digits, that is: exponent in scientific
/// notation between -130 and 125).
pub fn dynamodb_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut at = 0;
    let digits_from = |mut at: usize| {
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        at
    };
    if bytes.first() == Some(&b'-') {
        at = 1;
    }
    let int_start = at;
    at = digits_from(at);
    let int = &text[int_start..at];
    if int.is_empty() || (int.len() > 1 && int.starts_with('0')) {
        return false;
    }
    let mut frac = "";
    if bytes.get(at) == Some(&b'.') {
        let start = at + 1;
        at = digits_from(start);
        frac = &text[start..at];
        if frac.is_empty() {
            return false;
        }
    }
    let mut exponent: i128 = 0;
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        let negative = match bytes.get(at) {
            Some(b'-') => {
                at += 1;
                true
            }
            Some(b'+') => {
                at += 1;
                false
            }
            _ => false,
        };
        let start = at;
        at = digits_from(start);
        let digits = text[start..at].trim_start_matches('0');
        if at == start {
            return false;
        }
        // Anything longer than 30 digits is astronomically out of range.
        let magnitude: i128 = if digits.len() > 30 {
            10i128.pow(30)
        } else {
            digits.parse().unwrap_or(0)
        };
        exponent = if negative { -magnitude } else { magnitude };
    }
    if at != bytes.len() {
        return false;
    }
    // Significant digits of int.frac, and the position of the first one.
    let all: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let Some(first) = all.iter().position(|&d| d != b'0') else {
        return true; // zero
    };
    let last = all.iter().rposition(|&d| d != b'0').unwrap();
    let significant = last - first + 1;
    // d.ddd × 10^scientific
    let scientific = int.len() as i128 - first as i128 - 1 + exponent;
    significant <= 38 && (-130..=125).contains(&scientific)
}

/// Invariant 6: the decoded item against serde_json's reading of the same payload.
fn check_against_reference(item: &HashMap<String, AttributeValue>, value: &serde_json::Value) {
    let object = value.as_object().expect("decode accepted a non-object");
    assert_eq!(
        object.len(),
        item.len(),
        "attribute count differs from serde_json"
    );
    for (name, value) in object {
        let attribute = item
            .get(name)
            .unwrap_or_else(|| panic!("serde_json has `{name}`, the item has not"));
        same_value(attribute, value, name);
    }
}

fn same_value(attribute: &AttributeValue, value: &serde_json::Value, name: &str) {
    use serde_json::Value;
    match (attribute, value) {
        (AttributeValue::S(a), Value::String(b)) => assert_eq!(a, b, "`{name}`"),
        (AttributeValue::Bool(a), Value::Bool(b)) => assert_eq!(a, b, "`{name}`"),
        (AttributeValue::Null(_), Value::Null) => {}
        (AttributeValue::N(text), Value::Number(number)) => {
            // serde_json holds an f64 (or integer); compare what it can hold.
            if let (Some(ours), Some(theirs)) = (text.parse::<f64>().ok(), number.as_f64()) {
                let scale = ours.abs().max(theirs.abs()).max(f64::MIN_POSITIVE);
                assert!(
                    (ours - theirs).abs() / scale <= 1e-12,
                    "`{name}`: N {text} vs serde_json {number}"
                );
            }
        }
        (AttributeValue::L(list), Value::Array(array)) => {
            assert_eq!(list.len(), array.len(), "`{name}`: list length");
            for (a, b) in list.iter().zip(array) {
                same_value(a, b, name);
            }
        }
        (AttributeValue::M(map), Value::Object(object)) => {
            assert_eq!(map.len(), object.len(), "`{name}`: map size");
            for (key, b) in object {
                let a = map
                    .get(key)
                    .unwrap_or_else(|| panic!("`{name}`: map lacks `{key}`"));
                same_value(a, b, name);
            }
        }
        (a, b) => panic!("`{name}`: {a:?} is not what serde_json read ({b})"),
    }
}

/// Writes an item back as a JSON object, numbers with their exact text.
pub fn to_json(item: &HashMap<String, AttributeValue>) -> String {
    let mut out = String::new();
    write_map(item, &mut out);
    out
}

fn write_map(map: &HashMap<String, AttributeValue>, out: &mut String) {
    out.push('{');
    for (i, (name, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(name).unwrap());
        out.push(':');
        write_value(value, out);
    }
    out.push('}');
}

fn write_value(value: &AttributeValue, out: &mut String) {
    match value {
        AttributeValue::N(text) => out.push_str(text),
        AttributeValue::S(text) => out.push_str(&serde_json::to_string(text).unwrap()),
        AttributeValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        AttributeValue::Null(_) => out.push_str("null"),
        AttributeValue::M(map) => write_map(map, out),
        AttributeValue::L(list) => {
            out.push('[');
            for (i, value) in list.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(value, out);
            }
            out.push(']');
        }
        other => panic!("unexpected attribute value {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_oracle() {
        for good in [
            "0",
            "-0",
            "0.00",
            "300.10",
            "1e-130",
            "9.99e125",
            "1E+125",
            "-1.5e-7",
            "12345678901234567890123456789012345678",
            "1000000000000000000000000000000000000000000",
            "0.000001e-124",
            "1e0000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert!(dynamodb_number(good), "{good}");
        }
        for bad in [
            "",
            "-",
            "01",
            "1.",
            ".5",
            "1e",
            "1e+-2",
            "+1",
            "1e126",
            "1e-131",
            "10e125",
            "123456789012345678901234567890123456789",
            " 1",
            "1 ",
            "NaN",
            "0x10",
            "1e99999999999999999999999999999999999999",
        ] {
            assert!(!dynamodb_number(bad), "{bad}");
        }
    }

    #[test]
    fn seeds_hold_the_invariants() {
        let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/decode_record");
        for entry in std::fs::read_dir(seeds).unwrap() {
            check(&std::fs::read(entry.unwrap().path()).unwrap());
        }
    }
}
