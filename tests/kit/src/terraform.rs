//! The real Terraform CLI, run in a throw-away working directory with the provider installed
//! into a filesystem mirror (so `terraform init` works offline) and every AWS call pointed at
//! the test's own emulator.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};

use crate::{repo_root, Emulator};

/// The workspace's version (Cargo.toml), which the provider is installed as.
pub const PROVIDER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The filesystem mirror this test process installs the provider into: the debug build of the
/// provider (built here if stale) and the bundled function package beside it.
fn mirror() -> Result<&'static Path> {
    static MIRROR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    MIRROR
        .get_or_init(|| build_mirror().map_err(|e| format!("{e:#}")))
        .as_deref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Where cargo puts what it builds (`CARGO_TARGET_DIR`, else `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

fn build_mirror() -> Result<PathBuf> {
    let root = repo_root();
    // `--workspace --all-targets` resolves features exactly as `cargo test --workspace` does,
    // so this reuses the test build's artifacts instead of compiling the AWS SDK again with
    // another feature set; after `cargo test` it only links the provider.
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--workspace", "--all-targets"])
        .current_dir(&root)
        .status()
        .context("building the provider")?;
    if !status.success() {
        bail!("building the provider failed");
    }
    let mirror = target_dir().join(format!("e2e/mirror-{}", std::process::id()));
    install_mirror(
        &target_dir().join("debug/terraform-provider-unifiedetl"),
        &mirror,
    )?;
    Ok(mirror)
}

/// A filesystem mirror (under `target/e2e/`) holding the given provider executable — a release
/// build, say — with the bundled function package beside it, for [`Terraform::with_mirror`].
/// Nothing is built.
pub fn mirror_of(provider: &Path) -> Result<PathBuf> {
    let mirror = target_dir().join(format!("e2e/mirror-{}-given", std::process::id()));
    install_mirror(provider, &mirror)?;
    Ok(mirror)
}

fn install_mirror(provider: &Path, mirror: &Path) -> Result<()> {
    for architecture in ["arm64", "x86_64"] {
        let zip = bundled_zip_for(architecture);
        if !zip.exists() {
            bail!(
                "{} is missing: build the function packages with `make build` (make test does)",
                zip.display()
            );
        }
    }
    if let Some(e2e) = mirror.parent() {
        remove_stale_mirrors(e2e);
    }
    let dir = mirror.join(format!(
        "registry.terraform.io/unifiedetl/unifiedetl/{PROVIDER_VERSION}/linux_amd64"
    ));
    std::fs::create_dir_all(&dir)?;
    link_or_copy(
        provider,
        &dir.join(format!("terraform-provider-unifiedetl_v{PROVIDER_VERSION}")),
    )
    .with_context(|| format!("installing the provider {}", provider.display()))?;
    // Copied: the packages are rewritten in place when rebuilt.
    for architecture in ["arm64", "x86_64"] {
        std::fs::copy(
            bundled_zip_for(architecture),
            dir.join(format!("unifiedetl-lambda-{architecture}.zip")),
        )?;
    }
    Ok(())
}

/// A hard link (no copy of a 100 MB debug build per test process), else a copy. A rebuilt
/// executable is written as a new file, so the link keeps this process's build as it was.
fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_file(to);
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to).map(|_| ())
}

/// Removes the mirrors (`mirror-<pid>`, `mirror-<pid>-given`) of test processes that have
/// ended: each process makes its own, and they would otherwise pile up run after run.
/// Only where a process's liveness can be read (Linux's `/proc`); errors are ignored.
fn remove_stale_mirrors(e2e: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(e2e) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("mirror-"))
            .map(|n| n.trim_end_matches("-given"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The function package the provider deploys by default.
pub fn bundled_zip() -> PathBuf {
    bundled_zip_for("arm64")
}

/// The function package `make build` makes for `architecture` (`arm64`, `x86_64`).
pub fn bundled_zip_for(architecture: &str) -> PathBuf {
    match architecture {
        "arm64" => target_dir().join("lambda/unifiedetl-lambda/bootstrap.zip"),
        other => target_dir().join(format!("lambda-{other}/unifiedetl-lambda/bootstrap.zip")),
    }
}

/// A Terraform working directory bound to one emulator.
pub struct Terraform {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// What one Terraform command did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Fails with the command's output unless it exited 0.
    pub fn ok(self) -> Result<Run> {
        if self.code != 0 {
            bail!(
                "terraform exited {}\n{}\n{}",
                self.code,
                self.stdout,
                self.stderr
            );
        }
        Ok(self)
    }
}

impl Terraform {
    pub fn new(emulator: &Emulator) -> Result<Terraform> {
        Terraform::with_env(emulator.env())
    }

    /// A working directory holding `examples/<example>`, its `endpoint_url` variable pointed at
    /// `emulator`, initialised.
    pub fn example(emulator: &Emulator, example: &str) -> Result<Terraform> {
        let tf = Terraform::new(emulator)?;
        tf.copy_module(&repo_root().join("examples").join(example))?;
        std::fs::write(
            tf.dir().join("emulator.auto.tfvars"),
            format!("endpoint_url = \"{}\"\n", emulator.endpoint),
        )?;
        tf.init()?;
        Ok(tf)
    }

    /// A working directory for commands that call no AWS API (`validate`, `providers schema`).
    pub fn offline() -> Result<Terraform> {
        Terraform::with_env(vec![
            ("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ])
    }

    /// A working directory whose commands run with `env` (e.g. [`Emulator::env`] with
    /// `AWS_ENDPOINT_URL` pointed elsewhere), with the provider built by this test process.
    pub fn with_env(env: Vec<(String, String)>) -> Result<Terraform> {
        Terraform::with_mirror(env, mirror()?)
    }

    /// Like [`Terraform::with_env`], with the provider of `mirror` (see [`mirror_of`]).
    pub fn with_mirror(mut env: Vec<(String, String)>, mirror: &Path) -> Result<Terraform> {
        let dir = tempfile::Builder::new()
            .prefix("unifiedetl-tf-")
            .tempdir()?;
        let cli_config = dir.path().join(".terraformrc");
        std::fs::write(
            &cli_config,
            format!(
                "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/unifiedetl/*\"]\n  }}\n}}\ndisable_checkpoint = true\n",
                mirror.display()
            ),
        )?;
        env.extend(
            [
                (
                    "TF_CLI_CONFIG_FILE",
                    cli_config.to_string_lossy().into_owned(),
                ),
                ("TF_IN_AUTOMATION", "1".into()),
                ("TF_INPUT", "0".into()),
                ("CHECKPOINT_DISABLE", "1".into()),
                ("NO_COLOR", "1".into()),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        );
        Ok(Terraform { dir, env })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Copies a module as a user has it: its `.tf` and `.tftest.hcl` files and the `reference/`
    /// and `sql/` files beside them (following symbolic links to those folders).
    pub fn copy_module(&self, from: &Path) -> Result<()> {
        let to = self.dir.path();
        for entry in std::fs::read_dir(from)? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name.ends_with(".tf") || name.ends_with(".tftest.hcl") {
                std::fs::copy(&path, to.join(path.file_name().unwrap()))?;
            }
        }
        for folder in ["reference", "sql"] {
            let source = from.join(folder);
            if source.is_dir() {
                std::fs::create_dir_all(to.join(folder))?;
                for entry in std::fs::read_dir(&source)? {
                    let path = entry?.path();
                    if path.is_file() {
                        std::fs::copy(&path, to.join(folder).join(path.file_name().unwrap()))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes `main.tf`.
    pub fn write(&self, main_tf: &str) -> Result<()> {
        std::fs::write(self.dir.path().join("main.tf"), main_tf)?;
        Ok(())
    }

    /// Runs `terraform <args>` and returns what it did, whatever its exit code.
    pub fn run(&self, args: &[&str]) -> Result<Run> {
        let output = Command::new("terraform")
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("TF_LOG")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .context("running terraform (is it installed? `terraform version`)")?;
        Ok(Run::from(output))
    }

    /// Starts `terraform <args>` in a process group of its own, as a terminal runs it, for a
    /// test to interrupt it as Ctrl-C does ([`interrupt`]); its output is piped.
    pub fn spawn(&self, args: &[&str]) -> Result<std::process::Child> {
        use std::os::unix::process::CommandExt;
        Command::new("terraform")
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("TF_LOG")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .process_group(0)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("running terraform (is it installed? `terraform version`)")
    }

    pub fn init(&self) -> Result<Run> {
        self.run(&["init", "-input=false", "-no-color"])?.ok()
    }

    pub fn apply(&self) -> Result<Run> {
        self.run(&["apply", "-auto-approve", "-input=false", "-no-color"])?
            .ok()
    }

    pub fn destroy(&self) -> Result<Run> {
        self.run(&["destroy", "-auto-approve", "-input=false", "-no-color"])?
            .ok()
    }

    /// `terraform plan -detailed-exitcode`: 0 no changes, 2 changes, 1 error.
    pub fn plan(&self) -> Result<Run> {
        self.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"])
    }

    /// The plan as `terraform show -json` reports it.
    pub fn plan_json(&self) -> Result<serde_json::Value> {
        self.run(&["plan", "-out=tfplan", "-input=false", "-no-color"])?
            .ok()?;
        let shown = self.run(&["show", "-json", "tfplan"])?.ok()?;
        Ok(serde_json::from_str(&shown.stdout)?)
    }
}

/// Ctrl-C in a terminal: SIGINT to every process of `child`'s group (Terraform and the
/// providers it started).
pub fn interrupt(child: &std::process::Child) -> Result<()> {
    let status = Command::new("kill")
        .args(["-INT", "--", &format!("-{}", child.id())])
        .status()?;
    if !status.success() {
        bail!("kill -INT of process group {} failed", child.id());
    }
    Ok(())
}

/// The actions (`["update"]`, `["delete", "create"]`, …) planned for the first resource.
pub fn planned_actions(plan: &serde_json::Value) -> Vec<String> {
    plan["resource_changes"][0]["change"]["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The attribute paths that force replacement, each joined with dots (`sink.sort_key`).
pub fn replace_paths(plan: &serde_json::Value) -> Vec<String> {
    plan["resource_changes"][0]["change"]["replace_paths"]
        .as_array()
        .map(|paths| {
            paths
                .iter()
                .filter_map(|p| p.as_array())
                .map(|steps| {
                    steps
                        .iter()
                        .map(|s| {
                            s.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| s.to_string())
                        })
                        .collect::<Vec<_>>()
                        .join(".")
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_mirrors_of_ended_processes_are_removed() {
        let e2e = tempfile::tempdir().unwrap();
        let own = format!("mirror-{}", std::process::id());
        // No process has the largest pid: its mirror is stale.
        let stale = format!("mirror-{}-given", u32::MAX);
        for name in [own.as_str(), stale.as_str(), "mirror-notapid", "other"] {
            std::fs::create_dir(e2e.path().join(name)).unwrap();
        }
        remove_stale_mirrors(e2e.path());
        let mut left: Vec<String> = std::fs::read_dir(e2e.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut kept = vec![own, "mirror-notapid".to_string(), "other".to_string()];
        kept.sort();
        assert_eq!(left, kept);
    }
}
