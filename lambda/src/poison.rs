//! Records that can never be written, whatever the number of retries: the payload itself is at
//! fault. They are kept apart from write failures (which a retry may cure) so that each kind gets
//! its own handling; today both are reported in the partial batch response, and a dead-letter
//! destination for poison records plugs in here later.

use thiserror::Error;

use crate::plan::SequenceNumber;

/// A Kinesis record that cannot be turned into a DynamoDB item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Poison {
    /// The record's position in the batch, to find it (and its payload) again.
    pub index: usize,
    /// The record's Kinesis sequence number.
    pub sequence_number: SequenceNumber,
    /// Why the record cannot be processed.
    pub reason: PoisonReason,
}

/// Why a record cannot be processed. The messages never quote the payload: rows may hold
/// personal data, and logs are read more widely than the table.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PoisonReason {
    /// The payload is not UTF-8 JSON (or has trailing bytes after the value).
    #[error("payload is not valid JSON: {0}")]
    NotJson(String),
    /// The payload is JSON, but a row must be an object.
    #[error("payload is a JSON {found}, not an object")]
    NotAnObject {
        /// The JSON type found instead.
        found: &'static str,
    },
    /// A key attribute is absent (or null).
    #[error("key attribute `{name}` is missing")]
    KeyMissing {
        /// The key attribute's name.
        name: String,
    },
    /// A key attribute has a type the table's key cannot hold.
    #[error("key attribute `{name}` must be {expected}, but is a JSON {found}")]
    KeyWrongType {
        /// The key attribute's name.
        name: String,
        /// What the key schema requires.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A string key attribute is empty or longer than DynamoDB allows.
    #[error("key attribute `{name}` is {len} bytes long; DynamoDB accepts 1 to {max}")]
    KeyLength {
        /// The key attribute's name.
        name: String,
        /// Its length in UTF-8 bytes.
        len: usize,
        /// The limit for this kind of key.
        max: usize,
    },
    /// A number has more than 38 significant digits or lies outside 1E-130 ..= 9.99E+125.
    #[error("attribute `{attribute}` holds a number DynamoDB cannot store (over 38 significant digits or outside 1E-130..1E+126)")]
    NumberOutOfRange {
        /// The top-level attribute containing the number.
        attribute: String,
    },
    /// Maps and lists nest deeper than DynamoDB's 32 levels.
    #[error("attribute `{attribute}` nests deeper than DynamoDB's {max} levels")]
    TooDeep {
        /// The top-level attribute containing the nesting.
        attribute: String,
        /// DynamoDB's limit.
        max: usize,
    },
    /// The item would exceed DynamoDB's 400 KB item size limit.
    #[error("item is about {size} bytes, over DynamoDB's {max}-byte item limit")]
    ItemTooLarge {
        /// The item's size as DynamoDB counts it (estimated).
        size: usize,
        /// DynamoDB's limit.
        max: usize,
    },
}

impl PoisonReason {
    /// A stable, machine-friendly name for the reason: a log field now, a metric dimension and
    /// a dead-letter attribute later.
    pub fn kind(&self) -> &'static str {
        match self {
            PoisonReason::NotJson(_) => "not_json",
            PoisonReason::NotAnObject { .. } => "not_an_object",
            PoisonReason::KeyMissing { .. } => "key_missing",
            PoisonReason::KeyWrongType { .. } => "key_wrong_type",
            PoisonReason::KeyLength { .. } => "key_length",
            PoisonReason::NumberOutOfRange { .. } => "number_out_of_range",
            PoisonReason::TooDeep { .. } => "too_deep",
            PoisonReason::ItemTooLarge { .. } => "item_too_large",
        }
    }
}
