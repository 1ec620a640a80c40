//! Links the provider as a position-dependent executable on Linux (glibc), as Go links
//! Terraform itself and the providers written with Go's plugin SDK.
//!
//! Terraform starts the provider afresh for every walk of every command (three to four times
//! per `terraform apply`) and waits for its handshake each time. A position-independent build
//! of this size has ~89,000 relocations for the dynamic loader to apply before `main`, which
//! touches 1.3 MB of relocated data and 2 MB of relocation entries: about 730 page faults per
//! start instead of about 320, and about 2 ms more before the handshake (measured side by side,
//! `make bench-provider`'s release build, 30 starts each).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
