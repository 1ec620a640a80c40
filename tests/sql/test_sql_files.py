"""sql/orderdb-setup.sql and sql/orders-data-setup.sql, run against a private MariaDB server.

The session fixture initialises a data folder under pytest's temporary folder, starts
``mariadbd`` on it (unix socket, and TCP on a free port of 127.0.0.1 only) with the binary
log settings CDC needs, runs both files through the ``mariadb`` command-line client, and
stops the server at the end. MariaDB comes from tests/sql/ensure-mariadb.sh; when it is
missing or does not start, the tests fail, saying why (nothing is skipped).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCHEMA_SQL = REPO / "sql" / "orderdb-setup.sql"
DATA_SQL = REPO / "sql" / "orders-data-setup.sql"
ENSURE = "tests/sql/ensure-mariadb.sh"
START_TIMEOUT = 60.0

ORDER_IDS = list(range(10000001, 10000016))


def find_program(*names: str) -> str | None:
    for name in names:
        for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
            if candidate and os.access(candidate, os.X_OK):
                return candidate
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MariaDB:
    client: str
    binlog_tool: str
    socket: str
    port: int
    datadir: Path
    log_bin: Path

    def args(self, *extra: str) -> list[str]:
        return [self.client, "--no-defaults", f"--socket={self.socket}", "--user=root", *extra]

    def run_file(self, path: Path) -> subprocess.CompletedProcess:
        with path.open("rb") as stdin:
            return subprocess.run(self.args("--batch"), stdin=stdin, capture_output=True, timeout=60)

    def query(self, sql: str, database: str = "orders") -> list[list[str]]:
        """Rows as lists of strings (NULL as None), exactly as the server prints them."""
        done = subprocess.run(
            self.args("--batch", "--raw", "--skip-column-names", database, "-e", sql),
            capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, f"query failed: {sql}\n{done.stderr}"
        return [
            [None if field == "NULL" else field for field in line.split("\t")]
            for line in done.stdout.splitlines()
        ]


def _fail(message: str, log: Path | None = None) -> None:
    tail = ""
    if log is not None and log.exists():
        tail = "\n--- server log (end) ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    pytest.fail(message + tail, pytrace=False)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    server = find_program("mariadbd", "mysqld")
    client = find_program("mariadb", "mysql")
    install_db = find_program("mariadb-install-db", "mysql_install_db")
    binlog_tool = find_program("mariadb-binlog", "mysqlbinlog")
    missing = [name for name, path in (("mariadbd", server), ("mariadb", client),
                                       ("mariadb-install-db", install_db), ("mariadb-binlog", binlog_tool))
               if path is None]
    if missing:
        _fail(f"MariaDB is not installed (missing: {', '.join(missing)}): "
              f"run {ENSURE} (as root, or with sudo)")

    base = tmp_path_factory.mktemp("mariadb")
    datadir = base / "data"
    log = base / "server.log"
    as_root = ["--user=root"] if os.geteuid() == 0 else []

    init = subprocess.run(
        [install_db, "--no-defaults", f"--datadir={datadir}", "--auth-root-authentication-method=normal",
         "--skip-test-db", *as_root],
        capture_output=True, text=True, timeout=120,
    )
    if init.returncode != 0:
        _fail(f"mariadb-install-db failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")

    # A unix socket path must stay short (about 100 bytes): keep it in a short folder.
    socket_dir = Path(tempfile.mkdtemp(prefix="mdb-"))
    sock = str(socket_dir / "mariadb.sock")
    port = free_port()
    log_bin = base / "binlog"
    process = subprocess.Popen(
        [
            server, "--no-defaults", f"--datadir={datadir}", f"--socket={sock}", f"--port={port}",
            "--bind-address=127.0.0.1", f"--pid-file={base / 'server.pid'}", f"--log-error={log}",
            # What CDC needs (see the header of orderdb-setup.sql).
            "--server-id=1", f"--log-bin={log_bin}", "--binlog-format=ROW", "--binlog-row-image=FULL",
            "--skip-name-resolve", *as_root,
        ],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    db = MariaDB(client, binlog_tool, sock, port, datadir, log_bin)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                _fail(f"mariadbd exited with {process.returncode} while starting", log)
            ping = subprocess.run(db.args("-e", "SELECT 1"), capture_output=True, timeout=10)
            if ping.returncode == 0:
                break
            if time.monotonic() > deadline:
                _fail(f"mariadbd did not answer within {START_TIMEOUT}s", log)
            time.sleep(0.1)

        for path in (SCHEMA_SQL, DATA_SQL):
            done = db.run_file(path)
            if done.returncode != 0:
                _fail(f"{path.relative_to(REPO)} failed:\n{done.stderr.decode(errors='replace')}")
        yield db
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(socket_dir, ignore_errors=True)


# ------------------------------------------------------------------------------ schema


def columns(db: MariaDB, table: str) -> list[tuple]:
    rows = db.query(
        "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, "
        "IS_NULLABLE "
        f"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'orders' AND TABLE_NAME = '{table}' "
        "ORDER BY ORDINAL_POSITION"
    )
    result = []
    for name, data_type, length, precision, scale, nullable in rows:
        size = None
        if data_type == "varchar":
            size = int(length)
        elif data_type == "decimal":
            size = (int(precision), int(scale))
        result.append((name, data_type, size, nullable == "YES"))
    return result


def test_schema_has_the_three_tables(mariadb):
    tables = mariadb.query(
        "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'orders' "
        "ORDER BY TABLE_NAME"
    )
    assert tables == [["order", "InnoDB"], ["order_detail", "InnoDB"], ["order_item", "InnoDB"]]


def test_order_columns(mariadb):
    assert columns(mariadb, "order") == [
        ("orderId", "int", None, False),
        ("orderAmount", "decimal", (6, 2), False),
        ("orderStatus", "varchar", 30, False),
        ("orderDateTime", "varchar", 30, False),
        ("shipToName", "varchar", 30, False),
        ("shipToAddress", "varchar", 30, False),
        ("shipToCity", "varchar", 30, False),
        ("shipToState", "varchar", 30, False),
        ("shipToZip", "varchar", 10, False),
    ]


def test_order_detail_columns(mariadb):
    assert columns(mariadb, "order_detail") == [
        ("orderId", "int", None, False),
        ("billToName", "varchar", 45, True),
        ("billToAddress", "varchar", 45, True),
        ("billToCity", "varchar", 20, True),
        ("billToState", "varchar", 15, True),
        ("billToZip", "varchar", 10, True),
    ]


def test_order_item_columns_use_item_quantity(mariadb):
    assert columns(mariadb, "order_item") == [
        ("orderId", "int", None, False),
        ("itemId", "int", None, False),
        ("itemQuantity", "int", None, False),
        ("itemAmount", "decimal", (6, 2), False),
        ("itemStatus", "varchar", 15, False),
    ]
    # The sample's misspelling must appear nowhere, in the schema or in either file.
    assert mariadb.query(
        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'orders' "
        "AND COLUMN_NAME LIKE '%Quanity%'"
    ) == [["0"]]
    for path in (SCHEMA_SQL, DATA_SQL):
        assert "quanity" not in path.read_text().lower(), path.name


def test_keys(mariadb):
    keys = mariadb.query(
        "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME "
        "FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = 'orders' "
        "ORDER BY TABLE_NAME, CONSTRAINT_NAME = 'PRIMARY', CONSTRAINT_NAME, ORDINAL_POSITION"
    )
    assert keys == [
        ["order", "PRIMARY", "orderId", None, None],
        ["order_detail", "fk_order_detail_order", "orderId", "order", "orderId"],
        ["order_detail", "PRIMARY", "orderId", None, None],
        ["order_item", "fk_order_item_order", "orderId", "order", "orderId"],
        ["order_item", "PRIMARY", "orderId", None, None],
        ["order_item", "PRIMARY", "itemId", None, None],
    ]


def test_schema_script_can_run_again(mariadb):
    done = mariadb.run_file(SCHEMA_SQL)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert mariadb.query("SELECT COUNT(*) FROM `order`") == [["15"]]
    assert mariadb.query("SELECT COUNT(*) FROM order_item") == [["30"]]


def test_header_documents_cdc_settings_without_running_rds_calls():
    text = SCHEMA_SQL.read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("--"))
    for setting in ("binlog_format    = ROW", "binlog_row_image = FULL", "binlog_checksum  = NONE"):
        assert setting in header, setting
    assert "CALL mysql.rds_set_configuration('binlog retention hours', 24);" in header
    # Only in comments: the procedure exists on RDS alone.
    for line in text.splitlines():
        if "rds_set_configuration" in line:
            assert line.lstrip().startswith("--"), line


# ------------------------------------------------------------------------------ data


def test_orders(mariadb):
    rows = mariadb.query(
        "SELECT orderId, orderAmount, orderStatus, orderDateTime, shipToName, shipToAddress, shipToCity, "
        "shipToState, shipToZip FROM `order` ORDER BY orderId"
    )
    assert [int(r[0]) for r in rows] == ORDER_IDS
    for order_id, amount, status, when, *ship_to in rows:
        assert amount == "300.00" and Decimal(amount) == Decimal("300"), order_id
        assert status == "New", order_id
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", when), when
        assert all(value and value.strip() for value in ship_to), order_id
        assert re.fullmatch(r"\d{5}", ship_to[4]), ship_to


def test_order_items(mariadb):
    rows = mariadb.query(
        "SELECT orderId, itemId, itemQuantity, itemAmount, itemStatus FROM order_item ORDER BY orderId, itemId"
    )
    expected = []
    for n, order_id in enumerate(ORDER_IDS, start=1):
        expected.append([str(order_id), str(999900000 + 2 * n - 1), "10", "100.00", "New"])
        expected.append([str(order_id), str(999900000 + 2 * n), "20", "200.00", "New"])
    assert rows == expected
    assert sorted(int(r[1]) for r in rows) == list(range(999900001, 999900031))
    assert {Decimal(r[3]) for r in rows} == {Decimal("100"), Decimal("200")}


def test_item_amounts_add_up_to_the_order_amount(mariadb):
    rows = mariadb.query(
        "SELECT o.orderId, o.orderAmount, SUM(i.itemAmount), COUNT(*) FROM `order` o "
        "JOIN order_item i ON i.orderId = o.orderId GROUP BY o.orderId, o.orderAmount ORDER BY o.orderId"
    )
    assert rows == [[str(order_id), "300.00", "300.00", "2"] for order_id in ORDER_IDS]


def test_no_other_rows(mariadb):
    assert mariadb.query("SELECT COUNT(*) FROM order_detail") == [["0"]]
    assert mariadb.query("SELECT COUNT(DISTINCT orderStatus), MIN(orderStatus) FROM `order`") == [["1", "New"]]
    assert mariadb.query("SELECT COUNT(DISTINCT itemStatus), MIN(itemStatus) FROM order_item") == [["1", "New"]]


def test_binary_log_holds_what_cdc_streams(mariadb):
    """The row events DMS would read: 15 + 30 inserts, then the 30 items Picked -> New."""
    logs = [line[0] for line in mariadb.query("SHOW BINARY LOGS", database="mysql")]
    done = subprocess.run(
        [mariadb.binlog_tool, "--no-defaults", "--base64-output=decode-rows", "--verbose",
         *[str(mariadb.log_bin.parent / name) for name in logs]],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.count("### INSERT INTO `orders`.`order`\n") == 15
    assert text.count("### INSERT INTO `orders`.`order_item`\n") == 30
    assert text.count("### UPDATE `orders`.`order_item`\n") == 30
    assert "### UPDATE `orders`.`order`\n" not in text  # the orders were New already
    updates = text.split("### UPDATE `orders`.`order_item`\n")[1:]
    for update in updates:
        before, after = update.split("### SET\n", 1)
        assert "@5='Picked'" in before and "@5='New'" in after.split("# at")[0]
        # binlog_row_image=FULL: every column in both images.
        assert all(f"@{n}=" in before for n in range(1, 6))
