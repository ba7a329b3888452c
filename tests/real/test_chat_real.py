"""The loss-mask check under every shipped chat template, on every row a build of the real data exports."""

import json
from pathlib import Path

import pytest

from builder.export.chat import shipped_chat_templates
from tests.conftest import run
from tests.real.test_shared_data import DRUGS, SFT, SHARED, TOYHOM

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data folder {SHARED} is absent (it lives beside the repo)")


def test_every_shipped_template_passes_on_every_real_row(tmp_path: Path) -> None:
    out = tmp_path / "out"
    flags = [arg for name in shipped_chat_templates() for arg in ("--chat-template", name)]
    result = run("build", "--kb", f"drug={DRUGS}", "--qa", TOYHOM, "--qa", SFT, "--out", out, "--seed", "1",
                 "--system-prompt", "你是一名医生。", "--quiet", *flags)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    rows = sum(manifest["splits"].values())
    checked = manifest["quality"]["chat_templates"]
    assert rows > 20_000 and set(checked) == set(shipped_chat_templates())
    assert all(figures["rows"] == rows and figures["failed"] == 0 for figures in checked.values())
