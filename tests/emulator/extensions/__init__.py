"""The emulator's extensions to moto, one module per AWS service (or feature).

Every module in this package whose name does not start with ``_`` is imported by
``load_all()`` (alphabetically) and must define ``register() -> None``, which patches moto
in-process: a backend/model method, a response handler, or a WSGI middleware added with
``_support.add_middleware`` (for whole services moto lacks). ``register()`` must be safe to
call more than once (``_support.override`` takes care of that for method patches).

Adding an extension is a matter of dropping a module here; the launcher needs no change.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from . import _support

__all__ = ["load_all", "wrap_app"]


def load_all() -> list[str]:
    """Imports every extension module and calls its ``register()``; returns their names."""
    loaded = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if not callable(register):
            raise RuntimeError(f"emulator extension {info.name} has no register() function")
        register()
        loaded.append(info.name)
    _support.LOADED[:] = loaded
    return loaded


def wrap_app(app: Any) -> Any:
    """Wraps moto's WSGI application in the extensions' middlewares."""
    return _support.wrap_app(app)
