"""Pydantic models of the records the builder reads, found at start-up: a record kind is data, not code.

Every model in a module of this package that sets `kind` is a kind, and so is every model a plug-in names
in the entry-point group `qizhen_instructions.kinds`. Each list of kinds (the config's, the command line's,
the evaluation builder's, the field table) derives from `RECORD_MODELS`; `KB_MODELS` holds its knowledge-base
kinds, typed as `KBRecord` subclasses.
"""

import importlib
import pkgutil
from importlib.metadata import entry_points

from pydantic import BaseModel

from schemas.base import KBRecord
from schemas.qa import QARecord

ENTRY_POINTS = "qizhen_instructions.kinds"


def _kinds_here() -> list[type[BaseModel]]:
    found = []
    for module in pkgutil.iter_modules(__path__):
        for value in vars(importlib.import_module(f"{__name__}.{module.name}")).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and isinstance(vars(value).get("kind"), str):
                found.append(value)
    return found


def _discover() -> dict[str, type[KBRecord] | type[QARecord]]:
    """The kinds of this package and of installed plug-ins; a kind named twice is a packaging mistake."""
    models: dict[str, type[KBRecord] | type[QARecord]] = {}
    plugins = [point.load() for point in entry_points(group=ENTRY_POINTS)]
    for model in [*_kinds_here(), *plugins]:
        if not (isinstance(model, type) and issubclass(model, (KBRecord, QARecord))):
            raise TypeError(f"{model!r} (entry point group {ENTRY_POINTS}) is not a KBRecord subclass")
        if models.setdefault(model.kind, model) is not model:
            raise TypeError(f"record kind '{model.kind}' is defined twice: {models[model.kind]} and {model}")
    return dict(sorted(models.items()))


RECORD_MODELS: dict[str, type[KBRecord] | type[QARecord]] = _discover()
KB_MODELS: dict[str, type[KBRecord]] = {kind: model for kind, model in RECORD_MODELS.items()
                                        if issubclass(model, KBRecord)}
KB_KINDS: tuple[str, ...] = tuple(KB_MODELS)

__all__ = ["KB_KINDS", "KB_MODELS", "KBRecord", "QARecord", "RECORD_MODELS"]
