"""The richer instruction types in the exports: a build of the embedded sample with every type, read back by the
trainers' own code. SFT files hold every row but the preference pairs, in the Parquet's order; a consultation is a
multi-turn conversation and a grounded row keeps its system turn; preference pairs go to LLaMA-Factory's ranking
file and TRL's DPO file; every shipped chat template masks every assistant turn; the pre-tokenized labels are the
assistant turns; prompt token counts hold the system prompt and the earlier turns."""

import copy
import hashlib
import importlib
import json
import math
import os
import types
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from tokenizers import Tokenizer

from builder.export.chat import (
    load_chat_template,
    mask_problem,
    masked_spans,
    row_conversations,
    shipped_chat_templates,
)
from builder.export.formats import BUILTIN_FORMATS, FormatWriter, write_from_parquet
from builder.quality.tokens import count_column, load_tokenizer, prompt_tokens
from builder.rows import ROW_SCHEMA, prompt_column
from tests.conftest import run
from tests.test_pretokenize import chatml_tokenizer

SYSTEM = "你是医生"
SFT_FILES = {"alpaca": "alpaca/{}.json", "alpaca_jsonl": "alpaca/{}.jsonl", "sharegpt": "sharegpt/{}.json",
             "messages": "messages/{}.jsonl", "prompt_completion": "prompt_completion/{}.jsonl"}
TEMPLATES = ["chatml", *(name for name in shipped_chat_templates() if name != "chatml")]  # chatml pre-tokenizes


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("types")
    tokenizer, out = chatml_tokenizer(folder / "tokenizer.json"), folder / "out"
    flags = [arg for name in TEMPLATES for arg in ("--chat-template", name)]
    flags += [arg for name in SFT_FILES if name != "alpaca" for arg in ("--format", name)]
    result = run("build", "--out", out, "--types", "all", "--tokenizer", tokenizer, "--pretokenize",
                 "--system-prompt", SYSTEM, "--quiet", *flags)
    assert result.exit_code == 0, result.output
    return out, tokenizer


def parquet_rows(out: Path) -> dict[str, list[dict]]:
    """Each split's rows, in the Parquet's order."""
    return {data.name.rsplit("-", 3)[0]: pq.read_table(data).to_pylist()
            for data in sorted((out / "data").glob("*.parquet"))}


def sft(rows: list[dict]) -> list[dict]:
    return [row for row in rows if row["rejected"] is None]


def prompt(row: dict) -> str:
    return row["instruction"] + ("\n" + row["input"] if row["input"] else "")


def joined(row: dict) -> str:
    return "\n\n".join(text for text in (SYSTEM, row["system"]) if text)


def messages(row: dict) -> list[dict]:
    """The conversation every messages-like format should hold for a row, written out by hand."""
    talk = [{"role": "system", "content": joined(row)}]
    for question, answer in row["history"]:
        talk += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return talk + [{"role": "user", "content": prompt(row)}, {"role": "assistant", "content": row["output"]}]


def lines(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else [json.loads(line) for line in text.splitlines()]


def load(path: Path) -> datasets.Dataset:
    assert os.environ.get("HF_DATASETS_OFFLINE") == "1"
    datasets.disable_progress_bars()
    return datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(path.parent / ".cache"))


def test_the_sample_has_every_type_in_every_split(built: tuple[Path, Path]) -> None:
    splits = parquet_rows(built[0])
    assert {row["type"] for row in splits["train"]} == {"single", "grounded", "consultation", "choice", "preference",
                                                        "reverse"}
    for rows in splits.values():  # so each split's files show multi-turn rows
        assert "consultation" in {row["type"] for row in rows}
    assert sum(1 for rows in splits.values() if any(row["rejected"] for row in rows)) >= 2  # train, validation


def test_sft_files_hold_every_row_but_the_preference_pairs_in_parquet_order(built: tuple[Path, Path]) -> None:
    out, _ = built
    for split, rows in parquet_rows(out).items():
        expected = sft(rows)
        alpaca = [{"instruction": r["instruction"], "input": r["input"], "output": r["output"], "system": r["system"],
                   "history": r["history"]} for r in expected]
        assert lines(out / SFT_FILES["alpaca"].format(split)) == alpaca
        assert lines(out / SFT_FILES["alpaca_jsonl"].format(split)) == alpaca
        sharegpt = [{"conversations": [{"from": "human" if m["role"] == "user" else "gpt", "value": m["content"]}
                                       for m in messages(r)[1:]], "system": r["system"]} for r in expected]
        assert lines(out / SFT_FILES["sharegpt"].format(split)) == sharegpt
        assert lines(out / SFT_FILES["messages"].format(split)) == [{"messages": messages(r)} for r in expected]
        assert lines(out / SFT_FILES["prompt_completion"].format(split)) == [
            {"prompt": messages(r)[:-1], "completion": messages(r)[-1:]} for r in expected]


