"""Trainer configurations beside the data: each parsed as its trainer reads it (TRL's own parser where TRL is
installed), naming datasets that exist and load, and a sequence length that truncates no row."""

import ast
import importlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from datasets import load_dataset
from tokenizers import Tokenizer

from builder.export.chat import conversation, load_chat_template, shipped_chat_templates
from tests.conftest import run
from tests.tokenizer_files import huggingface_tokenizer
from tests.wheels import fetched_wheel, unpacked

SAMPLE = Path(__file__).resolve().parents[1] / "raw" / "sample.toml"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("trainers")
    tokenizer = huggingface_tokenizer(folder / "tokenizer.json")
    out = folder / "out"
    result = run("build", "--config", SAMPLE, "--out", out, "--format", "messages", "--format", "prompt_completion",
                 "--tokenizer", tokenizer, "--chat-template", "qwen3_nothink", "--quiet")
    assert result.exit_code == 0, result.output
    return out, tokenizer


def test_every_trainer_gets_its_file_and_the_card_names_them(built: tuple[Path, Path]) -> None:
    out, _ = built
    trainers = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["quality"]["trainers"]
    assert trainers == {"llamafactory": "trainers/llamafactory_sft.yaml", "trl": "trainers/trl_sft.yaml",
                        "axolotl": "trainers/axolotl.yaml", "ms-swift": "trainers/swift_dataset_info.json"}
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "## Trainer configurations" in card and all(path in card for path in trainers.values())


