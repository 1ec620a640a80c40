//! `make release`: dist/ as the Terraform Registry publishes it, signed with a throw-away GPG
//! key, each zip holding the provider and both function packages; the host's zip unpacked into
//! a fresh filesystem mirror, from which `terraform init` of the quickstart works offline.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use testkit::terraform::PROVIDER_VERSION;
use testkit::{repo_root, Terraform};

const NAME: &str = "terraform-provider-unifiedetl";

/// Runs `command`, failing with its output unless it exits 0; returns its stdout.
fn run(command: &mut Command) -> Result<String> {
    let out = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !out.status.success() {
        bail!(
            "{command:?} exited {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A throw-away signing key in `home` (a GNUPGHOME): its fingerprint.
fn signing_key(home: &Path) -> Result<String> {
    let gpg = || {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", home).arg("--batch");
        c
    };
    run(gpg().args([
        "--passphrase",
        "",
        "--quick-gen-key",
        "unifiedetl release test <release-test@example.invalid>",
        "default",
        "sign",
        "never",
    ]))?;
    let keys = run(gpg().args(["--list-secret-keys", "--with-colons"]))?;
    keys.lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .map(|l| l.trim_matches(':').to_string())
        .context("the new key's fingerprint")
}

/// A zip's members: name → (mode, the first four bytes, and the ELF machine for executables).
fn members(zip: &Path) -> Result<serde_json::Value> {
    let python = repo_root().join(".venv/bin/python");
    let script = r#"
import json, sys, zipfile
out = {}
with zipfile.ZipFile(sys.argv[1]) as z:
    for info in z.infolist():
        head = z.open(info).read(20)
        out[info.filename] = {
            "mode": oct((info.external_attr >> 16) & 0o777),
            "magic": head[:4].hex(),
            "machine": int.from_bytes(head[18:20], "little") if head[:4] == b"\x7fELF" else None,
        }
print(json.dumps(out))
"#;
    let text = run(Command::new(python).arg("-c").arg(script).arg(zip))?;
    Ok(serde_json::from_str(&text)?)
}

/// Unpacks `zip` into `dir` with its members' modes (as Terraform does when it installs one).
fn unpack(zip: &Path, dir: &Path) -> Result<()> {
    let python = repo_root().join(".venv/bin/python");
    let script = r#"
import sys, zipfile, pathlib
with zipfile.ZipFile(sys.argv[1]) as z:
    for info in z.infolist():
        path = pathlib.Path(z.extract(info, sys.argv[2]))
        path.chmod((info.external_attr >> 16) & 0o777 or 0o644)
"#;
    std::fs::create_dir_all(dir)?;
    run(Command::new(python).arg("-c").arg(script).arg(zip).arg(dir))?;
    Ok(())
}

#[test]
fn make_release_writes_a_signed_registry_release_that_installs_offline() -> Result<()> {
    let work = tempfile::Builder::new().prefix("ue-rel-").tempdir()?;
    let gnupg = work.path().join("g");
    std::fs::create_dir(&gnupg)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700))?;
    }
    let fingerprint = signing_key(&gnupg)?;
    let dist = work.path().join("dist");
    // Only what a shell passes on: cargo's own variables for this test process would make the
    // builds inside look changed, and compile again what `make build` built.
    let mut make = Command::new("make");
    make.env_clear();
    for name in [
        "PATH",
        "HOME",
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "RUSTUP_HOME",
        "TMPDIR",
    ] {
        if let Some(value) = std::env::var_os(name) {
            make.env(name, value);
        }
    }
    run(make
        .arg("--no-print-directory")
        .arg("release")
        .arg(format!(
            "RELEASE_ARGS=--dist {} --require-signature",
            dist.display()
        ))
        .current_dir(repo_root())
        .env("GNUPGHOME", &gnupg)
        .env("GPG_FINGERPRINT", &fingerprint))?;

    let version = PROVIDER_VERSION;
    let mut names: Vec<String> = std::fs::read_dir(&dist)?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_>>()?;
    names.sort();
    assert_eq!(
        names,
        [
            format!("{NAME}_{version}_SHA256SUMS"),
            format!("{NAME}_{version}_SHA256SUMS.sig"),
            format!("{NAME}_{version}_linux_amd64.zip"),
            format!("{NAME}_{version}_linux_arm64.zip"),
            format!("{NAME}_{version}_manifest.json"),
        ]
    );

    // Each zip: the provider, executable, built for its platform's machine (ELF e_machine 62:
    // x86-64, 183: AArch64), and both function packages.
    for (platform, machine) in [("linux_amd64", 62), ("linux_arm64", 183)] {
        let zip = dist.join(format!("{NAME}_{version}_{platform}.zip"));
        let m = members(&zip)?;
        let mut listed: Vec<&String> = m.as_object().context("members")?.keys().collect();
        listed.sort();
        assert_eq!(
            listed,
            [
                &format!("{NAME}_v{version}"),
                &"unifiedetl-lambda-arm64.zip".to_string(),
                &"unifiedetl-lambda-x86_64.zip".to_string(),
            ],
            "{platform}"
        );
        let provider = &m[format!("{NAME}_v{version}")];
        assert_eq!(provider["mode"], "0o755", "{platform}");
        assert_eq!(
            provider["magic"], "7f454c46",
            "{platform}: an ELF executable"
        );
        assert_eq!(provider["machine"], machine, "{platform}");
        for package in [
            "unifiedetl-lambda-arm64.zip",
            "unifiedetl-lambda-x86_64.zip",
        ] {
            assert_eq!(
                m[package]["magic"], "504b0304",
                "{platform}: {package} is a zip"
            );
        }
    }

    // The manifest, the sums, the signature.
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        dist.join(format!("{NAME}_{version}_manifest.json")),
    )?)?;
    assert_eq!(
        manifest["metadata"]["protocol_versions"],
        serde_json::json!(["6.0"])
    );
    let sums = std::fs::read_to_string(dist.join(format!("{NAME}_{version}_SHA256SUMS")))?;
    assert_eq!(
        sums.lines().count(),
        3,
        "two zips and the manifest:\n{sums}"
    );
    run(Command::new("sha256sum")
        .args(["--check", "--strict"])
        .arg(format!("{NAME}_{version}_SHA256SUMS"))
        .current_dir(&dist))?;
    run(Command::new("gpg")
        .env("GNUPGHOME", &gnupg)
        .args(["--batch", "--verify"])
        .arg(dist.join(format!("{NAME}_{version}_SHA256SUMS.sig")))
        .arg(dist.join(format!("{NAME}_{version}_SHA256SUMS"))))?;

    // The host's zip in a fresh mirror: the quickstart initialises from it alone, and the
    // provider it installs runs (validate loads its schema).
    let mirror = work.path().join("mirror");
    unpack(
        &dist.join(format!("{NAME}_{version}_linux_amd64.zip")),
        &mirror.join(format!(
            "registry.terraform.io/unifiedetl/unifiedetl/{version}/linux_amd64"
        )),
    )?;
    let tf = Terraform::with_mirror(
        vec![("AWS_EC2_METADATA_DISABLED".into(), "true".into())],
        &mirror,
    )?;
    tf.copy_module(&repo_root().join("examples/quickstart"))?;
    tf.init()?;
    tf.run(&["validate", "-no-color"])?.ok()?;
    Ok(())
}