def test_consultations_are_multi_turn_with_their_turns_in_order(built: tuple[Path, Path]) -> None:
    out, _ = built
    rows = sft(parquet_rows(out)["train"])
    talks = [line["messages"] for line in lines(out / "messages" / "train.jsonl")]
    shared = [line["conversations"] for line in lines(out / "sharegpt" / "train.json")]
    consultations = [index for index, row in enumerate(rows) if row["type"] == "consultation"]
    assert consultations and all(rows[i]["history"] for i in consultations)
    for index in consultations:
        row, talk, turns = rows[index], talks[index], shared[index]
        assert [m["role"] for m in talk] == ["system"] + ["user", "assistant"] * (len(row["history"]) + 1)
        said = [text for turn in row["history"] for text in turn] + [prompt(row), row["output"]]
        assert [m["content"] for m in talk[1:]] == said
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(row["history"]) + 1)
        assert [t["value"] for t in turns] == said
    assert all(len(talks[i]) == 3 for i, row in enumerate(rows) if row["type"] != "consultation")


def test_grounded_rows_carry_their_system_turn_and_material(built: tuple[Path, Path]) -> None:
    out, _ = built
    rows = sft(parquet_rows(out)["train"])
    grounded = [index for index, row in enumerate(rows) if row["type"] == "grounded"]
    assert grounded and all(rows[i]["system"].startswith("请只根据给出的资料回答问题") for i in grounded)
    talks = [line["messages"] for line in lines(out / "messages" / "train.jsonl")]
    shared = lines(out / "sharegpt" / "train.json")
    alpaca = lines(out / "alpaca" / "train.json")
    for index in grounded:
        row = rows[index]
        assert talks[index][0] == {"role": "system", "content": SYSTEM + "\n\n" + row["system"]}
        assert talks[index][1]["content"] == row["instruction"] + "\n" + row["input"] and "资料1" in row["input"]
        assert shared[index]["system"] == alpaca[index]["system"] == row["system"]
    assert {shared[i]["system"] for i in range(len(rows)) if i not in grounded} == {""}


