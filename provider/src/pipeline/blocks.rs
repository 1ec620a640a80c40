//! The pipeline's blocks, each owning its whole life in one module: its schema, plan-time
//! checks and defaults, desired and recorded types, apply, refresh, import, the leftovers of a
//! failed apply, and destroy — in that order in the file.
//!
//! - The core — [`streams`] (`cdc_stream`, `enriched_stream`), [`sink`], [`persist`] and
//!   [`analytics`] — depend on one another (the function's role names the sink, the mapping
//!   reads a stream): the orchestrator (`apply.rs`, `read.rs`, …) wires their steps into one
//!   graph of concurrent steps, each waiting only for what it needs.
//! - The blocks that hang off the core — `source` (DMS) and `data_lake` (Firehose) — implement
//!   [`super::block::Block`] and are listed in [`BLOCKS`], which the orchestrator walks at
//!   every step. A new block is one module here and one line in the list.
//! - [`monitoring`] watches all of them, so it goes last: its apply runs once every other
//!   block has recorded its ids (it alarms on the replication task's, say), and its destroy
//!   once the function is gone.

pub mod analytics;
mod lake;
pub mod monitoring;
pub mod persist;
pub mod sink;
mod source;
pub mod streams;

use super::block::Block;

/// Every block, in the order the docs list them.
pub const BLOCKS: &[&dyn Block] = &[&source::DmsSource, &lake::DataLake];
