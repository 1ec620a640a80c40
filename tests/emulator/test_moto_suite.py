"""moto's own DynamoDB tests, from its source distribution (the version the emulator pins,
fetched by `make setup`: tests/emulator/moto-tests.txt), run twice in-process: as moto ships,
and with the emulator's DynamoDB extension registered (`extensions/dynamodb.py`: atomic
requests, TransactWriteItems without table copies, Query by partition, reads answered as JSON,
...). Both runs must end the same, but for the differences the extension makes on purpose."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

from conftest import HERE

ROOT = HERE.parents[1]
SDIST = ROOT / ".venv" / "moto-sdist" / "moto-5.2.5.tar.gz"

# The extension's deliberate differences from moto (extensions/dynamodb.py says why): AWS's
# message for deleting a protected table, and NumberOfDecreasesToday kept after an update.
DELIBERATE = {
    "tests/test_dynamodb/exceptions/test_dynamodb_exceptions.py::test_delete_table",
    "tests/test_dynamodb/test_dynamodb_update_table.py::test_update_table__billing_mode",
}

PLUGIN = '''
import os, sys
if os.environ.get("WITH_EXTENSION") == "1":
    sys.path.insert(0, {emulator!r})
    from extensions import dynamodb
    dynamodb.register()
'''


def failures(source: Path, with_extension: bool) -> tuple[set[str], int]:
    """The node ids that failed or errored, and how many passed."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "extension_plugin", "-p", "no:cacheprovider", "-q",
         "-rfE", "--color=no", "-W", "ignore", "tests/test_dynamodb"],
        cwd=source, capture_output=True, text=True, timeout=900,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(source), "WITH_EXTENSION": "1" if with_extension else "0",
             "AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "testing",
             "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"},
    )
    failed = set(re.findall(r"^(?:FAILED|ERROR) (\S+?)(?: - |$)", run.stdout, re.MULTILINE))
    passed = re.search(r"(\d+) passed", run.stdout)
    assert passed, run.stdout[-3000:] + run.stderr[-3000:]
    return failed, int(passed.group(1))


def test_moto_dynamodb_suite_ends_the_same_with_the_extension(tmp_path):
    assert SDIST.is_file(), f"{SDIST} is missing: `make setup` fetches it"
    with tarfile.open(SDIST) as archive:
        members = [m for m in archive.getmembers()
                   if re.match(r"moto-5\.2\.5/tests/(__init__\.py|conftest\.py|test_s3/__init__\.py|test_dynamodb/)", m.name)]
        archive.extractall(tmp_path, members=members, filter="data")
    source = tmp_path / "moto-5.2.5"
    (source / "extension_plugin.py").write_text(PLUGIN.format(emulator=str(HERE)))

    as_shipped, passed = failures(source, with_extension=False)
    extended, _ = failures(source, with_extension=True)
    assert passed > 600, "moto's DynamoDB suite did not run"
    assert extended - as_shipped == DELIBERATE, sorted(extended - as_shipped)
    assert as_shipped - extended == set(), sorted(as_shipped - extended)
