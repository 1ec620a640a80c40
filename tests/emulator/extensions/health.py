"""``GET /_emulator/health``: tells the emulator apart from a plain moto (used by ctl.sh)."""

from __future__ import annotations

from typing import Any

from . import _support

PATH = "/_emulator/health"


def _health_middleware(app: Any) -> Any:
    def middleware(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == PATH:
            import moto

            return _support.json_response(
                start_response,
                200,
                {"status": "ok", "moto": moto.__version__, "extensions": list(_support.LOADED)},
            )
        return app(environ, start_response)

    return middleware


def register() -> None:
    _support.add_middleware(_health_middleware)
