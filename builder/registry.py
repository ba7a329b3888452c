"""Extension points by name: the built-in components of a kind, then those installed plug-ins add.

A plug-in package names its components in its own metadata, one entry-point group per kind of component
(`PLUGIN_GROUPS`), and the builder finds them at start-up: readers, quality filters and output formats need no
edit of the builder (record kinds are found the same way by `schemas`). Names alone come from the package
metadata, so listing choices (`--help`, the config's checks) imports no plug-in code.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import TypeVar

PLUGIN_GROUPS = {
    "readers": "qizhen_instructions.readers",
    "filters": "qizhen_instructions.filters",
    "formats": "qizhen_instructions.formats",
    "tokenizers": "qizhen_instructions.tokenizers",
    "types": "qizhen_instructions.types",
}
T = TypeVar("T")


def plugin_names(component: str) -> list[str]:
    """The names installed plug-ins give components of this kind, without importing them."""
    return sorted(point.name for point in entry_points(group=PLUGIN_GROUPS[component]))


def with_plugins(component: str, builtin: Mapping[str, T], kind: type[T]) -> dict[str, T]:
    """The built-ins, then every plug-in's component of this kind by its entry-point name; a plug-in that
    reuses a built-in name or gives something other than a `kind` is an error naming the entry point."""
    found = dict(builtin)
    for point in sorted(entry_points(group=PLUGIN_GROUPS[component]), key=lambda p: p.name):
        if point.name in found:
            raise TypeError(f"plug-in {point.value} ({PLUGIN_GROUPS[component]}) reuses the name '{point.name}'")
        component_object = point.load()
        if not isinstance(component_object, kind):
            raise TypeError(f"plug-in {point.value} ({PLUGIN_GROUPS[component]}) is not a {kind.__name__}")
        found[point.name] = component_object
    return found