def test_preference_pairs_go_to_the_ranking_and_dpo_files(built: tuple[Path, Path]) -> None:
    out, _ = built
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for split, rows in parquet_rows(out).items():
        pairs = [row for row in rows if row["rejected"] is not None]
        assert all(row["type"] == "preference" for row in pairs)
        if not pairs:  # a split without a pair has no preference file
            assert not (out / "preference" / f"{split}.json").exists() and not (out / "dpo" / f"{split}.jsonl").exists()
            continue
        assert lines(out / "preference" / f"{split}.json") == [
            {"instruction": r["instruction"], "input": r["input"], "chosen": r["output"], "rejected": r["rejected"],
             "system": r["system"], "history": r["history"]} for r in pairs]
        assert lines(out / "dpo" / f"{split}.jsonl") == [
            {"prompt": messages(r)[:-1], "chosen": messages(r)[-1:],
             "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in pairs]
        for name in (f"preference/{split}.json", f"dpo/{split}.jsonl"):  # hashed like every output
            assert manifest["outputs"][name] == hashlib.sha256((out / name).read_bytes()).hexdigest()


def test_every_file_loads_with_datasets_as_written(built: tuple[Path, Path]) -> None:
    out, _ = built
    for split, rows in parquet_rows(out).items():
        for pattern in SFT_FILES.values():
            loaded = load(out / pattern.format(split))
            assert loaded.to_list() == lines(out / pattern.format(split)) and loaded.num_rows == len(sft(rows))
        for name in (f"preference/{split}.json", f"dpo/{split}.jsonl"):
            if any(row["rejected"] for row in rows):
                assert load(out / name).to_list() == lines(out / name)


def test_dataset_info_names_the_columns_each_file_has(built: tuple[Path, Path]) -> None:
    out, _ = built
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    for split, rows in parquet_rows(out).items():
        for name in ("alpaca", "alpaca_jsonl"):
            assert info[f"qizhen-instructions_{name}_{split}"]["columns"] == {
                "prompt": "instruction", "query": "input", "response": "output", "system": "system",
                "history": "history"}
        assert info[f"qizhen-instructions_sharegpt_{split}"]["columns"] == {"messages": "conversations",
                                                                          "system": "system"}
        if not any(row["rejected"] for row in rows):
            assert f"qizhen-instructions_preference_{split}" not in info
            continue
        assert info[f"qizhen-instructions_preference_{split}"] == {
            "file_name": f"preference/{split}.json", "formatting": "alpaca", "ranking": True,
            "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected",
                        "system": "system", "history": "history"}}
    assert not any("dpo" in key for key in info)  # TRL's form; LLaMA-Factory reads the ranking file


def test_the_formats_command_writes_the_same_bytes_from_the_parquet(built: tuple[Path, Path], tmp_path: Path) -> None:
    """Written again from the Parquet (`build-instructions formats`), whose every row is known before the first is
    written, the files are byte for byte those the build streamed."""
    out, _ = built
    copy_ = tmp_path / "copy"
    (copy_ / "data").mkdir(parents=True)
    for data in (out / "data").glob("*.parquet"):
        (copy_ / "data" / data.name).write_bytes(data.read_bytes())
    written = write_from_parquet(copy_, ["alpaca", *BUILTIN_FORMATS], system=SYSTEM)
    for paths in written.values():
        for path in paths:
            assert path.read_bytes() == (out / path.relative_to(copy_)).read_bytes(), path


def test_llamafactorys_own_converters_read_the_sft_and_ranking_files(built: tuple[Path, Path],
                                                                     llamafactory: Path) -> None:
    out, _ = built
    parser = importlib.import_module("llamafactory.data.parser")
    converter = importlib.import_module("llamafactory.data.converter")
    data_args = importlib.import_module("llamafactory.hparams.data_args").DataArguments()
    rows = parquet_rows(out)["train"]
    names = [f"qizhen-instructions_{name}_train" for name in ("alpaca", "alpaca_jsonl", "sharegpt", "messages",
                                                              "preference")]
    for name, attr in zip(names, parser.get_dataset_list(names, str(out)), strict=True):
        aligned = converter.align_dataset(load(out / attr.dataset_name), attr, data_args,
                                          types.SimpleNamespace(local_process_index=0)).to_list()
        expected = [row for row in rows if row["rejected"] is not None] if attr.ranking else sft(rows)
        assert len(aligned) == len(expected), name
        for got, row in zip(aligned, expected, strict=True):
            talk = messages(row)
            assert got["_prompt"] == [{"role": m["role"], "content": m["content"]} for m in talk[1:-1]], name
            answers = [row["output"], row["rejected"]] if attr.ranking else [row["output"]]
            assert got["_response"] == [{"role": "assistant", "content": text} for text in answers], name
            assert got["_system"] == (joined(row) if name.endswith("messages_train") else row["system"]), name


def test_trls_own_helpers_and_dpo_trainer_take_the_dpo_file(built: tuple[Path, Path], tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="the DPO check needs the train extra: pip install '.[train]'")
    transformers = pytest.importorskip("transformers", reason="the DPO check needs the train extra")
    trl = pytest.importorskip("trl", reason="the DPO check needs the train extra")
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    from tests.test_train import chat_tokenizer

    out, _ = built
    tokenizer = chat_tokenizer(tmp_path)
    pairs = load(out / "dpo" / "train.jsonl")
    rows = [row for row in parquet_rows(out)["train"] if row["rejected"] is not None]
    for example, row in zip(pairs, rows, strict=True):
        assert is_conversational(example)
        text = maybe_apply_chat_template(example, tokenizer)
        assert text["prompt"] == (f"<|im_start|>system\n{joined(row)}<|im_end|>\n<|im_start|>user\n{prompt(row)}"
                                  "<|im_end|>\n<|im_start|>assistant\n")
        assert text["chosen"] == row["output"] + "<|im_end|>\n" and text["rejected"] == row["rejected"] + "<|im_end|>\n"

    short = [i for i, row in enumerate(pairs) if max(len(tokenizer.apply_chat_template(row["prompt"] + row[side]))
                                                    for side in ("chosen", "rejected")) <= 256]
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=None))
    config = trl.DPOConfig(output_dir=str(tmp_path / "run"), max_steps=3, per_device_train_batch_size=4,
                           learning_rate=1e-3, logging_steps=1, report_to=[], save_strategy="no", use_cpu=True,
                           max_length=512, seed=0, dataloader_num_workers=0, disable_tqdm=True)
    trainer = trl.DPOTrainer(model=model, ref_model=copy.deepcopy(model), args=config,
                             train_dataset=pairs.select(short[:8]), processing_class=tokenizer)
    first = trainer.train_dataset[0]
    assert tokenizer.decode(first["chosen_ids"]) == pairs[short[0]]["chosen"][0]["content"] + "<|im_end|>\n"
    assert tokenizer.decode(first["rejected_ids"]) == pairs[short[0]]["rejected"][0]["content"] + "<|im_end|>\n"
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 3 and all(math.isfinite(loss) for loss in losses)


