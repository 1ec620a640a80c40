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

The signing key is GPG_FINGERPRINT (or the default secret key of GNUPGHOME); without one the sums
are left unsigned and the script says so (`--require-signature` makes that an error).

    release.py [--platform linux_amd64 --platform linux_arm64] [--require-signature] [--dist DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "terraform-provider-unifiedetl"
PLATFORMS = {
    "linux_amd64": "x86_64-unknown-linux-gnu",
    "linux_arm64": "aarch64-unknown-linux-gnu",
}
FUNCTION_ARCHITECTURES = {"arm64": "--arm64", "x86_64": "--x86-64"}


def metadata() -> dict:
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def version_of(meta: dict) -> str:
    return next(p["version"] for p in meta["packages"] if p["name"] == NAME)


def step(what: str, command: list[str]) -> None:
    """Runs one long build step, saying what it is and how long it took. cargo-lambda and zig
    come from the repository's venv (make setup)."""
    print(f"==> {what}", flush=True)
    started = time.monotonic()
    env = dict(os.environ, PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    subprocess.run(command, cwd=ROOT, check=True, env=env)
    print(f"    {what}: {time.monotonic() - started:.0f} s", flush=True)


def function_package(target_dir: Path, architecture: str) -> Path:
    # arm64 where `make lambda` has always put it (the tests read it there).
    out = target_dir / ("lambda" if architecture == "arm64" else f"lambda-{architecture}")
    step(f"the function package for {architecture}",
         ["cargo", "lambda", "build", "--release", FUNCTION_ARCHITECTURES[architecture],
          "--output-format", "zip", "-p", "unifiedetl-lambda", "--lambda-dir", str(out)])
    return out / "unifiedetl-lambda" / "bootstrap.zip"


def provider_binary(target_dir: Path, triple: str) -> Path:
    out = target_dir / f"provider-{triple}"
    step(f"the provider for {triple}",
         ["cargo", "lambda", "build", "--release", "--target", triple,
          "-p", NAME, "--lambda-dir", str(out)])
    # cargo-lambda moves each binary it builds to <lambda-dir>/<name>/bootstrap.
    return out / NAME / "bootstrap"


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
    parser.add_argument("--install", metavar="MIRROR",
                        help="unpack the built zip of this machine's platform into the filesystem "
                             "mirror MIRROR, for registry.terraform.io and registry.opentofu.org")
    args = parser.parse_args()
    meta = metadata()
    version = version_of(meta)
    target_dir = Path(meta["target_directory"])
    dist = Path(args.dist)
    if dist.exists():
        shutil.rmtree(dist)
    dist.mkdir(parents=True)

    packages = {arch: function_package(target_dir, arch) for arch in FUNCTION_ARCHITECTURES}
    files = []
    for platform in args.platform or sorted(PLATFORMS):
        binary = provider_binary(target_dir, PLATFORMS[platform])
        archive = dist / f"{NAME}_{version}_{platform}.zip"
        write_zip(archive, {
            f"{NAME}_v{version}": binary,
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
