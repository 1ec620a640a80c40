//! The pipeline on a laptop, against the local emulator (which stores Kinesis records but never
//! runs functions or Firehose deliveries):
//!
//! - [`load`]: a CDC load generator — DMS records (facts.md: envelope, metadata, partition key)
//!   put on the CDC stream, from the sample's SQL file or synthetic orders at a target rate;
//! - [`runner`]: Lambda's Kinesis event source mapping, as the pipeline configured it, driving
//!   the real function binary through the Lambda Runtime API;
//! - [`supervisor`]: every mapping of a function as Lambda runs them while an apply replaces
//!   them, each with the version of the function it invokes;
//! - [`lake`]: the data-lake fork Firehose would do, into the lake bucket;
//! - [`metrics`]: the function's metrics, as Lambda and CloudWatch Logs would publish them;
//! - [`progress`]: a long run's progress on stderr.

pub mod lake;
pub mod load;
pub mod metrics;
pub mod progress;
pub mod runner;
pub mod supervisor;
