#!/usr/bin/env python3
"""`make release`: dist/ in the layout the Terraform Registry publishes from (GoReleaser's, as in
hashicorp/terraform-provider-scaffolding-framework):

    terraform-provider-unifiedetl_<version>_<os>_<arch>.zip    the provider and both function packages
    terraform-provider-unifiedetl_<version>_manifest.json       protocol_versions, from the checked-in
                                                                terraform-registry-manifest.json
    terraform-provider-unifiedetl_<version>_SHA256SUMS          the zips' and the manifest's SHA-256
    terraform-provider-unifiedetl_<version>_SHA256SUMS.sig      its detached GPG signature

The version is the workspace's (Cargo.toml). Each platform's provider is cross-compiled with
cargo-lambda's zig toolchain (glibc 2.26, Amazon Linux 2's: it runs on any Linux since 2017); each
zip holds the provider as `terraform-provider-unifiedetl_v<version>` and the function packages
`unifiedetl-lambda-arm64.zip` and `unifiedetl-lambda-x86_64.zip`, which Terraform unpacks beside
it and the provider uploads for `persist.architecture`. darwin is not built here: the provider's
TLS roots come from macOS's Security framework, which needs Apple's SDK to link.

What is built, in as few cargo invocations as there are targets: for this machine, the provider,
the function and the local tools at once (one feature set: no crate compiled twice for the host;
each binary in <target>/host/<name>/bootstrap); the other architecture's function package; and the
provider of each other platform asked for. `--build-only` stops there (`make build`: what
`make demo` and `make test` run). Each long step says what it builds and about how long is left.

The signing key is GPG_FINGERPRINT (or the default secret key of GNUPGHOME); without one the sums
are left unsigned and the script says so (`--require-signature` makes that an error).

    release.py [--platform linux_amd64 --platform linux_arm64] [--require-signature] [--dist DIR]
               [--build-only] [--install MIRROR]
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "terraform-provider-unifiedetl"
PLATFORMS = {
    "linux_amd64": "x86_64-unknown-linux-gnu",
    "linux_arm64": "aarch64-unknown-linux-gnu",
}
# The function packages, by Lambda architecture.
ARCHITECTURES = {"arm64": "aarch64-unknown-linux-gnu", "x86_64": "x86_64-unknown-linux-gnu"}


def metadata() -> dict:
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def version_of(meta: dict) -> str:
    return next(p["version"] for p in meta["packages"] if p["name"] == NAME)


# What a first build of each step takes on this machine's kind (2 cores), in seconds: what is
# printed as "about N min left" before and while it runs. Measured from a fresh clone
# (README.md, "First build"); later builds only compile what changed.
FIRST_BUILD_SECONDS = {"host": 350, "function": 215, "provider": 300}


def host_triple() -> str:
    out = subprocess.run(["rustc", "-vV"], check=True, capture_output=True, text=True).stdout
    return next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("host: "))


def cargo_lambda(target_dir: Path) -> str:
    """cargo-lambda from the venv (make setup), run from a copy at a fixed place in the target
    directory: its zig wrappers (the CC and linker that cargo's fingerprints record) are named
    after the executable's path, so a copy per clone would rebuild everything for each clone
    sharing a CARGO_TARGET_DIR."""
    source = ROOT / ".venv" / "bin" / "cargo-lambda"
    if not source.exists():
        sys.exit("release: cargo-lambda is missing from .venv: run `make setup`")
    stable = target_dir / "tools" / "cargo-lambda"
    if not stable.exists() or not filecmp.cmp(source, stable, shallow=False):
        stable.parent.mkdir(parents=True, exist_ok=True)
        partial = stable.with_suffix(".partial")
        shutil.copy2(source, partial)
        partial.replace(stable)
    return str(stable)


class Steps:
    """The build's long steps, run in order, each saying what it builds, how long it took, and
    roughly how long is left (of the step, while it runs, and of the whole build)."""

    def __init__(self, target_dir: Path) -> None:
        self.target_dir = target_dir
        self.cargo_lambda = cargo_lambda(target_dir)
        self.planned: list[tuple[str, str, list[str], Path]] = []
        self.scale = 2 / max(1, min(os.cpu_count() or 2, 16))

    def add(self, what: str, kind: str, args: list[str], out: Path) -> None:
        self.planned.append((what, kind, args, out))

    def estimate(self, kind: str, out: Path) -> float:
        """A first build's time for a step whose output is not there yet; else a minute (what
        changed, then linking)."""
        return FIRST_BUILD_SECONDS[kind] * self.scale if not out.exists() else 60.0

    def run(self) -> None:
        estimates = [self.estimate(kind, out) for _, kind, _, out in self.planned]
        env = dict(os.environ, PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
        for n, ((what, _, args, out), estimate) in enumerate(zip(self.planned, estimates), 1):
            left = sum(estimates[n - 1:])
            print(f"==> [{n}/{len(self.planned)}] {what}"
                  + (f" (a first build: about {minutes(estimate)} of about {minutes(left)} left)"
                     if not out.exists() else ""), flush=True)
            started = time.monotonic()
            done = threading.Event()
            ticker = threading.Thread(target=tick, args=(what, started, estimate, done), daemon=True)
            ticker.start()
            try:
                subprocess.run([self.cargo_lambda, "lambda", "build", "--release", *args,
                                "--lambda-dir", str(out)], cwd=ROOT, check=True, env=env)
            finally:
                done.set()
            print(f"    {what}: {time.monotonic() - started:.0f} s", flush=True)


def minutes(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} min"


def tick(what: str, started: float, estimate: float, done: threading.Event) -> None:
    """Every minute of a long step: how long it has run and roughly how long is left."""
    while not done.wait(60):
        elapsed = time.monotonic() - started
        left = estimate - elapsed
        hint = f"about {minutes(left)} left" if left > 30 else "nearly done"
        print(f"    ... {what}: {minutes(elapsed)} in, {hint}", flush=True)


def host_build(steps: Steps, target_dir: Path, triple: str) -> Path:
    """The provider, the function and the local tools for this machine, from one cargo
    invocation: one feature set, so no crate is compiled twice for the host. Each binary lands
    in <target>/host/<name>/bootstrap (cargo-lambda's layout)."""
    out = target_dir / "host"
    # Each package's binary of its own name: not the local package's others (the load generator
    # alone, the tests' failing function), which nothing here runs.
    packages = [NAME, "unifiedetl-lambda", "unifiedetl-local"]
    steps.add(f"the provider, the function and the local tools for {triple}", "host",
              ["--target", triple, *(a for p in packages for a in ("-p", p, "--bin", p))], out)
    return out


def package_dir(target_dir: Path, architecture: str) -> Path:
    # Where the tests read them (arm64 where `make lambda` always put it).
    return target_dir / ("lambda" if architecture == "arm64" else f"lambda-{architecture}")


def function_package(steps: Steps, target_dir: Path, architecture: str) -> Path:
    out = package_dir(target_dir, architecture)
    steps.add(f"the function package for {architecture}", "function",
              ["--target", ARCHITECTURES[architecture], "--output-format", "zip",
               "-p", "unifiedetl-lambda"], out)
    return out / "unifiedetl-lambda" / "bootstrap.zip"


def provider_binary(steps: Steps, target_dir: Path, triple: str) -> Path:
    out = target_dir / f"provider-{triple}"
    steps.add(f"the provider for {triple}", "provider", ["--target", triple, "-p", NAME], out)
    # cargo-lambda moves each binary it builds to <lambda-dir>/<name>/bootstrap.
    return out / NAME / "bootstrap"


def package_host_function(host: Path, target_dir: Path, architecture: str) -> Path:
    """The host build's function as its Lambda package (what `--output-format zip` makes: the
    binary as `bootstrap`), where the tests and the zips take it from."""
    binary = host / "unifiedetl-lambda" / "bootstrap"
    package = package_dir(target_dir, architecture) / "unifiedetl-lambda" / "bootstrap.zip"
    package.parent.mkdir(parents=True, exist_ok=True)
    partial = package.with_suffix(".partial")
    write_zip(partial, {"bootstrap": binary})
    partial.replace(package)
    return package


def build(target_dir: Path, platforms: list[str]) -> tuple[dict[str, Path], dict[str, Path], Path]:
    """Builds what `platforms` need: the host build (which has this machine's provider and
    function), the other architecture's function package, and the provider of each other
    platform. The function packages by architecture, the providers by platform, the host build."""
    host_triple_ = host_triple()
    host_arch = next((a for a, t in ARCHITECTURES.items() if t == host_triple_), None)
    if host_arch is None:
        sys.exit(f"release: builds on {' or '.join(ARCHITECTURES.values())} only, not {host_triple_}")
    steps = Steps(target_dir)
    host = host_build(steps, target_dir, host_triple_)
    packages = {arch: function_package(steps, target_dir, arch)
                for arch in ARCHITECTURES if arch != host_arch}
    providers = {platform: provider_binary(steps, target_dir, PLATFORMS[platform])
                 for platform in platforms if PLATFORMS[platform] != host_triple_}
    steps.run()
    packages[host_arch] = package_host_function(host, target_dir, host_arch)
    providers.update({platform: host / NAME / "bootstrap"
                      for platform in platforms if PLATFORMS[platform] == host_triple_})
    return dict(sorted(packages.items())), providers, host


def write_zip(path: Path, members: dict[str, Path]) -> None:
    """A zip of `members` (name in the zip → file), executables kept executable, with a fixed
    timestamp so the same build zips to the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, source in members.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            mode = 0o755 if os.access(source, os.X_OK) and not name.endswith(".zip") else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, source.read_bytes())


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sign(sums: Path, require: bool) -> Path | None:
    fingerprint = os.environ.get("GPG_FINGERPRINT", "").strip()
    if shutil.which("gpg") is None:
        if require:
            sys.exit("release: gpg is not installed (Debian: apt-get install gnupg)")
        print("release: gpg is not installed: the sums are not signed")
        return None
    keys = subprocess.run(["gpg", "--batch", "--list-secret-keys", "--with-colons"],
                          capture_output=True, text=True).stdout
    if not fingerprint and "\nsec:" not in "\n" + keys:
        if require:
            sys.exit("release: no signing key: set GPG_FINGERPRINT (and GNUPGHOME) to a secret key's")
        print("release: no secret GPG key: the sums are not signed (set GPG_FINGERPRINT)")
        return None
    signature = sums.with_name(sums.name + ".sig")
    command = ["gpg", "--batch", "--yes", "--detach-sign", "--output", str(signature)]
    if fingerprint:
        command += ["--local-user", fingerprint]
    subprocess.run(command + [str(sums)], check=True)
    return signature


def host_platform() -> str:
    machine = os.uname().machine
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{sys.platform}_{arch}"


def install(dist: Path, version: str, mirror: Path) -> None:
    """Unpacks this machine's zip into `mirror` in the unpacked layout both CLIs read, under
    each registry's host name, so that `terraform init` and `tofu init` find it offline."""
    platform = host_platform()
    archive = dist / f"{NAME}_{version}_{platform}.zip"
    if not archive.exists():
        sys.exit(f"release: no {archive.name} to install: build it with --platform {platform}")
    for registry in ("registry.terraform.io", "registry.opentofu.org"):
        target = mirror / registry / "unifiedetl" / "unifiedetl" / version / platform
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                path = Path(z.extract(info, target))
                path.chmod((info.external_attr >> 16) & 0o777 or 0o644)
        print(f"installed unifiedetl/unifiedetl {version} into {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORMS),
                        help="a platform to build (default: every one)")
    parser.add_argument("--dist", default=str(ROOT / "dist"))
    parser.add_argument("--require-signature", action="store_true")
    parser.add_argument("--build-only", action="store_true",
                        help="build (this machine's provider, function and local tools, and both "
                             "function packages) without writing dist/")
    parser.add_argument("--install", metavar="MIRROR",
                        help="unpack the built zip of this machine's platform into the filesystem "
                             "mirror MIRROR, for registry.terraform.io and registry.opentofu.org")
    args = parser.parse_args()
    meta = metadata()
    version = version_of(meta)
    target_dir = Path(meta["target_directory"])
    dist = Path(args.dist)

    platforms = args.platform or ([host_platform()] if args.build_only else sorted(PLATFORMS))
    packages, providers, host = build(target_dir, platforms)
    if args.build_only:
        print(f"==> built: the provider, the function and the local tools in {host}/<name>/bootstrap;"
              f" the function packages in {', '.join(str(p) for p in packages.values())}")
        return
    if dist.exists():
        shutil.rmtree(dist)
    dist.mkdir(parents=True)
    files = []
    for platform in platforms:
        archive = dist / f"{NAME}_{version}_{platform}.zip"
        write_zip(archive, {
            f"{NAME}_v{version}": providers[platform],
            **{f"unifiedetl-lambda-{arch}.zip": path for arch, path in packages.items()},
        })
        files.append(archive)
    manifest = dist / f"{NAME}_{version}_manifest.json"
    shutil.copyfile(ROOT / "terraform-registry-manifest.json", manifest)
    files.append(manifest)
    sums = dist / f"{NAME}_{version}_SHA256SUMS"
    sums.write_text("".join(f"{sha256(f)}  {f.name}\n" for f in sorted(files)))
    signature = sign(sums, args.require_signature)
    if args.install:
        install(dist, version, Path(args.install))
    print(f"==> dist/ for {NAME} {version}:")
    for f in sorted(dist.iterdir()):
        print(f"    {f.name}")
    if signature is None:
        print("    (unsigned)")


if __name__ == "__main__":
    main()