def test_the_dpo_configs_are_read_by_their_trainers_and_fit_every_pair(built: tuple[Path, Path],
                                                                       llamafactory: Path, tmp_path: Path) -> None:
    trl = pytest.importorskip("trl", reason="checking TRL's config needs the train extra: pip install '.[train]'")
    from transformers import HfArgumentParser

    out, tokenizer_json = built
    trainers = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["quality"]["trainers"]
    assert trainers["llamafactory_dpo"] == "trainers/llamafactory_dpo.yaml"
    assert trainers["trl_dpo"] == "trainers/trl_dpo.yaml"
    script, dpo, _model = trl.TrlParser((trl.ScriptArguments, trl.DPOConfig, trl.ModelConfig)).parse_args_and_config(
        ["--config", str(out / "trainers" / "trl_dpo.yaml"), "--output_dir", str(tmp_path), "--model_name_or_path",
         "m", "--use_cpu"])
    assert (script.dataset_name, script.dataset_train_split, script.dataset_test_split) == ("dpo", "train",
                                                                                            "validation")
    here = Path.cwd()
    os.chdir(out)  # TRL is run from the build's folder
    try:
        pairs = datasets.load_dataset(script.dataset_name, split=script.dataset_train_split)
    finally:
        os.chdir(here)
    assert pairs.num_rows and all(map(trl.data_utils.is_conversational, pairs))

    parser = importlib.import_module("llamafactory.data.parser")
    data_args = importlib.import_module("llamafactory.hparams.data_args")
    finetuning_args = importlib.import_module("llamafactory.hparams.finetuning_args")
    config = yaml.safe_load((out / "trainers" / "llamafactory_dpo.yaml").read_text(encoding="utf-8"))
    data, finetuning = HfArgumentParser((data_args.DataArguments, finetuning_args.FinetuningArguments)).parse_dict(
        {key: value for key, value in config.items() if key != "do_train"})
    assert finetuning.stage == "dpo" and data.template == "qwen" and data.cutoff_len == dpo.max_length
    for attr in parser.get_dataset_list(data.dataset + data.eval_dataset, str(out)):
        assert attr.ranking and attr.formatting == "alpaca" and (out / attr.dataset_name).is_file()

    tokenizer, chatml = Tokenizer.from_file(str(tokenizer_json)), load_chat_template("chatml")
    longest = max(len(tokenizer.encode(chatml.render(pair["prompt"] + pair[side], False), add_special_tokens=False))
                  for path in (out / "dpo").glob("*.jsonl") for pair in lines(path) for side in ("chosen", "rejected"))
    assert longest <= dpo.max_length and dpo.max_length % 64 == 0


def test_the_sft_configs_train_every_turn_and_fit_the_longest_conversation(built: tuple[Path, Path]) -> None:
    out, tokenizer_json = built
    trl_config = yaml.safe_load((out / "trainers" / "trl_sft.yaml").read_text(encoding="utf-8"))
    assert trl_config["dataset_name"] == "messages" and trl_config["assistant_only_loss"]  # all turns, not the last
    llamafactory = yaml.safe_load((out / "trainers" / "llamafactory_sft.yaml").read_text(encoding="utf-8"))
    assert not llamafactory.get("mask_history")
    tokenizer, chatml = Tokenizer.from_file(str(tokenizer_json)), load_chat_template("chatml")
    longest = max(len(tokenizer.encode(chatml.render(line["messages"], False), add_special_tokens=False))
                  for split in ("train", "validation", "test") for line in lines(out / "messages" / f"{split}.jsonl"))
    assert longest <= llamafactory["cutoff_len"] == trl_config["max_length"]


