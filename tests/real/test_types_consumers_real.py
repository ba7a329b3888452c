"""Every instruction type built from the real drug knowledge base, read by its consumers' own code: `datasets`,
LLaMA-Factory's converters (ShareGPT, messages, Alpaca and its ranking form), TRL's preference helpers (DPO, and KTO,
which unpairs a paired set)."""

import importlib
import types
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import run
from tests.real.test_shared_data import DRUGS, SHARED
from tests.test_types_export import load, parquet_rows

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data folder {SHARED} is absent (it lives beside the repo)")
NAME = "qizhen-instructions"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("consumers") / "out"
    result = run("build", "--kb", f"drug={DRUGS}", "--types", "all", "--format", "sharegpt", "--format", "messages",
                 "--seed", "5", "--quiet", "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_llamafactory_reads_every_type_in_sharegpt_messages_alpaca_and_ranking(built: Path, llamafactory: Path) -> None:
    parser = importlib.import_module("llamafactory.data.parser")
    converter = importlib.import_module("llamafactory.data.converter")
    data_args = importlib.import_module("llamafactory.hparams.data_args").DataArguments()
    rows = parquet_rows(built)["train"]
    names = [f"{NAME}_{fmt}_train" for fmt in ("sharegpt", "messages", "alpaca", "preference")]
    for name, attr in zip(names, parser.get_dataset_list(names, str(built)), strict=True):
        aligned = converter.align_dataset(load(built / attr.dataset_name), attr, data_args,
                                          types.SimpleNamespace(local_process_index=0)).to_list()
        held = [row for row in rows if (row["rejected"] is not None) == attr.ranking]
        assert len(aligned) == len(held) > 1000, name
        kinds = Counter(row["type"] for row in held)
        assert set(kinds) == ({"preference"} if attr.ranking else {"single", "grounded", "consultation", "choice",
                                                                    "reverse"}), kinds
        for got, row in zip(aligned, held, strict=True):
            assert len(got["_prompt"]) == 2 * len(row["history"]) + 1, name  # a consultation's turns, then the last
            assert [turn["content"] for turn in got["_response"]] == (
                [row["output"], row["rejected"]] if attr.ranking else [row["output"]]), name
            assert got["_system"] == row["system"], name


def test_trl_takes_the_pairs_for_dpo_and_unpairs_them_for_kto(built: Path) -> None:
    pytest.importorskip("trl", reason="the TRL check needs the train extra: pip install '.[train]'")
    from trl.data_utils import is_conversational, maybe_unpair_preference_dataset

    pairs = load(built / "dpo" / "train.jsonl")
    rows = [row for row in parquet_rows(built)["train"] if row["rejected"] is not None]
    assert len(pairs) == len(rows) > 1000
    assert all(is_conversational(example) for example in pairs.select(range(50)))
    unpaired = maybe_unpair_preference_dataset(pairs)
    assert len(unpaired) == 2 * len(pairs) and Counter(unpaired["label"]) == {True: len(pairs), False: len(pairs)}
    first = unpaired[0]
    assert first["completion"][0]["content"] == rows[0]["output"] and first["label"] is True
