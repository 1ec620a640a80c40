"""Fixtures: one emulator per test session, started through launcher.py on a free port."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

HERE = Path(__file__).resolve().parent
LAUNCHER = HERE / "launcher.py"
REGION = "us-east-1"
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(endpoint: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{endpoint}/_emulator/health", timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


@dataclass
class Launched:
    process: subprocess.Popen
    endpoint: str
    port: int
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def launch(log: Path, *extra: str) -> Launched:
    """Starts launcher.py on a free port of 127.0.0.1 and waits until it is healthy."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    out = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, str(LAUNCHER), "--host", "127.0.0.1", "--port", str(port), *extra],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        # The suite checks each behaviour on its own: the realism layer is off unless a test
        # turns it on (the ``realism`` fixture).
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true", "EMULATOR_REALISM": "0"},
    )
    out.close()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"emulator exited ({process.returncode}):\n{log.read_text()}")
        if health(endpoint):
            return Launched(process, endpoint, port, log)
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError(f"emulator did not answer within {START_TIMEOUT}s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launched]:
    launched = launch(tmp_path_factory.mktemp("emulator") / "emulator.log")
    yield launched
    code = launched.stop()
    assert code == 0, f"emulator exited with {code} on SIGTERM:\n{launched.log.read_text()}"


@pytest.fixture(scope="session")
def endpoint(emulator: Launched) -> str:
    return emulator.endpoint


ClientFactory = Callable[..., "boto3.client"]


@pytest.fixture(scope="session")
def client(endpoint: str) -> ClientFactory:
    """client("kinesis") -> a boto3 client for the emulator (fake credentials, us-east-1, no
    retries). client("lambda", validate=False) skips botocore's own parameter validation, to
    send what the Rust SDK would send unchecked."""
    cache: dict[tuple[str, bool], object] = {}

    def make(service: str, validate: bool = True):  # type: ignore[no-untyped-def]
        key = (service, validate)
        if key not in cache:
            cache[key] = boto3.client(
                service,
                endpoint_url=endpoint,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=Config(retries={"max_attempts": 1}, parameter_validation=validate),
            )
        return cache[key]

    return make


@pytest.fixture
def name() -> str:
    """A fresh resource name: tests share one emulator."""
    return f"t-{uuid.uuid4().hex[:12]}"


def make_zip(content: bytes = b"#!/bin/sh\necho hello\n") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        archive.writestr(info, content)
    return buffer.getvalue()


LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


@pytest.fixture
def role_arn(client: ClientFactory, name: str) -> str:
    return client("iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]


@pytest.fixture
def function(client: ClientFactory, name: str, role_arn: str) -> dict:
    """A provided.al2023/arm64 function; returns its CreateFunction response."""
    return client("lambda").create_function(
        FunctionName=f"{name}-fn",
        Runtime="provided.al2023",
        Handler="bootstrap",
        Architectures=["arm64"],
        Role=role_arn,
        Code={"ZipFile": make_zip()},
        MemorySize=256,
        Timeout=30,
    )


@pytest.fixture
def stream_arn(client: ClientFactory, name: str) -> str:
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=f"{name}-stream", ShardCount=1, StreamModeDetails={"StreamMode": "PROVISIONED"})
    return kinesis.describe_stream_summary(StreamName=f"{name}-stream")["StreamDescriptionSummary"]["StreamARN"]


def realism_settings(endpoint: str, **settings: object) -> dict:
    """Changes the realism layer's settings (``POST /_emulator/realism``); answers them with
    the faults injected so far."""
    request = urllib.request.Request(
        f"{endpoint}/_emulator/realism",
        data=json.dumps(settings).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def realism(endpoint: str) -> Iterator[Callable[..., dict]]:
    """realism(classes=["lag"], lag_seconds=1) turns the realism layer on with those settings
    (and returns them, with what was injected); it is off again after the test."""

    def turn_on(**settings: object) -> dict:
        return realism_settings(endpoint, enabled=True, **settings)

    yield turn_on
    realism_settings(endpoint, enabled=False, classes=list(REALISM_CLASSES), throttle_rate=0.02, seed=1,
                     outage=[], deny=[], expired_token=False)


REALISM_CLASSES = ("iam", "lag", "states", "dms", "account", "s3", "throttle")
