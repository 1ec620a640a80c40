//! The local pipeline's integration suites, one binary: the load generator ([`load`]), the event
//! source runner ([`runner`]), the whole local pipeline on the sample's data
//! ([`sample_pipeline`]) and the analytics engine turned on while records flow
//! ([`engine_switch`]). One suite: `cargo test -p unifiedetl-local --test local runner::`.

mod engine_switch;
mod load;
mod quickstart;
mod runner;
mod sample_pipeline;
