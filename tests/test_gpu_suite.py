"""benchmarks/gpu_suite.py runs on a machine without CUDA: the CUDA rows skipped, the rest measured."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU run; on a GPU the suite itself is the check")
def test_the_gpu_suite_runs_on_a_cpu_and_skips_the_cuda_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    monkeypatch.setattr(sys, "argv", ["gpu_suite.py"])
    import gpu_suite

    out = tmp_path / "suite.json"
    rows = gpu_suite.main(["--quick", "--encoders", "1", "2", "-o", str(out)])
    saved = json.loads(out.read_text())
    assert saved["results"] == json.loads(json.dumps(rows)) and saved["machine"]["device"] == "cpu"
    by = {section: [r for r in rows if r["section"] == section] for section in ("tests", "generator", "encoder", "render", "goals")}
    assert by["tests"] == [{"section": "tests", "skipped": "no CUDA"}]
    cuda = [r for r in by["generator"] if r.get("device") == "cuda"]
    assert len(cuda) == 6 and all(r["skipped"] == "no CUDA" for r in cuda)  # 256 and 1024 px x 3 precisions
    measured = [r for r in by["generator"] if "img_s" in r]
    assert {r["variant"] for r in measured} == {"eager", "channels_last"} and all(r["img_s"] > 0 for r in measured)
    assert by["encoder"][0]["fps"] > 0
    assert [r["skipped"] for r in by["render"] if r.get("size") == 1024] == ["no CUDA", "no CUDA"]
    cpu_render = [r for r in by["render"] if "fps" in r]
    assert len(cpu_render) == 1 and cpu_render[0]["frames"] == 12 and cpu_render[0]["fps"] > 0
    assert by["goals"][0]["img_s_1024_bf16"] is None and by["goals"][0]["img_s_met"] is None
