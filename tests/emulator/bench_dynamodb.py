"""`make bench-emulator`: requests per second of the DynamoDB operations the function and the
engine make, served by the emulator, at the table sizes the benchmarks reach.

    python tests/emulator/bench_dynamodb.py [--sizes 0,20000,100000] [--seconds 3] [--repeats 3]

For each size, a fresh emulator (realism off: this measures serving, not AWS's settling) gets a
table shaped like the quickstart's sink (`orderId` N, `itemId` N, on demand) filled with that
many items of ~430 bytes (the sample's enriched order items) by BatchWriteItem, then each
operation is sent back to back from one client for `--seconds`, `--repeats` times: the table
shows the median requests per second and, last, TransactWriteItems' time per request as a
multiple of PutItem's. `--moto-transactions` runs moto's own TransactWriteItems (a deep copy of
the table per request) beside ours, in the same run. Talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from conftest import free_port, health  # noqa: E402

TABLE = "bench-sink"
# A request still unanswered after this long is counted as taking this long.
READ_TIMEOUT = 60


def item(order: int, line: int) -> dict:
    text = {"S": "x" * 24}
    return {
        "orderId": {"N": str(order)}, "itemId": {"N": str(line)},
        "orderAmount": {"N": "123.45"}, "itemAmount": {"N": "12.34"}, "itemQuantity": {"N": "2"},
        **{f"field{n}": text for n in range(10)},
        "status": {"S": "NEW"}, "orderDate": {"S": "2026-12-07T12:00:00Z"},
    }


class Emulator:
    def __init__(self, moto_transactions: bool) -> None:
        port = free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        env = dict(os.environ, EMULATOR_REALISM="0", AWS_EC2_METADATA_DISABLED="true")
        if moto_transactions:
            env["EMULATOR_DYNAMODB_MOTO_TRANSACTIONS"] = "1"
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "launcher.py"), "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while health(self.endpoint) is None:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"the emulator did not start on {self.endpoint}")
            time.sleep(0.2)
        self.ddb = boto3.client("dynamodb", endpoint_url=self.endpoint, region_name="us-east-1",
                                aws_access_key_id="testing", aws_secret_access_key="testing",
                                config=Config(retries={"max_attempts": 1}, read_timeout=READ_TIMEOUT))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:  # still inside a long request
            self.process.kill()
            self.process.wait()


def fill(ddb, size: int) -> None:
    ddb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"},
                   {"AttributeName": "itemId", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "N"},
                              {"AttributeName": "itemId", "AttributeType": "N"}])
    for start in range(0, size, 25):
        batch = [{"PutRequest": {"Item": item(n // 5, n % 5)}} for n in range(start, min(size, start + 25))]
        ddb.batch_write_item(RequestItems={TABLE: batch})


def operations(ddb, size: int) -> dict[str, Callable[[int], None]]:
    """Each operation, given a running count (fresh keys above the filled ones). The
    conditional DeleteItem deletes what the two PutItems wrote, and ends its run early
    (StopIteration) once all of it is gone."""
    fresh = 10_000_000 + size
    written: list[tuple[int, int]] = []

    def put(n: int) -> None:
        ddb.put_item(TableName=TABLE, Item=item(fresh + n, 0))
        written.append((fresh + n, 0))

    def put_conditional(n: int) -> None:
        ddb.put_item(TableName=TABLE, Item=item(fresh + n, 1), ConditionExpression="attribute_not_exists(orderId)")
        written.append((fresh + n, 1))

    def get(n: int) -> None:
        ddb.get_item(TableName=TABLE, Key={"orderId": {"N": str(n % max(1, size // 5))}, "itemId": {"N": "0"}})

    def query(n: int) -> None:
        ddb.query(TableName=TABLE, KeyConditionExpression="orderId = :o",
                  ExpressionAttributeValues={":o": {"N": str(n % max(1, size // 5))}})

    def delete_conditional(n: int) -> None:
        if not written:
            raise StopIteration
        order, line = written.pop()
        ddb.delete_item(TableName=TABLE, Key={"orderId": {"N": str(order)}, "itemId": {"N": str(line)}},
                        ConditionExpression="attribute_exists(orderId)")

    def batch_write(n: int) -> None:
        ddb.batch_write_item(RequestItems={TABLE: [
            {"PutRequest": {"Item": item(fresh + n, 10 + k)}} for k in range(25)]})

    def transact(count: int) -> Callable[[int], None]:
        def write(n: int) -> None:
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": TABLE, "Item": item(fresh + n, 100 + count * 10 + k),
                         "ConditionExpression": "attribute_not_exists(orderId)"}} for k in range(count)])
        return write

    return {"PutItem": put, "PutItem (conditional)": put_conditional, "GetItem": get, "Query": query,
            "DeleteItem (conditional)": delete_conditional, "BatchWriteItem (25)": batch_write,
            "TransactWriteItems (2)": transact(2), "TransactWriteItems (10)": transact(10)}


def rate(call: Callable[[int], None], seconds: float, offset: int) -> tuple[float, int]:
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        try:
            call(offset + n)
        except StopIteration:
            break
        except ReadTimeoutError:
            return 1 / READ_TIMEOUT, n + 1
        n += 1
    return n / (time.perf_counter() - started), n


def per_request(rate_: float) -> str:
    """Requests per second, and the time of one."""
    return f"{rate_:,.0f}/s ({1000 / rate_:,.1f} ms)" if rate_ >= 1 else f"{rate_:.2f}/s ({1 / rate_:,.1f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,20000,100000")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--moto-transactions", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    variants = [False, True] if args.moto_transactions else [False]
    results: dict[tuple[str, int, bool], float] = {}
    names: list[str] = []
    for size in sizes:
        for moto in variants:
            emulator = Emulator(moto)
            try:
                print(f"table of {size} items{' (moto transactions)' if moto else ''}: filling", file=sys.stderr, flush=True)
                fill(emulator.ddb, size)
                ops = operations(emulator.ddb, size)
                names = list(ops)
                offset = 0
                for name, call in ops.items():
                    if moto and not name.startswith("Transact") and name != "PutItem":
                        continue
                    rates = []
                    for _ in range(args.repeats):
                        r, n = rate(call, args.seconds, offset)
                        offset += n
                        rates.append(r)
                        if r <= 1 / READ_TIMEOUT:  # timed out: once is enough
                            break
                    results[(name, size, moto)] = statistics.median(rates)
                    print(f"  {name}: {per_request(statistics.median(rates))}", file=sys.stderr, flush=True)
            finally:
                emulator.stop()
    header = "| operation (one client, back to back) | " + " | ".join(f"{s:,} items" for s in sizes) + " |"
    print(header)
    print("|" + "---|" * (len(sizes) + 1))
    for moto in variants:
        for name in names:
            if (name, sizes[0], moto) not in results:
                continue
            label = name + (" — moto's" if moto else "")
            print(f"| {label} | " + " | ".join(per_request(results[(name, s, moto)]) for s in sizes) + " |")
        ratio = " | ".join(f"{results[('PutItem', s, moto)] / results[('TransactWriteItems (2)', s, moto)]:.1f}×"
                           for s in sizes)
        print(f"| TransactWriteItems (2) time ÷ PutItem time{' — moto' if moto else ''} | {ratio} |")


if __name__ == "__main__":
    main()
