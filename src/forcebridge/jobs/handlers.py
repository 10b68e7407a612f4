"""The registry of job handlers: which function runs a job of a given ``kind``.

Feature packages register their handlers (``register_handler("sync.push", push_association)``);
the worker loads the modules named in :data:`BUILTIN_HANDLER_MODULES` plus any given with
``forcebridge worker --handlers module:function``. A handler receives a :class:`JobContext` and
opens its own sessions; it must be idempotent: a job can run more than once (a worker killed after
the effect but before recording completion), so effects are keyed by something stable.

A handler signals the outcome by raising: ``TransientExternalError`` (retried with backoff,
honouring its ``retry_after``), ``NeedsAdminAction`` (stopped until replayed) or anything else
(a bug: logged with its traceback, retried a few times, then a dead letter).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from forcebridge.container import Container
from forcebridge.errors import ConfigurationError
from forcebridge.jobs.settings import JobSettings

# module:function specs run by every worker; each function takes the registry and registers.
BUILTIN_HANDLER_MODULES: tuple[str, ...] = (
    "forcebridge.sync.jobs:register_handlers",
    "forcebridge.webhooks.processing:register_handlers",
    "forcebridge.polling.service:register_handlers",
    "forcebridge.jobs.retention:register_handlers",
    "forcebridge.bulk.service:register_handlers",
    "forcebridge.events.service:register_handlers",  # wraps sync.push/pull: before the guard
    "forcebridge.quota.service:register_handlers",  # last: wraps the background handlers
)


@dataclass(frozen=True)
class JobContext:
    """What a handler knows about the job it runs (a snapshot; the row may change meanwhile)."""

    container: Container
    job_id: str
    kind: str
    payload: dict[str, Any]
    connection_id: str | None
    attempt: int
    worker_id: str
    settings: JobSettings


Handler = Callable[[JobContext], None]
# Periodic work run by every sweep of a worker: (container, job settings, now).
PeriodicHook = Callable[[Container, JobSettings, datetime], object]


@dataclass
class HandlerRegistry:
    """kind → handler. One per worker process (:data:`handlers`); tests build their own."""

    _handlers: dict[str, Handler] = field(default_factory=dict)
    _periodic: list[PeriodicHook] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def register(self, kind: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[kind] = handler

    def register_periodic(self, hook: PeriodicHook) -> None:
        """Run ``hook(container, settings, now)`` on every sweep (e.g. poll scheduling)."""
        with self._lock:
            if hook not in self._periodic:
                self._periodic.append(hook)

    def periodic_hooks(self) -> list[PeriodicHook]:
        return list(self._periodic)

    def get(self, kind: str) -> Handler | None:
        return self._handlers.get(kind)

    def kinds(self) -> list[str]:
        return sorted(self._handlers)

    def load(self, specs: Iterable[str]) -> None:
        """Import each ``module:function`` and call ``function(self)`` so it registers handlers."""
        for spec in specs:
            module_name, _, function_name = spec.partition(":")
            if not module_name or not function_name:
                raise ConfigurationError(
                    f"Handler spec {spec!r} is not 'module:function'",
                    hint="For example --handlers mypackage.jobs:register_handlers",
                )
            try:
                module = importlib.import_module(module_name)
            except ImportError as error:
                raise ConfigurationError(
                    f"Cannot import handler module {module_name!r}: {error}"
                ) from None
            function = getattr(module, function_name, None)
            if not callable(function):
                raise ConfigurationError(f"{module_name!r} has no function {function_name!r}")
            function(self)


handlers = HandlerRegistry()


def register_handler(kind: str, handler: Handler) -> None:
    """Register ``handler`` for jobs of ``kind`` in the process-wide registry."""
    handlers.register(kind, handler)
