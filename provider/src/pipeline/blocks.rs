//! The blocks that hang off the pipeline's core, each in its own module implementing
//! [`super::block::Block`]; the orchestrator walks [`BLOCKS`] at every step. A new block is one
//! module here and one line in the list.

mod lake;
mod source;

use super::block::Block;

/// Every block, in the order the docs list them.
pub const BLOCKS: &[&dyn Block] = &[&source::DmsSource, &lake::DataLake];
