"""Checks compiled once per message type and shared by every thread of the server.

``well_formed`` and ``request_checks`` turn a message type into straight-line code the
first time a request of that type arrives. A type's check calls the checks of the types
it holds, and a type that holds itself (``Value``) must find its own check while that
check is still being built, before the checks it calls are bound. A check is therefore
handed to other threads only once every check it may call is bound: until the outermost
compilation finishes, the checks being built are seen only by the thread building them,
under one lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class CompiledChecks:
    """One compiled check per message type (by full name), built by ``build``.

    ``build(desc)`` makes the check of ``desc``, calls ``building(desc, check)`` as soon as
    the check exists (before compiling the checks it calls, so that a type holding itself
    finds its own), then binds those by calling this registry again.
    """

    def __init__(self, build: Callable[[Any], Any]) -> None:
        self._build = build
        self._ready: dict[str, Any] = {}
        self._building: dict[str, Any] = {}
        self._depth = 0
        self._lock = threading.RLock()

    def __call__(self, desc: Any) -> Any:
        """The check of message type ``desc``, compiled on first use."""
        done = self._ready.get(desc.full_name)
        if done is not None:
            return done
        with self._lock:
            found = self._ready.get(desc.full_name) or self._building.get(desc.full_name)
            if found is not None:
                return found
            self._depth += 1
            try:
                check = self._build(desc)
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._building.clear()
                raise
            self._depth -= 1
            self._building.setdefault(desc.full_name, check)
            if self._depth == 0:  # every check built so far has its callees bound
                self._ready.update(self._building)
                self._building.clear()
            return check

    def building(self, desc: Any, check: Any) -> None:
        """Makes ``check`` the one of ``desc`` for the thread building it (see above)."""
        self._building[desc.full_name] = check
