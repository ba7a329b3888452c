"""An example plug-in: a quality filter that removes answers that advertise (add me on WeChat, paid
consultations) instead of answering, and TRL's prompt-completion JSONL as an output format."""

import pyarrow as pa
import pyarrow.compute as pc

from builder.filters import Batch, Filter
from builder.formats import Format, prompt_column


def _advertises(batch: Batch) -> pa.Array:
    """True where the answer touts a private channel or a paid service, as scraped consultation sites do."""
    return pc.match_substring_regex(batch.output, r"加我?微信|私信我|付费咨询|点击.{0,6}咨询")


ADVERTISES = Filter("advertises", _advertises)


def _prompt_completion(table: pa.Table, _system: str | None) -> tuple[list, list[str]]:
    """One row per line: the JSON of the prompt (instruction and input, as every format joins them) and the
    answer, between these texts."""
    return [prompt_column(table), table["output"]], ['{"prompt": ', ', "completion": ', "}"]


PROMPT_COMPLETION = Format("prompt_completion", "prompt_completion", ".jsonl", _prompt_completion)
