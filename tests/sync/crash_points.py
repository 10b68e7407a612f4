"""A worker "killed" right after (or right before) one vendor call, for the intent tests.

:class:`CrashPoints` wraps the sandbox transports of a container. Armed with a method and a
path pattern, the next matching request is forwarded to the sandbox (so the vendor really stores
the copy) and then :class:`WorkerKilled` is raised instead of the answer: the process "dies"
between the vendor's write and our commit. No code of ours is replaced; the exception is a
``BaseException`` so no ``except`` clause of ours catches it, as none would run after ``kill -9``.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import httpx2

from forcebridge.container import Container, TransportOverride


class WorkerKilled(BaseException):
    """Stands for ``kill -9`` at this point: nothing of ours runs after it."""


@dataclass
class _Rule:
    method: str
    path: re.Pattern[str]
    after_the_vendor_wrote: bool


class CrashPoints:
    def __init__(self, inner: TransportOverride) -> None:
        self._inner = inner
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()

    @classmethod
    def install(cls, container: Container) -> CrashPoints:
        assert container.transport_override is not None
        points = cls(container.transport_override)
        container.transport_override = points.transport_override
        return points

    def arm(self, method: str, path: str, *, after_the_vendor_wrote: bool = True) -> None:
        """Crash at the next ``method`` request whose path matches the regular expression."""
        with self._lock:
            self._rules.append(_Rule(method, re.compile(path), after_the_vendor_wrote))

    def take(self, request: httpx2.Request) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.method == request.method and rule.path.search(request.url.path):
                    self._rules.remove(rule)
                    return rule
        return None

    def transport_override(self, service: str, base_url: str) -> httpx2.BaseTransport | None:
        inner = self._inner(service, base_url)
        return None if inner is None else _CrashingTransport(inner, self)


class _CrashingTransport(httpx2.BaseTransport):
    def __init__(self, inner: httpx2.BaseTransport, points: CrashPoints) -> None:
        self._inner = inner
        self._points = points

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        rule = self._points.take(request)
        if rule is None:
            return self._inner.handle_request(request)
        if not rule.after_the_vendor_wrote:
            raise WorkerKilled(f"killed before {request.method} {request.url.path}")
        response = self._inner.handle_request(request)
        response.read()
        raise WorkerKilled(f"killed after {request.method} {request.url.path} landed")

    def close(self) -> None:
        self._inner.close()