def test_llamafactory_names_its_datasets_template_and_a_cutoff_that_truncates_nothing(built: tuple[Path, Path]) -> None:
    out, tokenizer_json = built
    config = yaml.safe_load((out / "trainers" / "llamafactory_sft.yaml").read_text(encoding="utf-8"))
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert config["dataset_dir"] == "." and config["template"] == load_chat_template("qwen3_nothink").llamafactory
    for name in (config["dataset"], config["eval_dataset"]):
        assert load_dataset("json", data_files=str(out / info[name]["file_name"]), split="train").num_rows > 0
    tokenizer, template = Tokenizer.from_file(str(tokenizer_json)), load_chat_template("qwen3_nothink")
    rows = [json.loads(line) for split in ("train", "validation", "test")
            for line in (out / "messages" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
    longest = max(len(tokenizer.encode(template.render(row["messages"], False), add_special_tokens=False).ids)
                  for row in rows)
    assert longest <= config["cutoff_len"] and config["cutoff_len"] % 64 == 0
    assert len(tokenizer.encode(template.render(conversation("", "", None), False)).ids) > 0


def test_trls_own_parser_reads_its_config_and_the_dataset_is_conversational(built: tuple[Path, Path],
                                                                            tmp_path: Path) -> None:
    trl = pytest.importorskip("trl", reason="checking TRL's config needs the train extra: pip install '.[train]'")
    from trl.data_utils import is_conversational

    out, _ = built
    parser = trl.TrlParser((trl.ScriptArguments, trl.SFTConfig, trl.ModelConfig))
    script, sft, _model = parser.parse_args_and_config(
        ["--config", str(out / "trainers" / "trl_sft.yaml"), "--output_dir", str(tmp_path), "--model_name_or_path", "m",
         "--use_cpu"])  # no GPU here: TRL's default bf16 would refuse
    assert script.dataset_name == "prompt_completion" and sft.completion_only_loss and sft.max_length > 0
    here = Path.cwd()
    os.chdir(out)  # TRL is run from the build's folder
    try:
        rows = load_dataset(script.dataset_name, split=script.dataset_train_split)
    finally:
        os.chdir(here)
    assert rows.num_rows > 0 and is_conversational(rows[0])


def test_axolotl_and_ms_swift_point_at_files_that_load(built: tuple[Path, Path]) -> None:
    out, _ = built
    axolotl = yaml.safe_load((out / "trainers" / "axolotl.yaml").read_text(encoding="utf-8"))
    stanza = axolotl["datasets"][0]
    assert stanza["type"] == "chat_template" and stanza["field_messages"] == "messages"
    assert stanza["message_property_mappings"] == {"role": "role", "content": "content"}
    rows = load_dataset("json", data_files=str(out / stanza["path"]), split="train")
    assert {m["role"] for row in rows for m in row["messages"]} == {"user", "assistant"}
    assert axolotl["sequence_len"] % 64 == 0
    swift = json.loads((out / "trainers" / "swift_dataset_info.json").read_text(encoding="utf-8"))
    assert isinstance(swift, list) and all(load_dataset("json", data_files=str(out / "trainers" / entry["dataset_path"]),
                                                        split="train").num_rows for entry in swift)


def test_a_default_build_gets_what_its_formats_allow(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("build", "--config", SAMPLE, "--out", out, "--quiet").exit_code == 0
    trainers = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["quality"]["trainers"]
    assert set(trainers) == {"llamafactory", "ms-swift"}  # TRL and axolotl read messages, not written here
    config = yaml.safe_load((out / "trainers" / "llamafactory_sft.yaml").read_text(encoding="utf-8"))
    assert config["dataset"] == "qizhen-instructions_alpaca_train" and "cutoff_len" not in config
    assert "template" not in config


@pytest.fixture(scope="module")
def llamafactory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """LLaMA-Factory's own code, from its wheel on PyPI: it cannot be installed beside this project (it pins
    datasets below 5 and pulls a CUDA build of torch), so its parser and argument classes are imported from the
    unpacked wheel, without the package's __init__ files, which load the training stack."""
    pytest.importorskip("peft", reason="LLaMA-Factory's argument classes need peft: pip install '.[train]'")
    folder = tmp_path_factory.mktemp("llamafactory")
    wheel = fetched_wheel("llamafactory==0.9.5", folder)
    with unpacked(wheel, folder / "src", ("llamafactory", "llamafactory.data", "llamafactory.hparams")) as root:
        yield root


def test_llamafactorys_own_parsers_read_the_dataset_info_and_the_training_fragment(
        built: tuple[Path, Path], llamafactory: Path) -> None:
    from transformers import HfArgumentParser

    out, _ = built
    parser = importlib.import_module("llamafactory.data.parser")
    data_args = importlib.import_module("llamafactory.hparams.data_args")
    finetuning_args = importlib.import_module("llamafactory.hparams.finetuning_args")
    config = yaml.safe_load((out / "trainers" / "llamafactory_sft.yaml").read_text(encoding="utf-8"))
    data, finetuning = HfArgumentParser((data_args.DataArguments, finetuning_args.FinetuningArguments)).parse_dict(
        {key: value for key, value in config.items() if key != "do_train"})  # do_train is transformers' own
    assert finetuning.stage == "sft" and data.cutoff_len == config["cutoff_len"]
    for attr in parser.get_dataset_list(data.dataset + data.eval_dataset, str(out)):
        assert attr.load_from == "file" and attr.formatting == "sharegpt" and (out / attr.dataset_name).is_file()
        assert (attr.messages, attr.role_tag, attr.content_tag, attr.user_tag) == ("messages", "role", "content", "user")
    registered = {keyword.value.value for node in ast.walk(ast.parse((llamafactory / "data" / "template.py").read_text(
        encoding="utf-8"))) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "register_template"
        for keyword in node.keywords if keyword.arg == "name"}
    shipped = {load_chat_template(name).llamafactory for name in shipped_chat_templates()}
    assert shipped <= registered, shipped - registered  # every shipped template names one LLaMA-Factory has


def test_axolotls_own_schema_reads_the_datasets_stanza(built: tuple[Path, Path], tmp_path: Path) -> None:
    """axolotl's pydantic models for a dataset entry and its chat-template choice, from its wheel on PyPI (axolotl
    cannot be installed beside this project: it pins datasets 4.8.4; its newest releases need Python 3.12)."""
    wheel = fetched_wheel("axolotl==0.19.0", tmp_path)
    with unpacked(wheel, tmp_path / "src", ("axolotl", "axolotl.utils", "axolotl.utils.schemas")):
        schema = importlib.import_module("axolotl.utils.schemas.datasets")
        enums = importlib.import_module("axolotl.utils.schemas.enums")
        out, _ = built
        config = yaml.safe_load((out / "trainers" / "axolotl.yaml").read_text(encoding="utf-8"))
        entry = schema.SFTDataset(**config["datasets"][0])
        assert entry.type == "chat_template" and entry.roles_to_train == ["assistant"] and entry.train_on_eos == "turn"
        assert enums.ChatTemplate(config["chat_template"]) == enums.ChatTemplate.tokenizer_default
        assert (out / entry.path).is_file()
