"""An example plug-in: a reader for "问：…/答：…" text files, a quality filter that removes answers that advertise
(add me on WeChat, paid consultations) instead of answering, and TRL's prompt-completion JSONL as an output
format."""

from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from builder.config import SourceConfig
from builder.export.formats import Format, prompt_column
from builder.ledger import Drop
from builder.quality.filters import Batch, Filter
from builder.read import Reader, line_reader, unreadable

Fields = dict[str, str | None]


def _qa_blocks(lines: Iterable[str], _source: SourceConfig) -> Iterator[tuple[int, Fields | Drop]]:
    """Blocks of lines separated by blank lines, each numbered by its first line."""
    block: list[str] = []
    start = 0
    for number, line in enumerate(lines, 1):
        if line.strip():
            start = start if block else number
            block.append(line.strip())
        elif block:
            yield start, _pair(block)
            block = []
    if block:
        yield start, _pair(block)


def _pair(block: list[str]) -> Fields | Drop:
    """A 问： line and an 答： line make a QA record; anything else in the block is a reject with its reason."""
    keys = {"问": "question", "答": "answer"}
    fields = {keys[key]: value.strip() for key, sep, value in (line.partition("：") for line in block)
              if sep and key in keys}
    if len(fields) != 2 or len(block) != 2:
        return unreadable("not_a_qa_pair", "a block is one 问： line and one 答： line")
    return fields


QA_TEXT = Reader("qa_text", (".qa",), line_reader(_qa_blocks))


def _advertises(batch: Batch) -> pa.Array:
    """True where the answer touts a private channel or a paid service, as scraped consultation sites do."""
    return pc.match_substring_regex(batch.output, r"加我?微信|私信我|付费咨询|点击.{0,6}咨询")


ADVERTISES = Filter("advertises", _advertises)


def _prompt_completion(table: pa.Table, _system: str | None) -> tuple[list, list[str]]:
    """One row per line: the JSON of the prompt (instruction and input, as every format joins them) and the
    answer, between these texts."""
    return [prompt_column(table), table["output"]], ['{"prompt": ', ', "completion": ', "}"]


PROMPT_COMPLETION = Format("plain_prompt_completion", "plain_prompt_completion", ".jsonl", _prompt_completion)