def test_every_shipped_template_masks_every_assistant_turn_of_every_row(built: tuple[Path, Path]) -> None:
    out, _ = built
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    splits = parquet_rows(out)
    assert set(manifest["quality"]["chat_templates"]) == set(shipped_chat_templates())
    assert all(report["rows"] == sum(len(sft(rows)) for rows in splits.values()) and report["failed"] == 0
               for report in manifest["quality"]["chat_templates"].values())
    table = pa.Table.from_pylist(splits["train"], schema=ROW_SCHEMA)
    talks = row_conversations(table, SYSTEM)
    assert [index for index, _ in talks] == [i for i, row in enumerate(splits["train"]) if row["rejected"] is None]
    for name in shipped_chat_templates():
        template = load_chat_template(name)
        lead = template.think_block if template.think == "answer" else ""
        for _index, talk in talks:
            found = masked_spans(template, talk)
            assert not isinstance(found, str), (name, found)
            whole, spans = found
            answers = [m["content"] for m in talk if m["role"] == "assistant"]
            assert len(spans) == len(answers)
            masked = [whole[span.start:span.end] for span in spans]
            assert all(text.startswith(lead + answer) for text, answer in zip(masked, answers, strict=True))
            cursor, turn = 0, iter(spans)
            for message in talk:  # each system and user turn lies, in order, outside every mask
                if message["role"] == "assistant":
                    cursor = next(turn).end
                    continue
                at = whole.find(message["content"], cursor)
                assert at >= cursor and not any(at < span.end and span.start < at + len(message["content"])
                                                 for span in spans), (name, message)
                cursor = at + len(message["content"])
            # an answer's end-of-turn is in its mask, or (GLM-4's earlier answers) the stop that opens the next turn
            assert all(any(stop in text[len(lead):] for stop in [template.end_of_turn, *template.turn_stops])
                       for text in masked)
            assert template.end_of_turn in masked[-1]


def test_a_template_that_drops_an_earlier_end_of_turn_fails_on_a_consultation() -> None:
    template = load_chat_template("chatml").model_copy(update={  # no <|im_end|> after an earlier answer
        "template": "{%- for m in messages -%}<|im_start|>{{ m.role }}\n{{ m.content }}{% if m.role != 'assistant' or "
                    "loop.last %}<|im_end|>\n{% else %}\n{% endif %}{%- endfor -%}{%- if add_generation_prompt -%}"
                    "<|im_start|>assistant\n{% endif -%}"})
    talk = [{"role": "user", "content": "问一"}, {"role": "assistant", "content": "答一"},
            {"role": "user", "content": "问二"}, {"role": "assistant", "content": "答二"}]
    assert mask_problem(template, talk[2:]) is None  # one turn: fine
    problem = mask_problem(template, talk)
    assert problem is not None and problem.startswith("turn 1 of 2: the end-of-turn token <|im_end|> is outside")
    # GLM-4 closes only the last answer too, and stops generation at the role token that opens the next turn
    glm4 = load_chat_template("glm4")
    whole, spans = masked_spans(glm4, talk)
    assert [whole[span.start:span.end] for span in spans] == ["答一<|user|>", "答二<|endoftext|>"]
    assert mask_problem(glm4.model_copy(update={"stops": []}), talk) is not None


def test_pretokenized_labels_of_a_consultation_are_its_assistant_turns(built: tuple[Path, Path]) -> None:
    out, tokenizer_json = built
    tokenizer, chatml = Tokenizer.from_file(str(tokenizer_json)), load_chat_template("chatml")
    for data in sorted((out / "data").glob("*.parquet")):
        rows = sft(pq.read_table(data).to_pylist())
        ids = pq.read_table(out / "pretokenized" / data.name).to_pylist()
        assert len(ids) == len(rows)  # the SFT rows, in order: no preference pair
        for row, tokens in zip(rows, ids, strict=True):
            assert tokenizer.decode(tokens["input_ids"], skip_special_tokens=False) == chatml.render(messages(row),
                                                                                                      False)
            runs, current = [], []
            for token, label in zip(tokens["input_ids"], tokens["labels"], strict=True):
                if label != -100:
                    assert label == token
                    current.append(token)
                elif current:
                    runs.append(current)
                    current = []
            runs += [current] if current else []
            answers = [answer for _question, answer in row["history"]] + [row["output"]]
            assert [tokenizer.decode(run, skip_special_tokens=False) for run in runs] == [
                answer + "<|im_end|>\n" for answer in answers]


