"""Remake the built-in models `demo`, `demo-transfer` and `demo-pastel` from the procedural faces.

    python tools/make_demo_models.py data              # the three image folders (seeded)
    python tools/make_demo_models.py base              # train `demo` from scratch (idle 2-core CPU: about 75 min)
    python tools/make_demo_models.py transfer          # `renderer finetune` it on the woodblock prints and on the pastels
    python tools/make_demo_models.py export-base       # (optional) write demo from the last base snapshot

Everything is seeded: the data sets come from DATA_SEED, the initial weights and the training
randomness from TRAIN_SEED. Training runs on one CPU thread by default (`--threads`). Outputs land
in `build/demo-models/` (snapshot grids, logs, training states) and the finished weights are copied
to `renderer/models/weights/` by `install` (grown to the 256 px frame of the built-ins, see
renderer.models.demo).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA_SEED = 2020  # the procedural faces (renderer.jobs.faces)
TRAIN_SEED = 1022
RESOLUTION = 64
BASE_IMAGES = 2000  # drawn faces for `demo`
TRANSFER_IMAGES = 300  # prints / pastels for each transfer (the size of the paper's Toonify set)
TRANSFER_DATA_OFFSET = 100_000  # transfer faces other than the base's training faces
TRANSFERS = {"demo-transfer": "woodblock", "demo-pastel": "pastel"}  # model -> face style it learns
BASE_KIMG = 139.5  # length of the from-scratch run (16 kimg, then resumed; stopped at 139.5 for time)
BASE_BATCH = 8
TRANSFER_KIMG = 10.0
# The transfer recipe: a quarter of the base's lr, the base's mapping kept (its w space, so the
# layer swap lines up), D's two top blocks fixed (FreezeD) and DiffAugment. With lr 0.002 and
# the mapping training, a 300-image transfer collapsed to one face within 3 kimg.
TRANSFER_LR = 0.001
TRANSFER_BATCH = 8
BUILD = ROOT / "build" / "demo-models"
RELATIVE_BUILD = BUILD.relative_to(ROOT)  # what the finetune command is given (it runs in ROOT): its notes, kept in the weights, name no machine path
WEIGHTS = ROOT / "renderer" / "models" / "weights"


def base_config():  # -> GeneratorConfig
    from renderer.models.stylegan2 import GeneratorConfig

    return GeneratorConfig(
        z_dim=128,
        w_dim=128,
        img_resolution=RESOLUTION,
        channels={4: 128, 8: 128, 16: 64, 32: 32, 64: 16},
        mapping_layers=4,
        conv_clamp=256.0,
    )


# The discriminator is lighter than G: on a CPU it costs two thirds of every step at G's widths
# (it runs forward and backward three times a step), and simple drawn faces need little capacity.
D_CHANNELS = {4: 64, 8: 64, 16: 32, 32: 16, 64: 16}


def make_data() -> None:
    from renderer.jobs.faces import write_faces

    started = time.perf_counter()
    write_faces(BUILD / "faces", DATA_SEED, BASE_IMAGES, size=RESOLUTION, style="photo")
    for style in TRANSFERS.values():
        write_faces(BUILD / style, DATA_SEED + TRANSFER_DATA_OFFSET, TRANSFER_IMAGES, size=RESOLUTION, style=style)
    print(f"data sets written in {time.perf_counter() - started:.0f} s", flush=True)


def train_base(kimg: float, resume: bool) -> None:
    import torch

    from renderer.jobs.finetune import FinetuneSettings, load_image_folder, train
    from renderer.jobs.stills import save_native
    from renderer.models.discriminator import discriminator_for
    from renderer.models.stylegan2 import Generator
    from renderer.models.synthesizer import ModelInfo

    torch.manual_seed(TRAIN_SEED)
    G = Generator(base_config())  # fresh weights, NVIDIA's initialisation, from TRAIN_SEED
    D = discriminator_for(RESOLUTION, D_CHANNELS)
    images = load_image_folder(BUILD / "faces", RESOLUTION)
    settings = FinetuneSettings(
        kimg=kimg, batch=BASE_BATCH, lr=0.0025, mirror=True, augment="none", snapshot_kimg=0.5, seed=TRAIN_SEED
    )

    def report(p) -> None:  # noqa: ANN001
        if p.step % 25 == 0:
            print(f"kimg {p.kimg:7.3f}  G {p.loss_g:.3f}  D {p.loss_d:.3f}  r1 {p.r1 or 0:.4f}  {p.sec_per_kimg:.0f} s/kimg", flush=True)

    result = train(G, images, settings, D=D, snapshots=BUILD / "base-snapshots", resume=resume, progress=report)
    result.G_ema.info = ModelInfo(format="native", source="demo", w_avg_source=result.G_ema.info.w_avg_source)
    save_native(result.G_ema, BUILD / "demo-64.safetensors", discriminator=result.D)
    print(f"wrote {BUILD / 'demo-64.safetensors'}", flush=True)


def export_base() -> None:
    """Write demo.safetensors from the newest base training state (a run stopped early)."""
    import torch

    from renderer.jobs.finetune import STATE_FILE
    from renderer.jobs.stills import save_native
    from renderer.models.discriminator import discriminator_for
    from renderer.models.stylegan2 import Generator, use_estimated_w_avg
    from renderer.models.synthesizer import ModelInfo

    state = torch.load(BUILD / "base-snapshots" / STATE_FILE, map_location="cpu", weights_only=True)
    config = base_config()
    G = Generator(config)
    G.load_state_dict(state["G_ema"])
    G.info = ModelInfo(format="native", source="demo", w_avg_source=use_estimated_w_avg(G))
    D = discriminator_for(config.img_resolution, D_CHANNELS)
    D.load_state_dict(state["D"])
    save_native(G, BUILD / "demo-64.safetensors", discriminator=D)
    print(f"wrote {BUILD / 'demo-64.safetensors'} from the state at {state['nimg'] / 1000:.2f} kimg", flush=True)


def train_transfer(name: str, kimg: float, resume: bool) -> None:
    style = TRANSFERS[name]
    command = [
        sys.executable, "-m", "renderer", "finetune", str(RELATIVE_BUILD / "demo-64.safetensors"), str(RELATIVE_BUILD / style),
        "-o", str(RELATIVE_BUILD / f"{name}-64.safetensors"), "--kimg", str(kimg), "--batch", str(TRANSFER_BATCH),
        "--lr", str(TRANSFER_LR), "--mapping-lr", "0", "--freeze-d", "2", "--mirror", "--augment", "diffaugment", "--snapshots", str(RELATIVE_BUILD / f"{name}-snapshots"),
        "--snapshot-kimg", "1", "--seed", str(TRAIN_SEED), "--device", "cpu",
    ]
    if resume:
        command.append("--resume")
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def install() -> None:
    """Grow both 64 px models to the 256 px built-ins (upsampling-only top blocks) and package them."""
    from renderer.jobs.stills import save_native
    from renderer.models.checkpoints import load_generator
    from renderer.models.demo import GROWN_CHANNELS, SERVED_RESOLUTION, grow_generator
    from renderer.models.synthesizer import ModelInfo

    WEIGHTS.mkdir(parents=True, exist_ok=True)
    for name in ("demo", *TRANSFERS):
        G = load_generator(BUILD / f"{name}-64.safetensors")
        grown = grow_generator(G, SERVED_RESOLUTION, GROWN_CHANNELS)
        # Notes written by an earlier run given absolute paths are made relative to the repository too.
        notes = (*(re.sub(rf"\S*/({RELATIVE_BUILD}/)", r"\1", note) for note in G.info.notes), f"trained at {G.img_resolution} px; the 128 and 256 px blocks only upsample")
        grown.info = ModelInfo(format="native", source=name, w_avg_source=G.info.w_avg_source, notes=notes)
        path = save_native(grown, WEIGHTS / f"{name}.safetensors")
        _store_half(path)
        print(f"installed {path} ({path.stat().st_size / 1e6:.1f} MB)")


def _store_half(path: Path) -> None:
    """Rewrite a .safetensors file with float16 tensors (half the package size; loading casts back)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k).half() for k in f.keys()}  # noqa: SIM118
    save_file(tensors, str(path), metadata=metadata)


