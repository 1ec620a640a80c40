//! Plan-time checks of a Kinesis Data Analytics (API v1, SQL application) configuration, in the
//! order a configuration is checked:
//!
//! 1. [`columns`]: the input schema derived from the source's MySQL DDL, a reference table's
//!    schema inferred from its S3 object;
//! 2. [`types`] and [`mapping`]: one `RecordColumn`'s `SqlType` and JSONPath `Mapping`;
//! 3. [`code`]: the application code against its input, reference tables and outputs.
//!
//! Identifiers follow the Kinesis Data Analytics SQL reference ("Identifiers"): an unquoted
//! identifier is uppercased before lookup, a "double-quoted" one keeps its exact case. Everything
//! is compared after that normalisation.

mod code;
mod columns;
mod mapping;
#[cfg(test)]
mod tests;
mod types;

pub use code::{check_code, CodeContext, Subject};
pub use columns::{columns_from_ddl, columns_from_json, Column};
pub use mapping::check_mapping;
pub use types::check_sql_type;
