#!/usr/bin/env python3
"""Runs the local AWS emulator: moto in server mode plus the project's extensions.

    python tests/emulator/launcher.py --host 127.0.0.1 --port 4566 [--pidfile FILE] [--verbose]

Serves in the foreground until SIGTERM or SIGINT, then exits 0. The port is bound only
after every extension in ``extensions/`` has been registered, so "the port accepts a TCP
connection" already means "the emulator is ready". ``GET /_emulator/health`` answers with
the moto version and the loaded extensions (``ctl.sh`` uses it to recognise its emulator).

moto's WSGI application is served by cheroot (a pool of worker threads, HTTP/1.1 keep-alive,
idle connections watched through the OS's selector), not by moto's own werkzeug development
server, which starts a thread per connection, closes every connection after one request and
then holds it open 10 ms more to drain it: serving moto took most of a call's time there, and a
burst of calls queued behind it. Nor by waitress, whose one loop thread asks every open
connection whether it is readable and writable on every turn, holding the interpreter's lock: with
the ~50 keep-alive connections of a running pipeline (ten function processes, the load
generator, the runner) that loop took 63 % of the emulator's time (py-spy --gil) and the
pipeline slowed to 10-50 records/s.
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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cheroot import wsgi

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
        # moto logs docker/invoke noise; cheroot of every client that hangs up mid-call.
        for name in ("werkzeug", "cheroot", "moto", "botocore", "urllib3", "docker"):
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
# anyway; more threads only wait for it). Calls beyond them queue in cheroot, not in the
# kernel. No request blocks on another (the emulator never waits for a client), so a pool
# cannot deadlock.
THREADS = 16


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
# The most of the emulator's time full collections may take: one that took t seconds is
# followed by none for t / GC_TIME_SHARE seconds.
GC_TIME_SHARE = 0.02


def collection_due(since: float, idle: bool, took: float) -> bool:
    """Whether a full collection is due `since` seconds after the last, which took `took`."""
    spacing = took / GC_TIME_SHARE
    return since >= max(COLLECT_AT_MOST_EVERY if idle else COLLECT_AT_LEAST_EVERY, spacing)


def collect_garbage_when_idle(app: Callable) -> Callable:
    """Full garbage collections run while no call is in flight, not in the middle of a burst.

    moto's heap grows to hundreds of MB (every service's botocore model, every resource), and
    Python's full collection walks all of it: 110 ms once during a create-plan-destroy cycle,
    every call in flight stalled behind it. Automatic collections now stop short of the oldest
    generation; a thread runs the full collection once the emulator has served nothing for
    ``IDLE_BEFORE_COLLECTING``, at most every ``COLLECT_AT_MOST_EVERY`` seconds, and, under
    unbroken load, every ``COLLECT_AT_LEAST_EVERY`` seconds all the same. A full collection
    takes longer as the heap grows (0.8 s over 200,000 DynamoDB items; several seconds in a
    long benchmark, every call stalled meanwhile), so none follows sooner than keeps them to
    ``GC_TIME_SHARE`` of the time. Reference counting, and the young generations' automatic
    collections, free what they free as before."""
    log = logging.getLogger("emulator.gc")
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
        collected_at, collected_after, took = time.monotonic(), 0, 0.0
        while True:
            time.sleep(IDLE_BEFORE_COLLECTING / 2)
            now = time.monotonic()
            with lock:
                idle = state["in_flight"] == 0 and now - state["last"] >= IDLE_BEFORE_COLLECTING
                served = state["served"]
            if served != collected_after and collection_due(now - collected_at, idle, took):
                gc.collect()
                collected_at, collected_after = time.monotonic(), served
                took = collected_at - now
                # A long one is worth knowing of: every call in flight waited for it.
                log.log(logging.WARNING if took >= 1.0 else logging.DEBUG,
                        "full garbage collection took %.2f s; the next in %.0f s at the earliest",
                        took, max(COLLECT_AT_MOST_EVERY, took / GC_TIME_SHARE))

    threading.Thread(target=collector, name="idle-gc", daemon=True).start()
    return middleware


class Server:
    """cheroot's WSGI server: bound on creation, serving in ``run`` until SIGTERM/SIGINT."""

    def __init__(self, app: Callable, host: str, port: int) -> None:
        from cheroot import server, wsgi

        class Request(server.HTTPRequest):  # type: ignore[misc]
            """Takes a request target in absolute form (``POST http://host:port/ HTTP/1.1``),
            as HTTP/1.1 servers must (RFC 9112, 3.2.2) and AWS does: cheroot answers 400
            unless it runs as a proxy, which changes nothing else for these requests."""

            def __init__(self, server_: Any, conn: Any, proxy_mode: bool = True,
                         strict_mode: bool = True) -> None:
                super().__init__(server_, conn, proxy_mode=True, strict_mode=strict_mode)

        class Connection(server.HTTPConnection):  # type: ignore[misc]
            RequestHandlerClass = Request

        self.server: wsgi.Server = wsgi.Server(
            (host, port),
            app,
            numthreads=THREADS,
            max=THREADS,
            request_queue_size=1024,
            # Idle keep-alive connections stay open this long (SDKs keep theirs for a minute
            # or more; cheroot's 10 s default would cut them under the clients' feet).
            timeout=300,
            server_name="emulator",
        )
        # cheroot closes a connection after its call once this many others wait idle: SDK
        # clients keep theirs, and a running pipeline has dozens.
        self.server.keep_alive_conn_limit = 1000
        self.server.ConnectionClass = Connection
        self.server.prepare()
        self.effective_host, self.effective_port = self.server.bind_addr[:2]

    def run(self) -> None:
        self.server.serve()

    def close(self) -> None:
        self.server.stop()


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

    server = Server(app, args.host, args.port)
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
    try:
        status = main()
    except SystemExit as stop:  # how SIGTERM and SIGINT end the server (and argparse an error)
        if isinstance(stop.code, int) or stop.code is None:
            status = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
            status = 1
    # Everything the emulator holds is in memory and goes with the process: the interpreter's
    # own shutdown would free it object by object (and collect it once more) first, which for a
    # benchmark's heap of many GiB outlasts ctl.sh's 10 s grace. The logs are flushed instead.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