def _features(images):  # uint8 [N, 64, 64, 3] -> float64 [N, 192]
    """8x8 RGB thumbnails (area average) in [0, 1]: the layout and colours of a face."""
    import numpy as np

    n = images.shape[0]
    return images.reshape(n, 8, 8, 8, 8, 3).mean(axis=(2, 4)).reshape(n, -1).astype(np.float64) / 255


def frechet_distance(a, b) -> float:  # noqa: ANN001
    """The Fréchet distance between Gaussian fits of two feature sets (FID's formula)."""
    import numpy as np
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def _generate(G, count: int, seed: int):  # noqa: ANN001, ANN202
    import numpy as np
    import torch

    z = torch.from_numpy(np.random.RandomState(seed).randn(count, G.z_dim)).float()
    with torch.no_grad():
        img = G(z, noise_mode="const")
    return ((img.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def report() -> None:
    """Quality evidence (Fréchet distances, D accuracy), training curves and the README grids."""
    import json

    import numpy as np
    import torch

    from renderer.frames.images import image_grid
    from renderer.jobs.faces import face_images
    from renderer.jobs.stills import GenerateSettings, blend_grid, write_png
    from renderer.models.blending import blend
    from renderer.models.checkpoints import load_generator
    from renderer.models.checkpoints.discriminators import load_discriminator
    from renderer.models.stylegan2 import Generator

    n = 300
    styles = {"photo": "faces", **{style: style for style in TRANSFERS.values()}}
    held = {style: face_images(DATA_SEED + 7, n, size=RESOLUTION, style=style) for style in styles}
    train_photo = face_images(DATA_SEED, n, size=RESOLUTION, style="photo")
    torch.manual_seed(TRAIN_SEED)
    untrained = Generator(base_config())
    models = {"untrained": untrained, **{name: load_generator(BUILD / f"{name}-64.safetensors") for name in ("demo", *TRANSFERS)}}
    fakes = {name: _generate(G, n, 123) for name, G in models.items()}
    f = {k: _features(v) for k, v in fakes.items()}
    f_held = {style: _features(images) for style, images in held.items()}
    rows = {"training faces vs held-out faces (floor)": frechet_distance(_features(train_photo), f_held["photo"])}
    for name in models:
        for style in styles:
            rows[f"{name} vs held-out {style}"] = frechet_distance(f[name], f_held[style])
    for style in TRANSFERS.values():
        rows[f"held-out photo vs held-out {style}"] = frechet_distance(f_held["photo"], f_held[style])
    accuracy = {}
    model_style = {"demo": "photo", **TRANSFERS}
    for name, style in model_style.items():
        D = load_discriminator(BUILD / f"{name}-64.safetensors")
        with torch.no_grad():
            logits_real = D(torch.from_numpy(held[style]).permute(0, 3, 1, 2).float() / 127.5 - 1)
            logits_fake = D(torch.from_numpy(fakes[name]).permute(0, 3, 1, 2).float() / 127.5 - 1)
        accuracy[name] = {
            "real_held_out_judged_real": float((logits_real > 0).float().mean()),
            "fake_judged_fake": float((logits_fake < 0).float().mean()),
        }
    evidence = {"frechet_distance_8x8_rgb": rows, "discriminator_accuracy": accuracy, "samples": n}
    (BUILD / "evidence.json").write_text(json.dumps(evidence, indent=2))
    print(json.dumps(evidence, indent=2))

    docs = ROOT / "docs" / "images"
    docs.mkdir(parents=True, exist_ok=True)
    settings = GenerateSettings(truncation_psi=0.7)
    seeds = list(range(16))
    for name in ("demo", *TRANSFERS):
        G = load_generator(name)
        tiles = [row[0] for row in blend_grid([G], seeds, settings)]
        tiles = [t.reshape(128, 2, 128, 2, 3).mean(axis=(1, 3)).round().astype(np.uint8) for t in tiles]
        sheet = image_grid([tiles[i : i + 8] for i in range(0, 16, 8)])
        write_png(sheet, docs / f"{name}-grid.png")
    G_base, G_transfer = load_generator("demo"), load_generator("demo-transfer")
    swap = blend(G_base, G_transfer, {"swap": 16})
    reverse = blend(G_base, G_transfer, {"swap": 16, "low": "base"})
    rows_ = blend_grid([G_base, swap, reverse, G_transfer], [3, 4, 5, 6], settings)
    rows_ = [[t.reshape(128, 2, 128, 2, 3).mean(axis=(1, 3)).round().astype(np.uint8) for t in r] for r in rows_]
    labels = ["demo", "swap 16", "swap 16, low base", "demo-transfer"]
    sheet = image_grid(rows_, column_labels=labels, row_labels=[f"seed {s}" for s in (3, 4, 5, 6)])
    write_png(sheet, docs / "demo-swap16-grid.png")
    _plot_curves(docs / "demo-training.png")
    print(f"wrote grids and curves to {docs}")


def _plot_curves(path: Path) -> None:
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    runs = ("base", *TRANSFERS)
    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.2), dpi=100)
    for ax, run in zip(axes, runs, strict=True):
        rows = [json.loads(line) for line in (BUILD / f"{run}-snapshots" / "log.jsonl").read_text().splitlines()]
        kimg = np.array([r["kimg"] for r in rows])

        def smooth(values):  # noqa: ANN001, ANN202
            k = max(1, len(values) // 60)
            return np.convolve(values, np.ones(k) / k, mode="valid")  # no edge dips: only full windows

        k = max(1, len(rows) // 60)
        at = kimg[k // 2 : k // 2 + len(rows) - k + 1]
        ax.plot(at, smooth(np.array([r["loss_g"] for r in rows])), label="G loss")
        ax.plot(at, smooth(np.array([r["loss_d"] for r in rows])), label="D loss")
        ax.plot(at, smooth(np.array([r["d_accuracy"] for r in rows])), label="D accuracy (batch)")
        ax.set_title("demo (from scratch)" if run == "base" else f"{run} (renderer finetune)")
        ax.set_xlabel("kimg")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["data", "base", "export-base", "transfer", "install", "report"])
    parser.add_argument("--kimg", type=float, default=None, help="training length (default: the recorded one)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", choices=list(TRANSFERS), default=None, help="transfer: just this model")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.step == "data":
        make_data()
    elif args.step == "base":
        train_base(args.kimg or BASE_KIMG, args.resume)
    elif args.step == "export-base":
        export_base()
    elif args.step == "transfer":
        for name in [args.only] if args.only else TRANSFERS:
            train_transfer(name, args.kimg or TRANSFER_KIMG, args.resume)
    elif args.step == "install":
        install()
    else:
        report()


if __name__ == "__main__":
    main()
