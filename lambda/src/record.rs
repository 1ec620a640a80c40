//! The record types the function's modules share (decode, plan, poison, version): a leaf
//! module, so that none of them reaches back into another for a type.

use std::cmp::Ordering;
use std::fmt;

/// A Kinesis sequence number. Ordered numerically (they are decimal strings of up to 128
/// digits, so string order alone would put `9` after `10`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SequenceNumber(String);

impl SequenceNumber {
    /// Wraps a sequence number as Kinesis spells it.
    pub fn new(value: impl Into<String>) -> SequenceNumber {
        SequenceNumber(value.into())
    }

    /// The sequence number's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        // Kinesis never pads with zeros, so a longer number is a larger one.
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
