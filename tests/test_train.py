"""A real training run on a built dataset, on the CPU: a tiny Llama-architecture model with random weights, the
tokenizer the tests train on the sample with the project's ChatML template as its chat template, and TRL's
SFTTrainer on the prompt-completion export with completion-only loss. Needs the train extra."""

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the training test needs the train extra: pip install '.[train]'")
transformers = pytest.importorskip("transformers", reason="the training test needs the train extra")
trl = pytest.importorskip("trl", reason="the training test needs the train extra")

from datasets import load_dataset  # noqa: E402 - after the skips
from tokenizers import Tokenizer  # noqa: E402

from builder.export.chat import load_chat_template  # noqa: E402
from tests.conftest import run  # noqa: E402
from tests.tokenizer_files import huggingface_tokenizer  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "raw" / "sample.toml"
STEPS, MAX_LENGTH, ROWS = 20, 384, 16  # 16 rows seen ten times: enough to learn them
DROP = 0.25  # the last step's loss is at least this share below the first step's


def chat_tokenizer(folder: Path) -> "transformers.PreTrainedTokenizerFast":
    """The sample-trained BPE with ChatML's markers as special tokens and ChatML as its chat template."""
    raw = Tokenizer.from_file(str(huggingface_tokenizer(folder / "tokenizer.json")))
    raw.add_special_tokens(["<|im_start|>", "<|im_end|>"])
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|im_end|>",
                                                     pad_token="<|endoftext|>")
    tokenizer.chat_template = load_chat_template("chatml").template
    return tokenizer


def test_a_tiny_llama_learns_the_answers_and_only_the_answers(tmp_path: Path) -> None:
    out = tmp_path / "out"
    built = run("build", "--config", SAMPLE, "--out", out, "--format", "prompt_completion", "--chat-template",
                "chatml", "--quiet")
    assert built.exit_code == 0, built.output
    tokenizer = chat_tokenizer(tmp_path)
    rows = load_dataset("json", data_files=str(out / "prompt_completion" / "train.jsonl"), split="train")
    fits = [i for i, row in enumerate(rows) if len(tokenizer.apply_chat_template(
        row["prompt"] + row["completion"], tokenize=True)) <= MAX_LENGTH]
    dataset = rows.select(fits[:ROWS])
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=MAX_LENGTH, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=None))
    config = trl.SFTConfig(output_dir=str(tmp_path / "run"), max_steps=STEPS, per_device_train_batch_size=8,
                           learning_rate=3e-3, lr_scheduler_type="constant", logging_steps=1, report_to=[],
                           save_strategy="no", use_cpu=True, max_length=MAX_LENGTH, completion_only_loss=True,
                           seed=0, dataloader_num_workers=0, disable_tqdm=True)
    trainer = trl.SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)

    # the tokens carrying loss are exactly the answer's, with the end-of-turn token after it
    examples = [trainer.train_dataset[i] for i in range(8)]
    batch = trainer.data_collator(examples)
    for ids, labels, row in zip(batch["input_ids"], batch["labels"], dataset.select(range(8)), strict=True):
        learned = tokenizer.decode(ids[labels != -100])
        assert learned == row["completion"][0]["content"] + "<|im_end|>\n", learned
        prompt = tokenizer.decode(ids[(labels == -100) & (ids != tokenizer.pad_token_id)])
        assert prompt == tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)

    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == STEPS and all(math.isfinite(loss) for loss in losses)
    assert losses[-1] <= (1 - DROP) * losses[0], losses
