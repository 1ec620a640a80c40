//! The function's integration suites, one binary: the real `bootstrap` binary through a Runtime
//! API against the emulator ([`runtime_api`]), and the analytics engine against the sample's SQL
//! in MariaDB ([`engine`]). One suite: `cargo test -p unifiedetl-lambda --test function engine::`.

mod engine;
mod runtime_api;
