"""The launcher, the extension loading, ctl.sh, and moto's account/region separation."""

from __future__ import annotations

import http.client
import json
import pkgutil
import signal
import socket
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import HERE, free_port, health, launch

CTL = HERE / "ctl.sh"
STATE_DIR = HERE.parent.parent / ".emulator"


def test_health_lists_every_extension_module(endpoint):
    expected = sorted(m.name for m in pkgutil.iter_modules([str(HERE / "extensions")]) if not m.name.startswith("_"))
    answer = health(endpoint)
    assert answer is not None and answer["status"] == "ok"
    assert answer["extensions"] == expected
    assert {"kinesis", "lambda_esm", "lambda_function", "dynamodb", "iam"} <= set(expected)
    assert answer["moto"] == "5.2.5"


def test_pidfile_quiet_log_and_clean_exit_on_sigint(tmp_path):
    pidfile = tmp_path / "run" / "emulator.pid"
    launched = launch(tmp_path / "log.txt", "--pidfile", str(pidfile))
    try:
        assert pidfile.read_text().strip() == str(launched.process.pid)
        for _ in range(3):
            assert health(launched.endpoint)
    finally:
        code = launched.stop(signal.SIGINT)
    assert code == 0
    assert not pidfile.exists()
    log = launched.log.read_text()
    assert "listening on" in log
    assert "GET /_emulator/health" not in log  # no request log unless --verbose


def test_verbose_logs_requests(tmp_path):
    launched = launch(tmp_path / "log.txt", "--verbose")
    try:
        health(launched.endpoint)
    finally:
        assert launched.stop() == 0
    assert "GET /_emulator/health" in launched.log.read_text()


def test_connections_stay_open_between_calls(emulator):
    """Clients (the SDKs, the benchmark's proxy) send call after call on one connection, as
    AWS lets them: the emulator neither closes it after a call nor makes the next one wait."""
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=10)
    try:
        for _ in range(3):
            connection.request("GET", "/_emulator/health")
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read())["status"] == "ok"
            assert not response.will_close
        first = connection.sock
        connection.request("GET", "/_emulator/health")
        connection.getresponse().read()
        assert connection.sock is first  # no reconnection
    finally:
        connection.close()


def test_a_request_target_in_absolute_form_is_served(emulator):
    """HTTP/1.1 servers take `POST http://host:port/ HTTP/1.1` as well as `POST /` (RFC 9112,
    3.2.2), and AWS does: a client built on a bare HTTP connection (the test proxies') sends it."""
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=10) as sock:
        sock.sendall(f"GET http://127.0.0.1:{emulator.port}/_emulator/health HTTP/1.1\r\n"
                     f"Host: 127.0.0.1:{emulator.port}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert json.loads(body)["status"] == "ok"


def test_sigterm_ends_a_busy_emulator_cleanly(tmp_path):
    launched = launch(tmp_path / "log.txt")
    idle = socket.create_connection(("127.0.0.1", launched.port))  # an open keep-alive connection
    try:
        assert health(launched.endpoint)
    finally:
        code = launched.stop(signal.SIGTERM)
        idle.close()
    assert code == 0
    assert "emulator stopped" in launched.log.read_text()


def ctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(CTL), *args], capture_output=True, text=True, timeout=90)


def test_ctl_start_status_stop(tmp_path):
    port = str(free_port())
    pidfile = STATE_DIR / f"emulator-{port}.pid"
    try:
        assert ctl("status", port).returncode == 1
        started = ctl("start", port)
        assert started.returncode == 0, started.stdout + started.stderr
        assert "running on" in started.stdout
        assert pidfile.exists()
        again = ctl("start", port)
        assert again.returncode == 0 and "already running" in again.stdout
        assert ctl("status", port).returncode == 0
        assert health(f"http://127.0.0.1:{port}")
    finally:
        stopped = ctl("stop", port)
    assert stopped.returncode == 0, stopped.stderr
    assert not pidfile.exists()
    assert ctl("status", port).returncode == 1
    assert ctl("stop", port).returncode == 0  # idempotent
    (STATE_DIR / f"emulator-{port}.log").unlink(missing_ok=True)


def test_ctl_refuses_a_port_taken_by_something_else():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = str(sock.getsockname()[1])
        result = ctl("start", port)
    assert result.returncode == 1
    assert "in use" in result.stderr
    assert not (STATE_DIR / f"emulator-{port}.pid").exists()


def test_ctl_usage():
    assert ctl("frobnicate").returncode == 2
    assert ctl("start", "not-a-port").returncode == 2


def test_regions_are_separate(client, endpoint, name):
    import boto3

    west = boto3.client(
        "kinesis", endpoint_url=endpoint, region_name="us-west-2",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    west.create_stream(StreamName=name, ShardCount=1)
    assert ":us-west-2:" in west.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    with pytest.raises(ClientError):
        client("kinesis").describe_stream_summary(StreamName=name)


def test_accounts_are_separate(client, endpoint, name):
    import boto3

    other = boto3.client(
        "kinesis", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    other.meta.events.register(
        "before-send.kinesis.*", lambda request, **_: request.headers.__setitem__("x-moto-account-id", "111122223333")
    )
    other.create_stream(StreamName=name, ShardCount=1)
    arn = other.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    assert arn == f"arn:aws:kinesis:us-east-1:111122223333:stream/{name}"
    with pytest.raises(ClientError):
        client("kinesis").describe_stream_summary(StreamName=name)




def test_full_collections_keep_to_their_share_of_the_time():
    """A full garbage collection stalls every call; as the heap grows they take longer, so
    they are spaced to stay within GC_TIME_SHARE of the time, idle or under load."""
    import launcher

    share = launcher.GC_TIME_SHARE
    idle_every, load_every = launcher.COLLECT_AT_MOST_EVERY, launcher.COLLECT_AT_LEAST_EVERY
    # Short collections: the fixed spacings.
    assert launcher.collection_due(idle_every, idle=True, took=0.05)
    assert not launcher.collection_due(idle_every - 0.1, idle=True, took=0.05)
    assert launcher.collection_due(load_every, idle=False, took=0.05)
    assert not launcher.collection_due(idle_every, idle=False, took=0.05)
    # A collection that took 6 s (a heap of several GB): none for 6 / share seconds.
    took = 6.0
    assert not launcher.collection_due(load_every, idle=False, took=took)
    assert not launcher.collection_due(took / share - 1, idle=True, took=took)
    assert launcher.collection_due(took / share, idle=False, took=took)
    assert took / (took / share + took) <= share
