"""One registry shape for every pluggable concept: register by name, look up and build by name.

An entry is a name, the object it builds (a class or a function) and metadata that consumers read
without building it: a metric's direction and the inputs it needs, a converter's description. The
registries live here (the bottom layer) so that every consumer reads the same one; the entries
register themselves where they are defined (``paintscape.models``, ``paintscape.evaluate.metrics``,
``paintscape.reference``, ``paintscape.train.objectives``), and importing that package fills the
registry. Tests are parametrised over each registry, so an entry is tested the day it is added.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from paintscape.suggest import did_you_mean


@dataclass(frozen=True)
class Entry:
    """A registered name: what it builds (``target``) and what consumers may read about it."""

    name: str
    target: Callable[..., Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.metadata[key]


class Registry:
    """Maps names to entries. ``build`` checks the keyword arguments against the target's signature
    so that a typo in a config names the bad key and the accepted ones instead of a TypeError deep
    down. ``required`` lists the metadata every entry must declare."""

    def __init__(self, kind: str, required: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.required = required
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, **metadata: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        missing = [key for key in self.required if key not in metadata]
        if missing:
            raise ValueError(f"{self.kind} {name!r} must declare {', '.join(missing)}")

        def decorator(target: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(name, target, dict(metadata))
            return target

        return decorator

    def unregister(self, name: str) -> None:
        self.entry(name)
        del self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        """Every entry in registration order (the order consumers show them in)."""
        return list(self._entries.values())

    def entry(self, name: str) -> Entry:
        if name not in self._entries:
            raise ValueError(f"unknown {self.kind} {name!r}{did_you_mean(name, self.names())}; valid names: {', '.join(self.names()) or '(none)'}")
        return self._entries[name]

    def get(self, name: str) -> Callable[..., Any]:
        return self.entry(name).target

    def accepted_arguments(self, name: str) -> list[str]:
        params = inspect.signature(self.get(name)).parameters.values()
        return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]

    def build(self, name: str, **kwargs: Any) -> Any:
        target = self.get(name)
        params = inspect.signature(target).parameters
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            unknown = sorted(set(kwargs) - set(params))
            if unknown:
                raise ValueError(
                    f"{self.kind} {name!r} takes no argument {', '.join(map(repr, unknown))}"
                    f"{did_you_mean(unknown[0], self.accepted_arguments(name))}; "
                    f"accepted: {', '.join(self.accepted_arguments(name))}"
                )
        return target(**kwargs)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())


#: Generator families (``paintscape.models``); each subclasses ``models.base.Generator``.
GENERATORS = Registry("generator")
#: Discriminators (``paintscape.models``): ``forward(label, image)``, outputs as the objective reads them.
DISCRIMINATORS = Registry("discriminator")
#: Quality metrics (``paintscape.evaluate.metrics``): what they need, which way is better, their title.
METRICS = Registry("metric", required=("needs", "higher_is_better", "title"))
#: Reference-weight converters, one per ``convert-reference`` preset (``paintscape.reference``).
CONVERTERS = Registry("reference converter", required=("description",))
#: Training objectives, looked up by ``loss.objective`` (``paintscape.train.objectives``).
OBJECTIVES = Registry("training objective", required=("description",))
