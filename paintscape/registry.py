"""One explicit registry per kind of network: register by name, build by name with keyword args."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


class Registry:
    """Maps names to constructors. ``build`` checks the keyword arguments against the signature so
    that a typo in a config names the bad key and the accepted ones instead of a TypeError deep down."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = factory
            return factory

        return decorator

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._entries:
            raise ValueError(f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names()) or '(none)'}")
        return self._entries[name]

    def accepted_arguments(self, name: str) -> list[str]:
        params = inspect.signature(self.get(name)).parameters.values()
        return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]

    def build(self, name: str, **kwargs: Any) -> Any:
        factory = self.get(name)
        params = inspect.signature(factory).parameters
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            unknown = sorted(set(kwargs) - set(params))
            if unknown:
                raise ValueError(
                    f"{self.kind} {name!r} takes no argument {', '.join(map(repr, unknown))}; "
                    f"accepted: {', '.join(self.accepted_arguments(name))}"
                )
        return factory(**kwargs)

    def __contains__(self, name: str) -> bool:
        return name in self._entries


GENERATORS = Registry("generator")
DISCRIMINATORS = Registry("discriminator")