def test_prompt_tokens_count_the_system_prompt_and_the_earlier_turns(built: tuple[Path, Path]) -> None:
    out, tokenizer_json = built
    tokenizer = load_tokenizer(tokenizer_json)
    table = pa.Table.from_pylist(parquet_rows(out)["train"], schema=ROW_SCHEMA)
    counts = prompt_tokens(tokenizer, table)
    single = count_column(tokenizer, prompt_column(table))
    for count, alone, row in zip(counts.tolist(), single.tolist(), table.to_pylist(), strict=True):
        texts = [row["system"], *(text for turn in row["history"] for text in turn)]
        assert count == alone + sum(int(tokenizer.count([text])[0]) for text in texts if text)
    assert (counts > single).sum() == sum(1 for row in table.to_pylist() if row["system"] or row["history"]) > 0
    keep = pa.array([index % 3 == 0 for index in range(table.num_rows)])
    assert prompt_tokens(tokenizer, table, keep).tolist() == counts[::3].tolist()
    plain = table.filter(pa.array([not (r["system"] or r["history"]) for r in table.to_pylist()]))
    assert prompt_tokens(tokenizer, plain).tolist() == count_column(tokenizer, prompt_column(plain)).tolist()


ROWS = [
    {"instruction": "阿莫西林的适应证是什么？", "output": "用于敏感菌所致的\u2029呼吸道感染。"},
    {"instruction": "用法用量？", "output": "口服。\u2028一次0.5g。", "type": "consultation",
     "history": [["阿莫西林能治什么？", "呼吸道感染 \"及\" 泌尿道感染。"]]},
    {"instruction": "卡托普利的适应病症是什么？", "output": "高血压。", "type": "preference", "rejected": "糖尿病。"},
    {"instruction": "请介绍禁忌。", "input": "资料1：布洛芬\n禁忌：过敏者禁用。", "output": "根据资料1，过敏者禁用。",
     "type": "grounded", "system": "请只根据给出的资料回答问题。"},
    {"instruction": "布洛芬的不良反应？", "output": "胃肠道反应。", "type": "choice"},
]


def rows_table(rows: list[dict]) -> pa.Table:
    full = [{"input": "", "source": "s", "kind": "drug", "record_id": f"r{i}", "template_id": "t", "variant": 0,
             "type": "single", "system": "", "history": [], "rejected": None, "companions": [], **row}
            for i, row in enumerate(rows)]
    return pa.Table.from_pylist(full, schema=ROW_SCHEMA)


@pytest.mark.parametrize("rich", [True, False, None])
def test_mixed_rows_keep_their_order_and_every_key_whatever_decides_richness(tmp_path: Path, rich: bool | None) -> None:
    """Rows of every kind in one table: the compiled loop and the JSON encoder each write theirs in place; with
    `rich` (or undecided, as richer rows come first here) every Alpaca row has system and history; without, only a
    row that says something there."""
    table = rows_table(ROWS)
    paths = {}
    for name in ("alpaca_jsonl", "sharegpt", "messages"):
        writer = FormatWriter(BUILTIN_FORMATS[name], tmp_path, "train", SYSTEM, rich)
        writer.write(table.slice(0, 2))
        writer.write(table.slice(2))
        writer.close()
        paths[name] = writer.path
    kept = [row for row in rows_table(ROWS).to_pylist() if row["rejected"] is None]
    alpaca = [json.loads(line) for line in paths["alpaca_jsonl"].read_text(encoding="utf-8").splitlines()]
    assert [row["output"] for row in alpaca] == [row["output"] for row in kept]
    if rich is False:
        extra = [sorted(set(row) - {"instruction", "input", "output"}) for row in alpaca]
        assert extra == [[], ["history"], ["system"], []]
    else:
        assert all(row["system"] == kept[i]["system"] and row["history"] == kept[i]["history"]
                   for i, row in enumerate(alpaca))
    written = paths["alpaca_jsonl"].read_text(encoding="utf-8")  # the compiled loop and the encoder escape alike
    assert "\\u2029" in written and "\\u2028" in written and "\u2028" not in written and "\u2029" not in written
    assert [line["messages"] for line in lines(paths["messages"])] == [messages(row) for row in kept]
    shared = lines(paths["sharegpt"])
    assert [len(line["conversations"]) for line in shared] == [2, 4, 2, 2]
    assert [line.get("system", "") for line in shared] == [row["system"] for row in kept]
    assert load(paths["alpaca_jsonl"]).num_rows == len(kept)
