#!/usr/bin/env python3
"""Runs the local AWS emulator: moto in server mode plus the project's extensions.

    python tests/emulator/launcher.py --host 127.0.0.1 --port 4566 [--pidfile FILE] [--verbose]

Serves in the foreground until SIGTERM or SIGINT, then exits 0. The port is bound only
after every extension in ``extensions/`` has been registered, so "the port accepts a TCP
connection" already means "the emulator is ready". ``GET /_emulator/health`` answers with
the moto version and the loaded extensions (``ctl.sh`` uses it to recognise its emulator).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

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
        # werkzeug logs one line per request at INFO; moto logs docker/invoke noise.
        for name in ("werkzeug", "moto", "botocore", "urllib3", "docker"):
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.verbose)

    # moto reads a few settings from the environment at import time.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

    from werkzeug.serving import make_server

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    import extensions

    cache_service_lookup()
    cache_action_lookup()
    skip_query_parse_of_large_json()
    loaded = extensions.load_all()
    app = extensions.wrap_app(DomainDispatcherApplication(create_backend_app))

    class RequestHandler(MotoRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            if args.verbose:
                super().log_request(code, size)

    server = make_server(args.host, args.port, app, threaded=True, request_handler=RequestHandler)
    server.daemon_threads = True
    host, port = server.server_address[:2]

    def stop(signum: int, _frame: object) -> None:
        # shutdown() waits for serve_forever() to return: never call it on the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

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
        server.serve_forever()
    finally:
        server.server_close()
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
