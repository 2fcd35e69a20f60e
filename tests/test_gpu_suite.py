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
    rows = gpu_suite.main(["--quick", "--encoders", "1", "auto", "-o", str(out)])
    saved = json.loads(out.read_text())
    assert saved["results"] == json.loads(json.dumps(rows)) and saved["machine"]["device"] == "cpu"
    by = {section: [r for r in rows if r["section"] == section] for section in ("tests", "generator", "encoder", "yuv", "render", "goals")}
    assert by["tests"] == [{"section": "tests", "skipped": "no CUDA"}]
    cuda = [r for r in by["generator"] if r.get("device") == "cuda"]
    assert len(cuda) == 6 and all(r["skipped"] == "no CUDA" for r in cuda)  # 256 and 1024 px x 3 precisions
    measured = [r for r in by["generator"] if "img_s" in r]
    assert {r["variant"] for r in measured} == {"eager", "channels_last"} and all(r["img_s"] > 0 for r in measured)
    assert by["encoder"][0]["fps"] > 0
    # The encoder fed RGB and fed yuv420p: half the bytes per frame.
    assert [r["layout"] for r in by["encoder"]] == ["rgb24", "yuv420p"] and all(r["fps"] > 0 for r in by["encoder"])
    assert by["encoder"][1]["bytes_per_frame"] * 2 == by["encoder"][0]["bytes_per_frame"] == 64 * 64 * 3
    assert len(by["yuv"]) == 1 and by["yuv"][0]["device"] == "cpu" and by["yuv"][0]["fps"] > 0
    assert [(r["encoders"], r["skipped"]) for r in by["render"] if r.get("size") == 1024] == [(1, "no CUDA"), ("auto", "no CUDA")]
    cpu_render = [r for r in by["render"] if "fps" in r]
    assert len(cpu_render) == 1 and cpu_render[0]["frames"] == 12 and cpu_render[0]["fps"] > 0
    assert cpu_render[0]["frame_layout"] == "rgb24" and cpu_render[0]["encoders_ran"] == 1  # a CPU render: RGB
    assert by["goals"][0]["img_s_1024_bf16"] is None and by["goals"][0]["img_s_met"] is None
