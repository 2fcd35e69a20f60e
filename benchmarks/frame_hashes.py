"""Hash every frame of every example's PNG render, to prove a refactor changes no pixel.

Run it before and after a change and compare the two JSON files (`--compare BEFORE.json`):

    python benchmarks/frame_hashes.py -o before.json
    ... change the code ...
    python benchmarks/frame_hashes.py -o after.json --compare before.json

Each example is rendered to a PNG folder through the public API on the CPU, at full size and at a
low synthesis level (`--res`), and each frame's decoded pixels are hashed (PNG bytes could differ
with the encoder's version; the pixels may not).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import renderer

REPO = Path(__file__).resolve().parents[1]


def frame_hashes(example: Path, resolution: int | None, folder: Path) -> list[str]:
    script = renderer.load_script(example)
    out = folder / f"{example.stem}_{resolution or 'full'}"
    settings = renderer.RenderSettings(device="cpu", resolution=resolution, output={"file": out, "format": "png"})
    renderer.render(script, settings)
    return [hashlib.sha256(np.asarray(Image.open(p)).tobytes()).hexdigest() for p in sorted(out.glob("*.png"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--compare", type=Path, help="an earlier run's JSON: exit 1 on any difference")
    parser.add_argument("--res", type=int, nargs="*", default=[0, 32], help="0: full size")
    args = parser.parse_args()
    examples = sorted(p for p in (REPO / "examples").iterdir() if p.suffix in (".toml", ".json", ".yaml"))
    hashes: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for example in examples:
            for res in args.res:
                name = f"{example.name}@{res or 'full'}"
                hashes[name] = frame_hashes(example, res or None, Path(tmp))
                print(f"{name:45s} {len(hashes[name]):5d} frames", flush=True)
    args.output.write_text(json.dumps(hashes, indent=1))
    if args.compare is not None:
        before = json.loads(args.compare.read_text())
        changed = [k for k in sorted(set(before) | set(hashes)) if before.get(k) != hashes.get(k)]
        for k in changed:
            a, b = before.get(k, []), hashes.get(k, [])
            diff = sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))
            print(f"DIFFERENT {k}: {diff} of {max(len(a), len(b))} frames")
        print(f"{len(hashes) - len(changed)} of {len(hashes)} renders bit-identical")
        sys.exit(1 if changed else 0)


if __name__ == "__main__":
    main()
