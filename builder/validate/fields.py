"""Field mapping: the names sources give their columns, mapped to a kind's fields.

The built-in table is each kind's own `source_names` plus the data file `schemas/field_names.toml` (English, pinyin
and more Chinese names); a user's `--map` or `[mapping.KIND]` entry always wins over it.
"""

import difflib
import re
import tomllib
import unicodedata
from importlib import resources

from builder.config import BuildConfig
from builder.errors import UserError
from builder.ledger import Ledger
from schemas import RECORD_MODELS, KBRecord

NAMES_FILE = "field_names.toml"
_PUNCT = re.compile(r"[\s:：_\-·.（）()\[\]【】]+")
LABEL_MARK, PART_SEPARATOR = "：", "；"


def normalise_key(key: str) -> str:
    """Field names match whatever their width, case, spacing or trailing colon."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", key)).lower()


def _names_file() -> dict:
    return tomllib.loads(resources.files("schemas").joinpath(NAMES_FILE).read_text(encoding="utf-8"))


def _aliases(names: dict) -> dict[str, dict[str, tuple[str, ...]]]:
    """Per kind and field: the kind's own names, then the file's names for every knowledge-base kind ([kb]) and
    for this kind; a field the kind does not have is left out."""
    table: dict[str, dict[str, tuple[str, ...]]] = {}
    for kind, model in RECORD_MODELS.items():
        shared = names["kb"] if issubclass(model, KBRecord) else {}
        table[kind] = {
            field: tuple(dict.fromkeys([*model.source_names.get(field, ()), *shared.get(field, ()),
                                        *names.get(kind, {}).get(field, ())]))
            for field in model.model_fields
            if field in model.source_names or field in shared or field in names.get(kind, {})
        }
    return table


NAMES = _names_file()
ALIASES: dict[str, dict[str, tuple[str, ...]]] = _aliases(NAMES)
LABELS: dict[str, str] = {normalise_key(name): label for name, label in NAMES["labels"].items()}
REQUIRED: dict[str, tuple[str, ...]] = {
    kind: tuple(name for name, info in model.model_fields.items() if info.is_required())
    for kind, model in RECORD_MODELS.items()
}
# text fields several columns can feed, joined with their labels; a name, an alias list or a QA turn takes one column
JOINABLE: dict[str, frozenset[str]] = {
    kind: frozenset(name for name, info in model.model_fields.items()
                    if issubclass(model, KBRecord) and not info.is_required() and info.annotation == str | None)
    for kind, model in RECORD_MODELS.items()
}


def _builtin_table(kind: str) -> dict[str, str]:
    return {normalise_key(alias): field for field, aliases in ALIASES[kind].items() for alias in aliases}


BUILTIN = {kind: _builtin_table(kind) for kind in ALIASES}


def column_label(column: str) -> str:
    """What an answer calls a column's part of a joined field: its Chinese name as written, or the label the
    names file gives an English or pinyin name."""
    return LABELS.get(normalise_key(column)) or column.strip().rstrip(":：").strip()


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

    The user's mapping decides first (an empty target drops a column on purpose), the built-in table the rest.
    Every column that reaches a text field feeds it (`_rename` joins them with their labels); a field that takes
    one column (name, aliases, a QA turn) goes to the user's column, else to the first, and another name for it
    is reported as unmapped. Spellings of one name (`Answer`, `answer` in different JSON records) count as one.
    """
    table = BUILTIN[kind]
    user_norm = {normalise_key(k): v for k, v in user.items()}
    keys = {column: normalise_key(column) for column in columns}
    targets = {column: user_norm[key] if key in user_norm else table.get(key) for column, key in keys.items()}
    owner: dict[str, str] = {}  # single-column field -> the normalised name that feeds it
    for by_user in (True, False):
        for column, target in targets.items():
            if target and target not in JOINABLE[kind] and (keys[column] in user_norm) == by_user:
                owner.setdefault(target, keys[column])
    mapping: dict[str, str] = {}
    unmapped: list[str] = []
    for column, target in targets.items():
        if target and (target in JOINABLE[kind] or owner[target] == keys[column]):
            mapping[column] = target
        elif target != "":
            unmapped.append(column)
    return mapping, unmapped


def suggest_field(kind: str, column: str) -> str | None:
    """The optional field a column most likely holds, by its name (an English or pinyin one through its label):
    a known name it ends with or that ends with it (a Chinese name's head comes last: 药材产地, 主要功效; 症状 of
    主治症状), a known English name inside it, or a near spelling; None when nothing is alike. Required fields are left out: a source without one stops
    with its own hint."""
    key = normalise_key(LABELS.get(normalise_key(column), column))
    best: tuple[int, float, str] | None = None
    for name, field in sorted(BUILTIN[kind].items()):
        if field in REQUIRED[kind] or not key:
            continue
        if name == key:
            return field
        head = (len(name) >= 2 and key.endswith(name) or len(key) >= 2 and name.endswith(key)
                or name.isascii() and len(name) >= 4 and name in key)
        score = (min(len(name), len(key)) if head else 0, difflib.SequenceMatcher(None, key, name).ratio(), field)
        if (head or score[1] >= 0.75) and (best is None or score[:2] > best[:2]):
            best = score
    return best[2] if best else None


def map_hint(kind: str, column: str) -> str:
    """The flag that keeps an unmapped column (its likely field, or FIELD to fill in)."""
    return f"--map {column}={suggest_field(kind, column) or 'FIELD'}"


def field_advice(config: BuildConfig, ledger: Ledger, coverage: dict[str, dict], entries: dict[str, list[str]]) -> dict:
    """What a build says about its sources' columns: each column no field takes, with the values it held and the
    `--map` that would keep it, and each kind one of whose templates (`entries`: the catalogue's ids per kind)
    renders more than half of its rows while its catalogue has others: the mark of a mapping that missed columns."""
    counts = {s.name: ledger.counts(s.name) for s in config.sources}
    unmapped = {s.name: [{"column": column, "values": values, "field": suggest_field(s.kind, column),
                          "map": map_hint(s.kind, column)} for column, values in counts[s.name].unmapped_columns.items()]
                for s in config.sources if counts[s.name].unmapped_columns}
    dominant = []
    for kind, ids in entries.items():
        rows = {template: coverage.get(template, {}).get("rendered", 0) for template in ids}
        total, top = sum(rows.values()), max(rows, key=rows.__getitem__, default=None)
        if len(ids) > 1 and top is not None and rows[top] * 2 > total:
            own = [s.name for s in config.sources if s.kind == kind]
            dominant.append({
                "kind": kind, "template": top, "rows": rows[top], "kind_rows": total,
                "share": round(rows[top] / total, 3), "templates": len(ids),
                "mapped_fields": sorted({f for name in own for f in counts[name].fields}),
                "unmapped_columns": [entry["column"] for name in own for entry in unmapped.get(name, [])],
            })
    return {"unmapped": unmapped, "dominant_templates": dominant}


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
