//! The test kit shared by the end-to-end tests, the function's tests and the benchmarks: a
//! private emulator per test on a free port, AWS SDK clients pointed at it, the real Terraform
//! CLI with the provider installed into a throw-away filesystem mirror ([`terraform`]), the
//! Lambda Runtime API and the function process ([`runtime_api`], [`function`]), MariaDB
//! ([`mariadb`]), DMS records ([`dms`]), HTTP fakes on hyper ([`http`]) and TLS and CONNECT
//! listeners ([`tls`]).

pub mod dms;
pub mod docs;
pub mod emulator;
pub mod function;
pub mod http;
pub mod mariadb;
pub mod runtime_api;
pub mod terraform;
pub mod tls;

pub use emulator::Emulator;
pub use function::FunctionProcess;
pub use runtime_api::RuntimeApi;
pub use terraform::Terraform;

use std::path::PathBuf;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/kit is two levels down")
        .to_path_buf()
}
