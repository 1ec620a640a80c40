#!/usr/bin/env python3
"""Runs the local AWS emulator: moto in server mode plus the project's extensions.

    python tests/emulator/launcher.py --host 127.0.0.1 --port 4566 [--pidfile FILE] [--verbose]

Serves in the foreground until SIGTERM or SIGINT, then exits 0. The port is bound only
after every extension in ``extensions/`` has been registered, so "the port accepts a TCP
connection" already means "the emulator is ready". ``GET /_emulator/health`` answers with
the moto version and the loaded extensions (``ctl.sh`` uses it to recognise its emulator).

moto's WSGI application is served by waitress (a pool of worker threads, HTTP/1.1 keep-alive),
not by moto's own werkzeug development server, which starts a thread per connection, closes
every connection after one request and then holds it open 10 ms more to drain it: serving
moto took most of a call's time there, and a burst of calls queued behind it.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import waitress.server

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4566, help="port to bind; 0 picks a free one (default 4566)")
    parser.add_argument("--pidfile", help="write the process id here once serving; removed on exit")
    parser.add_argument("--verbose", action="store_true", help="log every request and moto's messages")
    return parser.parse_args(argv)


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # moto logs docker/invoke noise; waitress warns of every queued call during a burst.
        for name in ("werkzeug", "waitress", "moto", "botocore", "urllib3", "docker"):
            logging.getLogger(name).setLevel(logging.ERROR)
    else:
        for name in ("botocore", "urllib3", "docker"):
            logging.getLogger(name).setLevel(logging.INFO)


def cache_service_lookup() -> None:
    """moto maps each request's host to a service by listing its own package directory and
    stat-ing every entry (~180 system calls), on every request: two thirds of a simple call's
    time. The list cannot change while the emulator runs, so it is made once."""
    import functools

    from moto import backends

    listing = backends.list_of_moto_modules
    backends.list_of_moto_modules = functools.cache(lambda: tuple(listing()))


def cache_action_lookup() -> None:
    """moto finds a request's handler by listing every function of the response class
    (``inspect.getmembers`` over its whole MRO) on every request: about a tenth of a simple
    call's time. The classes are complete once the extensions are loaded, so each list is
    made once, at the class's first request."""
    import functools

    from moto.core import responses

    listing = responses.method_names_from_class
    responses.method_names_from_class = functools.cache(lambda clazz: frozenset(listing(clazz)))


# Below this size a body's query-string parse costs microseconds: leave moto as it is.
LARGE_BODY = 64 * 1024


def skip_query_parse_of_large_json() -> None:
    """moto parses every request body as a query string when the URL has none, even a JSON
    one, where the result means nothing (the whole document becomes one key). For a 4 MB
    CreateFunction package (5.5 MB of JSON) that took about 20 ms. A large body that is a
    JSON object now parses to nothing, as a body-less request does."""
    from moto.core import responses

    parse = getattr(responses.parse_qsl, "__wrapped__", responses.parse_qsl)

    def parse_qsl(text: str, *args: object, **kwargs: object) -> list[tuple[str, str]]:
        if isinstance(text, str) and len(text) > LARGE_BODY and text[:64].lstrip()[:1] == "{":
            return []
        return parse(text, *args, **kwargs)

    parse_qsl.__wrapped__ = parse  # type: ignore[attr-defined]
    responses.parse_qsl = parse_qsl


# Worker threads: the most calls moto handles at once (it runs one at a time under the GIL
# anyway; more threads only wait for it). Calls beyond them queue in waitress, not in the
# kernel. No request blocks on another (the emulator never waits for a client), so a pool
# cannot deadlock.
THREADS = 16
# Request and response bodies up to this size stay in memory (waitress's default spills
# anything over 512 KiB to a temporary file: every Lambda package would).
IN_MEMORY_BODY = 256 * 1024 * 1024


