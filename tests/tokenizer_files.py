"""Tokenizers the tests train themselves on the project's own sample (no download): a byte-level BPE
`tokenizer.json` with Hugging Face `tokenizers`, and a tiktoken BPE file with tiktoken's own trainer."""

import base64
from pathlib import Path

from builder.quality.tokens import QWEN_PATTERN

RAW = Path(__file__).resolve().parents[1] / "raw"


def sample_texts() -> list[str]:
    """Every line of the shipped sample's files (UTF-8 or GB18030): Chinese medical text as the builds read it."""
    lines = []
    for path in sorted(RAW.glob("*.*")):
        if path.suffix in (".csv", ".json", ".jsonl"):
            data = path.read_bytes()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("gb18030")
            lines += [line for line in text.splitlines() if line.strip()]
    return lines


def huggingface_tokenizer(path: Path, vocab: int = 800) -> Path:
    """A byte-level BPE trained on the sample, saved as a tokenizer.json (what a model folder holds)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>"], show_progress=False)
    tokenizer.train_from_iterator(sample_texts(), trainer)
    tokenizer.save(str(path))
    return path


def tiktoken_file(path: Path, vocab: int = 300) -> Path:
    """A tiktoken BPE file (base64 token, space, rank per line) trained on part of the sample with Qwen's pattern."""
    from tiktoken._educational import bpe_train

    ranks = bpe_train("\n".join(sample_texts())[:20000], vocab, QWEN_PATTERN, visualise=None)
    path.write_bytes(b"".join(base64.b64encode(token) + b" %d\n" % rank
                              for token, rank in sorted(ranks.items(), key=lambda item: item[1])))
    return path
