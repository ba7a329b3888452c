"""Field mapping: the names Chinese medical sources give their fields (each kind's `source_names`), mapped to
the schema's fields."""

import re
import unicodedata

from builder.errors import UserError
from schemas import RECORD_MODELS

ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    kind: {field: names for field, names in model.source_names.items() if field in model.model_fields}
    for kind, model in RECORD_MODELS.items()
}
REQUIRED: dict[str, tuple[str, ...]] = {
    kind: tuple(name for name, info in model.model_fields.items() if info.is_required())
    for kind, model in RECORD_MODELS.items()
}
_PUNCT = re.compile(r"[\s:：_\-·.（）()\[\]【】]+")


def normalise_key(key: str) -> str:
    """Field names match whatever their width, case, spacing or trailing colon."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", key)).lower()


def _builtin_table(kind: str) -> dict[str, str]:
    return {normalise_key(alias): field for field, aliases in ALIASES[kind].items() for alias in aliases}


BUILTIN = {kind: _builtin_table(kind) for kind in ALIASES}


def check_user_mapping(kind: str, mapping: dict[str, str], origin: str) -> None:
    """A user's mapping must name real fields of the kind; a typo here would silently drop data."""
    fields = set(RECORD_MODELS[kind].model_fields)
    for source_field, target in mapping.items():
        if target not in fields and target != "":
            raise UserError(
                f"--map {source_field}={target}: '{target}' is not a {kind} field",
                file=origin,
                remedy=f"use one of: {', '.join(sorted(fields))} (or an empty target to drop the column)",
            )


def resolve_columns(kind: str, columns: list[str], user: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Maps each source column to a schema field; returns (column -> field, unmapped columns).

    The user's mapping wins over the built-in table; an empty target drops a column on purpose.
    The first name to claim a field keeps it, so another name for it is reported as unmapped; spellings of that
    same name (`Answer`, `answer` in different JSON records) all map to it, and the reader takes each record's own.
    """
    table = BUILTIN[kind]
    user_norm = {normalise_key(k): v for k, v in user.items()}
    mapping: dict[str, str] = {}
    claimed: dict[str, str] = {}  # field -> the normalised name that claimed it
    unmapped: list[str] = []
    for column in columns:
        key = normalise_key(column)
        target = user_norm[key] if key in user_norm else table.get(key)
        if target and claimed.setdefault(target, key) == key:
            mapping[column] = target
        elif target != "":
            unmapped.append(column)
    return mapping, unmapped


def require_fields(kind: str, fields: set[str], unmapped: list[str], file: str) -> None:
    """A source none of whose records supplies a required field (judged on the whole source, so that one odd record
    is only a reject, and the verdict is the same for any number of workers) is a configuration error, not a
    pile of rejects."""
    missing = [f for f in REQUIRED[kind] if f not in fields]
    if missing:
        columns = [*unmapped, *sorted(fields)]
        shown = ", ".join(columns) if columns else "(none)"
        example = unmapped[0] if unmapped else columns[0] if columns else "COLUMN"
        raise UserError(
            f"cannot map required {kind} field(s) {', '.join(missing)}; its columns are: {shown}",
            file=file,
            field=missing[0],
            remedy=f"map one with --map {example}={missing[0]} (or a [mapping.{kind}] entry in the config); "
            "if the file has no header row, set header = false and columns = [...] for it in the config",
        )
