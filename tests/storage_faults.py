"""A database outage on demand, for the in-memory store: every call through the client raises what pymongo
raises when the server is unreachable, until the outage ends. The storage code on top is the real one."""

from __future__ import annotations

from typing import Any

from pymongo.errors import ServerSelectionTimeoutError


class Outage:
    def __init__(self) -> None:
        self.down = False
        self.refused_calls: list[tuple[str, tuple[Any, ...]]] = []  # the calls that met the outage, with arguments

    @property
    def refused(self) -> int:
        return len(self.refused_calls)

    def refused_insert(self, **fields: Any) -> bool:
        """Whether a document with these fields could not be inserted."""
        documents = [args[0] for name, args in self.refused_calls if name == "insert_one"]
        documents += [doc for name, args in self.refused_calls if name == "insert_many" for doc in args[0]]
        return any(all(doc.get(key) == value for key, value in fields.items()) for doc in documents)

    def check(self, call: str, args: tuple[Any, ...]) -> None:
        if self.down:
            self.refused_calls.append((call, args))
            raise ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused (outage injected)")


class FlakyProxy:
    """Wraps a client, a database or a collection; calls go through unless the outage is on."""

    def __init__(self, target: Any, outage: Outage) -> None:
        self._target = target
        self._outage = outage

    def __getitem__(self, name: str) -> FlakyProxy:
        return FlakyProxy(self._target[name], self._outage)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name in {"close", "name"}:
            return value
        if callable(value):

            def call(*args: Any, **kwargs: Any) -> Any:
                self._outage.check(name, args)
                return value(*args, **kwargs)

            return call
        return FlakyProxy(value, self._outage)  # client.admin, ...