def log_requests(app: Callable) -> Callable:
    """``--verbose``: one line per request (method, path, status), as werkzeug logged them."""
    log = logging.getLogger("emulator.requests")

    def middleware(environ: dict, start_response: Callable) -> object:
        def start(status: str, headers: list, exc_info: object = None) -> object:
            log.info("%s %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return middleware


# Full garbage collections (see collect_garbage_when_idle): after this long without a call,
# at most this often, and at least this often whatever the load.
IDLE_BEFORE_COLLECTING = 0.3
COLLECT_AT_MOST_EVERY = 5.0
COLLECT_AT_LEAST_EVERY = 60.0


def collect_garbage_when_idle(app: Callable) -> Callable:
    """Full garbage collections run while no call is in flight, not in the middle of a burst.

    moto's heap grows to hundreds of MB (every service's botocore model, every resource), and
    Python's full collection walks all of it: 110 ms once during a create-plan-destroy cycle,
    every call in flight stalled behind it. Automatic collections now stop short of the oldest
    generation; a thread runs the full collection once the emulator has served nothing for
    ``IDLE_BEFORE_COLLECTING``, at most every ``COLLECT_AT_MOST_EVERY`` seconds, and, under
    unbroken load, every ``COLLECT_AT_LEAST_EVERY`` seconds all the same. Reference counting
    frees what it frees as before."""
    lock = threading.Lock()
    state = {"in_flight": 0, "served": 0, "last": 0.0}
    young, middle, _ = gc.get_threshold()
    # Python never reaches this many young-generation collections between two of ours.
    gc.set_threshold(young, middle, 1 << 30)

    def middleware(environ: dict, start_response: Callable) -> object:
        with lock:
            state["in_flight"] += 1
        try:
            return app(environ, start_response)
        finally:
            with lock:
                state["in_flight"] -= 1
                state["served"] += 1
                state["last"] = time.monotonic()

    def collector() -> None:
        collected_at, collected_after = time.monotonic(), 0
        while True:
            time.sleep(IDLE_BEFORE_COLLECTING / 2)
            now = time.monotonic()
            with lock:
                idle = state["in_flight"] == 0 and now - state["last"] >= IDLE_BEFORE_COLLECTING
                served = state["served"]
            since = now - collected_at
            if served != collected_after and (
                (idle and since >= COLLECT_AT_MOST_EVERY) or since >= COLLECT_AT_LEAST_EVERY
            ):
                gc.collect()
                collected_at, collected_after = time.monotonic(), served

    threading.Thread(target=collector, name="idle-gc", daemon=True).start()
    return middleware


def create_server(app: Callable, host: str, port: int) -> "waitress.server.BaseWSGIServer":
    import waitress

    return waitress.create_server(
        app,
        host=host,
        port=port,
        threads=THREADS,
        # Connections stay open between requests now: SDK clients keep theirs, tests run
        # many clients at once.
        connection_limit=1000,
        # select() cannot watch descriptors above 1023.
        asyncore_use_poll=True,
        # A 5 MB Lambda package read 8 KiB per loop turn took 700 turns.
        recv_bytes=256 * 1024,
        inbuf_overflow=IN_MEMORY_BODY,
        outbuf_overflow=IN_MEMORY_BODY,
        # No "Server: waitress" header: moto's responses carry their own.
        ident=None,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.verbose)

    # moto reads a few settings from the environment at import time.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    import extensions

    cache_service_lookup()
    cache_action_lookup()
    skip_query_parse_of_large_json()
    loaded = extensions.load_all()
    app = extensions.wrap_app(DomainDispatcherApplication(create_backend_app))
    if args.verbose:
        app = log_requests(app)
    app = collect_garbage_when_idle(app)

    server = create_server(app, args.host, args.port)
    host, port = server.effective_host, server.effective_port

    def stop(signum: int, _frame: object) -> None:
        # Raised inside the server's loop, which ends its worker threads and returns.
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    pidfile = Path(args.pidfile) if args.pidfile else None
    if pidfile:
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        pidfile.write_text(f"{os.getpid()}\n")
    print(
        f"emulator listening on http://{host}:{port} (pid {os.getpid()}, "
        f"extensions: {', '.join(loaded) or 'none'})",
        flush=True,
    )
    try:
        server.run()
    finally:
        server.close()
        if pidfile:
            try:
                if pidfile.read_text().strip() == str(os.getpid()):
                    pidfile.unlink()
            except FileNotFoundError:
                pass
        print("emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
