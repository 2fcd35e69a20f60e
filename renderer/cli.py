"""The `renderer` command line: parse, call the library, turn errors into one line and an exit code.

Exit codes: 0 ok, 1 runtime failure (unreadable checkpoint, unwritable output), 2 bad input or
usage, 130 interrupted. Results go to stdout, progress and errors to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

import renderer
from renderer import __version__

app = typer.Typer(
    name="renderer",
    help="Render StyleGAN2 images and videos from NVIDIA, TensorFlow and rosinality checkpoints.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)
stdout = Console()
stderr = Console(stderr=True)

MODEL_PANEL = "Model"
LATENT_PANEL = "Latents"
OUTPUT_PANEL = "Output"
DEVICE_PANEL = "Device and speed"
RAY_PANEL = "Distributed (Ray)"

T = TypeVar("T")


def _presets(names: list[str] | None) -> list[str]:
    """Preset names from the command line; a .toml path there is relative to the current folder."""
    return [str(Path(n).resolve()) if n.endswith(".toml") else n for n in names or []]

CompileOption = Annotated[
    str,
    typer.Option(
        "--compile",
        help="Synthesis through torch.compile: auto (when the job is long enough to repay the compile), on or off.",
        rich_help_panel=DEVICE_PANEL,
    ),
]
PresetOption = Annotated[
    list[str] | None,
    typer.Option("--preset", "-p", help="Add a preset (after the script's own; repeatable). See `renderer presets`."),
]


def fail(error: renderer.RendererError) -> NoReturn:
    """Print one error line on stderr and exit with the error's code."""
    stderr.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(error.exit_code)


def run(action: Callable[[], T], *, interrupted: str | Callable[[], str] = "interrupted") -> T:
    """Call into the library; print its errors as one line and exit with their code (130 on Ctrl-C,
    saying `interrupted`, or what it returns when it is a function)."""
    try:
        return action()
    except renderer.RendererError as e:
        fail(e)
    except KeyboardInterrupt:
        stderr.print(interrupted if isinstance(interrupted, str) else interrupted(), highlight=False)
        raise typer.Exit(130) from None


def _version(value: bool) -> None:
    if value:
        stdout.print(f"renderer {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """Render StyleGAN2 and StyleGAN3 images and videos from NVIDIA, TensorFlow and rosinality checkpoints."""


ModelArg = Annotated[str, typer.Argument(help="Checkpoint file (.pkl, .pt, .safetensors) or 'demo'.")]


@app.command()
def inspect(
    checkpoint: ModelArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the facts as JSON on stdout.")] = False,
) -> None:
    """Show a checkpoint's format, architecture and where its w_avg came from."""
    G = run(lambda: renderer.load_generator(checkpoint))
    facts = renderer.describe_generator(G)
    if as_json:
        stdout.print_json(json.dumps(facts))
        return
    if facts.get("family") == "stylegan3":
        _inspect_stylegan3(G, facts)
        return
    channels = ", ".join(f"{r}: {c}" for r, c in G.config.channels.items())
    _print_facts(G, facts, {}, {
        "synthesis": f"{G.config.architecture}, conv clamp {G.config.conv_clamp}, noise {'yes' if G.config.use_noise else 'no'}",
        "channels": channels,
    })


def _print_facts(G: renderer.Synthesizer, facts: dict[str, object], head: dict[str, str], body: dict[str, str]) -> None:
    """The facts table of `inspect`: what every family has, with the family's own rows."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    rows = {
        "file": str(facts["source"]),
        "format": str(facts["format"]),
        **head,
        "resolution": f"{G.img_resolution} x {G.img_resolution}, {G.img_channels} channels",
        "z_dim / w_dim": f"{G.z_dim} / {G.w_dim}" + (f", c_dim {G.c_dim}" if G.c_dim else ""),
        "num_ws": str(G.num_ws),
        "mapping": f"{facts['mapping_layers']} layers, lr multiplier {facts['mapping_lr_multiplier']:g}",
        **body,
        "parameters": f"{facts['parameters']:,}",
        "w_avg": str(facts["w_avg_source"]),
    }
    for key, value in rows.items():
        table.add_row(key, value)
    for note in G.info.notes:
        table.add_row("note", note)
    stdout.print(table, highlight=False)


def _inspect_stylegan3(G: renderer.Synthesizer, facts: dict[str, object]) -> None:
    """`inspect` of a StyleGAN3 model: the facts, then one row per layer (sizes, channels, rates)."""
    inp: dict[str, float] = facts["input"]  # type: ignore[assignment]
    _print_facts(G, facts, {"family": f"StyleGAN3 ({facts['architecture']})"}, {
        "input": f"{inp['channels']:g} Fourier features, {inp['size']:g} px, sampling rate {inp['sampling_rate']:g}, "
                 f"bandwidth {inp['bandwidth']:g}",
        "synthesis": f"conv clamp {facts['conv_clamp']}, output scale {facts['output_scale']:g}, no noise",
        "blend levels": ", ".join(map(str, facts["blend_levels"])),  # type: ignore[call-overload]
    })
    layers = Table("layer", "size", "channels", "rate (tmp)", "cutoff", "up/down", "filters", box=None)
    for layer in facts["layers"]:  # type: ignore[attr-defined]
        rate_in, rate_out, tmp = layer["sampling_rate"]
        kind = "-" if layer["torgb"] else ("radial" if layer["radial"] else "1-D")
        layers.add_row(
            layer["name"], "{}->{}".format(*layer["size"]), "{}->{}".format(*layer["channels"]),
            f"{rate_in}->{rate_out} ({tmp})", "{:.3g}->{:.3g}".format(*layer["cutoff"]),
            f"{layer['up']}/{layer['down']}", kind + (" crit." if layer["critical"] else ""),
        )
    stdout.print(layers, highlight=False)


@app.command()
def convert(
    checkpoint: ModelArg,
    output: Annotated[Path, typer.Argument(help="Where to write the .safetensors file.")],
) -> None:
    """Convert a checkpoint to renderer's safetensors format (fast to load, no pickle)."""
    if output.suffix != ".safetensors":
        fail(renderer.UsageError(f"{output}: the output must end in .safetensors"))
    G = run(lambda: renderer.load_generator(checkpoint))
    run(lambda: renderer.save_native(G, output))
    stdout.print(str(output), highlight=False)


@app.command()
def generate(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Checkpoint file or built-in name.", rich_help_panel=MODEL_PANEL)
    ] = "demo",
    seeds: Annotated[
        str, typer.Option("--seeds", "-s", help="Seeds and ranges, e.g. 0-3,7.", rich_help_panel=LATENT_PANEL)
    ] = "0-7",
    psi: Annotated[
        float, typer.Option("--psi", help="Truncation psi (1 = none).", rich_help_panel=LATENT_PANEL)
    ] = 1.0,
    truncation_cutoff: Annotated[
        int | None,
        typer.Option(help="Truncate only the first N layers.", rich_help_panel=LATENT_PANEL),
    ] = None,
    noise_mode: Annotated[
        str, typer.Option(help="const, random or none.", rich_help_panel=LATENT_PANEL)
    ] = "const",
    outdir: Annotated[
        Path, typer.Option("--outdir", "-o", help="Folder for seedNNNN.png.", rich_help_panel=OUTPUT_PANEL)
    ] = Path("out"),
    device: Annotated[
        str, typer.Option(help="auto, cpu, cuda or mps.", rich_help_panel=DEVICE_PANEL)
    ] = "auto",
    batch_size: Annotated[
        int | None,
        typer.Option(help="Images per batch \\[default: 1 on CPU, 16 on a GPU].", rich_help_panel=DEVICE_PANEL),
    ] = None,
    precision: Annotated[
        str, typer.Option(help="fp32, or fp16 / bf16 on CUDA.", rich_help_panel=DEVICE_PANEL)
    ] = "fp32",
    compile_mode: CompileOption = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Render one PNG per seed, named seed0000.png, ..."""
    seed_list = run(lambda: renderer.parse_seeds(seeds))
    settings = run(
        lambda: renderer.GenerateSettings(
            truncation_psi=psi,
            truncation_cutoff=truncation_cutoff,
            noise_mode=noise_mode,  # type: ignore[arg-type]
            batch_size=batch_size,
            precision=precision,  # type: ignore[arg-type]
            compile=compile_mode,  # type: ignore[arg-type]
        )
    )
    G = run(lambda: renderer.load_generator(model, device=device))
    with Progress(
        TextColumn("generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr,
        disable=quiet,
        transient=True,
    ) as bar:
        task = bar.add_task("generate", total=len(seed_list))
        paths = run(
            lambda: renderer.save_seed_images(
                G, seed_list, outdir, settings, progress=lambda done, _: bar.update(task, completed=done),
                notice=lambda line: stderr.print(escape(line), highlight=False, soft_wrap=True),
            )
        )
    for path in paths:
        stdout.print(str(path), highlight=False, soft_wrap=True)


@app.command("blend")
def blend_command(
    base: Annotated[str, typer.Argument(help="Base checkpoint (its mapping and w_avg are kept) or 'demo'.")],
    transfers: Annotated[
        list[str], typer.Argument(help="Checkpoints fine-tuned from the base ('demo-transfer'); several: give --weight for each.")
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the blend as .safetensors.", rich_help_panel=OUTPUT_PANEL)
    ] = None,
    swap: Annotated[
        int | None, typer.Option(help="Layer swap: resolutions up to R from one model, the rest from the other.")
    ] = None,
    low: Annotated[str, typer.Option(help="Which model the low resolutions of --swap come from: transfer or base.")] = "transfer",
    width: Annotated[
        float | None, typer.Option(help="A logistic ramp of this width (octaves) instead of the --swap step.")
    ] = None,
    alphas: Annotated[
        str | None, typer.Option(help='Transfer alpha per resolution, e.g. "4=1,8=1,16=0.5" (others interpolated).')
    ] = None,
    alpha: Annotated[float | None, typer.Option(help="One transfer alpha for every resolution.")] = None,
    weight: Annotated[
        list[str] | None,
        typer.Option("--weight", help='With several models: each one\'s weight, in order, e.g. 0.3 or "4=1,64=0" (the base takes the rest).'),
    ] = None,
    mapping_alpha: Annotated[
        float, typer.Option(help="Transfer alpha of the mapping network and w_avg (0: the base's, as in the paper).")
    ] = 0.0,
    grid: Annotated[
        Path | None,
        typer.Option(help="Write a PNG with a row per seed: base | blend | transfer.", rich_help_panel=OUTPUT_PANEL),
    ] = None,
    seeds: Annotated[str, typer.Option("--seeds", "-s", help="Seeds of the --grid rows.", rich_help_panel=OUTPUT_PANEL)] = "0-3",
    psi: Annotated[float, typer.Option("--psi", help="Truncation psi of the --grid rows.", rich_help_panel=OUTPUT_PANEL)] = 0.7,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.", rich_help_panel=DEVICE_PANEL)] = "auto",
) -> None:
    """Blend a base model and models fine-tuned from it per resolution (Pinkney & Adler 2020)."""
    if len(transfers) > 1 or weight:
        _blend_many(base, transfers, weight or [], output, grid, seeds, psi, device,
                    given=[n for n, v in (("--swap", swap), ("--alphas", alphas), ("--alpha", alpha)) if v is not None])
        return
    transfer = transfers[0]
    if output is None and grid is None:
        fail(renderer.UsageError("nothing to write: give --output OUT.safetensors and/or --grid GRID.png"))
    if output is not None and output.suffix != ".safetensors":
        fail(renderer.UsageError(f"{output}: the output must end in .safetensors"))
    if grid is not None and grid.suffix.lower() != ".png":
        fail(renderer.UsageError(f"{grid}: the grid must end in .png"))
    try:
        spec = renderer.make_spec(alpha=alpha, swap=swap, low=low, width=width, alphas=alphas)
    except ValueError as e:
        fail(renderer.UsageError(str(e)))
    seed_list = run(lambda: renderer.parse_seeds(seeds))
    G_base = run(lambda: renderer.load_generator(base, device=device))
    G_transfer = run(lambda: renderer.load_generator(transfer, device=device))
    G = run(lambda: renderer.blend(G_base, G_transfer, spec, mapping_alpha=mapping_alpha))
    if output is not None:
        run(lambda: renderer.save_native(G, output))
        stdout.print(str(output), highlight=False)
    if grid is not None:
        rows = renderer.blend_grid([G_base, G, G_transfer], seed_list, renderer.GenerateSettings(truncation_psi=psi))
        sheet = renderer.image_grid(
            rows,
            column_labels=["base", f"blend: {renderer.describe_blend(spec)}", "transfer"],
            row_labels=[f"seed {s}" for s in seed_list],
        )
        run(lambda: renderer.write_png(sheet, grid))
        stdout.print(str(grid), highlight=False)


def _blend_many(
    base: str, models: list[str], weights: list[str], output: Path | None, grid: Path | None,
    seeds: str, psi: float, device: str, *, given: list[str],
) -> None:
    """`renderer blend BASE A B ... --weight WA --weight WB ...`: a static N-model blend."""
    if given:
        fail(renderer.UsageError(f"{', '.join(given)} shape a two-model blend; with several models give --weight for each"))
    if len(weights) != len(models):
        fail(renderer.UsageError(f"{len(models)} models need {len(models)} --weight values (one each, in order), got {len(weights)}"))
    if output is None and grid is None:
        fail(renderer.UsageError("nothing to write: give --output OUT.safetensors and/or --grid GRID.png"))
    if output is not None and output.suffix != ".safetensors":
        fail(renderer.UsageError(f"{output}: the output must end in .safetensors"))
    if grid is not None and grid.suffix.lower() != ".png":
        fail(renderer.UsageError(f"{grid}: the grid must end in .png"))
    specs = []
    for text in weights:
        try:
            specs.append(float(text) if "=" not in text else renderer.parse_alpha_table(text))
        except ValueError as e:
            fail(renderer.UsageError(f"--weight {text!r}: {e}"))
    seed_list = run(lambda: renderer.parse_seeds(seeds))
    G_base = run(lambda: renderer.load_generator(base, device=device))
    others = [run(lambda m=m: renderer.load_generator(m, device=device)) for m in models]
    G = run(lambda: renderer.blend_with_base(G_base, others, specs))
    if output is not None:
        run(lambda: renderer.save_native(G, output))
        stdout.print(str(output), highlight=False)
    if grid is not None:
        rows = renderer.blend_grid([G_base, G, *others], seed_list, renderer.GenerateSettings(truncation_psi=psi))
        labels = ["base", "blend", *[Path(m).stem for m in models]]
        sheet = renderer.image_grid(rows, column_labels=labels, row_labels=[f"seed {s}" for s in seed_list])
        run(lambda: renderer.write_png(sheet, grid))
        stdout.print(str(grid), highlight=False)


@app.command("directions")
def directions_command(
    model: Annotated[str, typer.Argument(help="Checkpoint or 'demo'.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the directions as .npz.", rich_help_panel=OUTPUT_PANEL)
    ] = None,
    method: Annotated[str, typer.Option(help="sefa: closed-form factorisation of the style affine weights.")] = "sefa",
    k: Annotated[int, typer.Option("-k", help="How many directions.")] = 20,
    layers: Annotated[
        str | None, typer.Option(help='Layers to factorise (and move): coarse, middle, fine, "4-7" \\[default: all].')
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Show this direction file (.npy/.npz: ours, GANSpace, InterFaceGAN) instead.")
    ] = None,
    grid: Annotated[
        Path | None, typer.Option(help="Write a PNG: a row per direction, a column per amount.", rich_help_panel=OUTPUT_PANEL)
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the --grid picture.", rich_help_panel=OUTPUT_PANEL)] = 0,
    amounts: Annotated[str, typer.Option(help="Amounts of the --grid columns.", rich_help_panel=OUTPUT_PANEL)] = "-3,-1.5,0,1.5,3",
    rows: Annotated[int, typer.Option(help="Directions shown in the --grid.", rich_help_panel=OUTPUT_PANEL)] = 8,
    psi: Annotated[float, typer.Option("--psi", help="Truncation psi of the --grid picture.", rich_help_panel=OUTPUT_PANEL)] = 0.7,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.", rich_help_panel=DEVICE_PANEL)] = "auto",
) -> None:
    """Find latent directions (SeFa) of a model, or read a direction file, and show what each does."""
    if output is None and grid is None:
        fail(renderer.UsageError("nothing to write: give --output DIRS.npz and/or --grid GRID.png"))
    if file is not None and output is not None:
        fail(renderer.UsageError("--file shows an existing direction file; --output writes new ones: give one"))
    if grid is not None and grid.suffix.lower() != ".png":
        fail(renderer.UsageError(f"{grid}: the grid must end in .png"))
    try:
        steps = [float(a) for a in amounts.split(",") if a.strip()]
    except ValueError:
        fail(renderer.UsageError(f"--amounts must be numbers separated by commas, like -3,0,3; not {amounts!r}"))
    G = run(lambda: renderer.load_generator(model, device=device))
    if file is not None:
        found = run(lambda: renderer.load_directions(file, G))
    else:
        found = run(lambda: renderer.find_directions(G, method=method, k=k, layers=layers))
    if output is not None:
        run(lambda: renderer.write_directions(found, output, method=method))
        stdout.print(str(output), highlight=False)
    if grid is not None:
        sheet = run(lambda: renderer.direction_grid(G, found, seed=seed, amounts=steps, rows=rows, psi=psi, layers=layers))
        run(lambda: renderer.write_png(sheet, grid))
        stdout.print(str(grid), highlight=False)


@app.command("render")
def render_command(
    script: Annotated[Path, typer.Argument(help="Keyframe script (.toml, .json, .yaml).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output: .mp4, .webm, .gif, or a folder for PNG frames \\[default: from the script].", rich_help_panel=OUTPUT_PANEL),
    ] = None,
    codec: Annotated[str | None, typer.Option(help="h264, h265, h264-nvenc, h265-nvenc or vp9.", rich_help_panel=OUTPUT_PANEL)] = None,
    crf: Annotated[int | None, typer.Option(help="Quality, 0 (lossless) to 51 \\[default: 18].", rich_help_panel=OUTPUT_PANEL)] = None,
    encoder_preset: Annotated[
        str | None, typer.Option(help="Encoder speed preset: ultrafast ... veryslow, p1..p7 for NVENC \\[default: medium].", rich_help_panel=OUTPUT_PANEL)
    ] = None,
    audio: Annotated[Path | None, typer.Option(help="Audio file to mux (overrides \\[output] audio).", rich_help_panel=OUTPUT_PANEL)] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Render only the segments an interrupted render is missing.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.", rich_help_panel=DEVICE_PANEL)] = "auto",
    batch_size: Annotated[
        str, typer.Option(help="auto, or frames per batch (halved on out-of-memory).", rich_help_panel=DEVICE_PANEL)
    ] = "auto",
    precision: Annotated[str, typer.Option(help="fp32, or fp16 / bf16 on CUDA.", rich_help_panel=DEVICE_PANEL)] = "fp32",
    encoders: Annotated[
        str, typer.Option(help="Segments encoded in parallel ffmpeg processes, or auto: as many as keep the generator busy (measured on the first segment; one on a 2-core CPU).", rich_help_panel=DEVICE_PANEL)
    ] = "auto",
    res: Annotated[
        int | None, typer.Option("--res", help="Render fast at this lower level of the model (see preview); the video is that size.", rich_help_panel=DEVICE_PANEL)
    ] = None,
    audio_strict: Annotated[
        bool, typer.Option("--audio-strict", help="Refuse audio that does not cover the video (instead of a warning).", rich_help_panel=OUTPUT_PANEL)
    ] = False,
    backend: Annotated[str, typer.Option(help="local, or ray: segments rendered by Ray workers on many GPUs and hosts.", rich_help_panel=RAY_PANEL)] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster: auto (started with `ray start` on this host) or ray://host:10001 \\[default: a local Ray].", rich_help_panel=RAY_PANEL)
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Ray workers \\[default: as many as the cluster's GPUs, or CPUs, hold].", rich_help_panel=RAY_PANEL)] = None,
    gpus_per_worker: Annotated[
        float | None, typer.Option(help="GPUs each Ray worker reserves \\[default: 1 when the cluster has GPUs, else 0].", rich_help_panel=RAY_PANEL)
    ] = None,
    cpus_per_worker: Annotated[float, typer.Option(help="CPUs each Ray worker reserves.", rich_help_panel=RAY_PANEL)] = 1.0,
    segment_storage: Annotated[
        str, typer.Option(help="shared: workers write segments into the work folder (a shared file system); bytes: they send them back; auto: shared where the folder is visible.", rich_help_panel=RAY_PANEL)
    ] = "auto",
    compile_mode: CompileOption = "auto",
    preset: PresetOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show each Ray worker's speed beside the bar.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a summary as JSON on stdout.")] = False,
) -> None:
    """Render a keyframe script to a video (resumable; Ctrl-C keeps the finished segments)."""
    overrides: dict[str, object] = {}
    for name, value in (("file", output), ("codec", codec), ("crf", crf), ("preset", encoder_preset), ("audio", audio)):
        if value is not None:
            overrides[name] = value
    if batch_size != "auto" and not batch_size.isdigit():
        fail(renderer.UsageError(f"batch size must be 'auto' or a number, not {batch_size!r}"))
    if encoders != "auto" and not encoders.isdigit():
        fail(renderer.UsageError(f"encoders must be 'auto' or a number, not {encoders!r}"))
    settings = run(
        lambda: renderer.RenderSettings(
            device=device,
            batch_size=None if batch_size == "auto" else int(batch_size),
            precision=precision,  # type: ignore[arg-type]
            encoders="auto" if encoders == "auto" else int(encoders),
            resume=resume,
            resolution=res,
            audio_strict=audio_strict,
            compile=compile_mode,  # type: ignore[arg-type]
            backend=backend,  # type: ignore[arg-type]
            ray=renderer.RayOptions(
                address=address, workers=workers, gpus_per_worker=gpus_per_worker, cpus_per_worker=cpus_per_worker,
                segment_storage=segment_storage,  # type: ignore[arg-type]
            ),
            output=overrides,
        )
    )
    parsed = run(lambda: renderer.load_script(script, presets=_presets(preset)))
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]}"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[workers]}"),
        console=stderr,
        disable=quiet,
        transient=True,
    ) as bar:
        task = bar.add_task("loading", total=parsed.num_frames, fps="", workers="")
        started = False

        def on_progress(p: renderer.RenderProgress) -> None:
            nonlocal started
            if not started:  # frames of resumed segments are done already, not generated now
                bar.reset(task, completed=p.frames_done)
                started = True
            bar.update(task, completed=p.frames_done, description=p.stage)
            speed = bar.tasks[task].speed
            bar.update(task, fps=f"{speed:.1f} fps" if speed else "")
            if verbose and p.workers:
                bar.update(task, workers=escape(" · ".join(f"{w.name} {w.fps:.1f} fps" for w in p.workers)))

        result = run(
            lambda: renderer.render(parsed, settings, progress=on_progress),
            interrupted=lambda: _interrupted_render(parsed, settings),
        )
    for warning in result.warnings:
        stderr.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    if result.discarded_segments and not quiet:
        stderr.print(f"note: discarded {result.discarded_segments} segments of an earlier partial render (use --resume to keep them)")
    if as_json:
        summary = {
            "output": str(result.output), "sidecar": str(result.sidecar), "frames": result.num_frames,
            "fps": result.fps, "size": list(result.size), "segments_rendered": result.segments_rendered,
            "segments_reused": result.segments_reused, "timings": result.timings,
        }
        stdout.print_json(json.dumps(summary))
    else:
        stdout.print(str(result.output), highlight=False, soft_wrap=True)


def _interrupted_render(script: renderer.Script, settings: renderer.RenderSettings) -> str:
    """What to say after Ctrl-C: how to resume, only when a partial render is there to resume."""
    work = renderer.resolve_job(script, settings).work_folder
    if (work / "manifest.json").exists():
        return "interrupted: finished segments are kept; run again with --resume to continue"
    return "interrupted (nothing was rendered yet)"


@app.command("preview")
def preview_command(
    script: Annotated[Path, typer.Argument(help="Keyframe script (.toml, .json, .yaml).")],
    out_dir: Annotated[
        Path | None, typer.Option("--output", "-o", help="Folder for the outputs \\[default: beside the script].", rich_help_panel=OUTPUT_PANEL)
    ] = None,
    res: Annotated[
        int | None, typer.Option("--res", help="Preview resolution in px, a level of the model \\[default: min(256, half the model's)].")
    ] = None,
    between: Annotated[int, typer.Option(help="In-between frames per keyframe segment on the contact sheet.")] = 0,
    every: Annotated[int, typer.Option(help="Draft: keep every Nth frame (played at fps / N).")] = 1,
    start: Annotated[str | None, typer.Option(help='Draft start: seconds, "48f", "16b" or "m:ss".')] = None,
    end: Annotated[str | None, typer.Option(help="Draft end (exclusive), in the same forms.")] = None,
    sheet: Annotated[bool, typer.Option("--sheet/--no-sheet", help="Keyframe contact sheet PNG.", rich_help_panel=OUTPUT_PANEL)] = True,
    plot: Annotated[
        bool | None, typer.Option("--plot/--no-plot", help="Track plot PNG (needs matplotlib) \\[default: when matplotlib is installed].", rich_help_panel=OUTPUT_PANEL)
    ] = None,
    draft: Annotated[bool, typer.Option("--draft/--no-draft", help="Low-resolution draft MP4.", rich_help_panel=OUTPUT_PANEL)] = True,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.", rich_help_panel=DEVICE_PANEL)] = "auto",
    batch_size: Annotated[int | None, typer.Option(help="Frames per batch \\[default: 1 on CPU, 16 on a GPU].", rich_help_panel=DEVICE_PANEL)] = None,
    preset: PresetOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Preview a script fast: keyframe contact sheet, track plot and a low-resolution draft MP4."""
    settings = run(
        lambda: renderer.PreviewSettings(
            resolution=res, between=between, every=every, start=start, end=end, sheet=sheet, plot=plot,
            draft=draft, device=device, batch_size=batch_size,
        )
    )
    parsed = run(lambda: renderer.load_script(script, presets=_presets(preset)))
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=stderr, disable=quiet, transient=True,
    ) as bar:
        task = bar.add_task("loading", total=None)

        def on_progress(p: renderer.PreviewProgress) -> None:
            bar.update(task, description=p.stage, completed=p.done, total=p.total)

        result = run(lambda: renderer.preview(parsed, out_dir, settings, progress=on_progress))
    if not quiet:
        how = "synthesis stops at that level" if result.stops_early else "rendered in full and downscaled"
        how = "the model's own resolution" if result.resolution == result.model_resolution else how
        stderr.print(f"preview at {result.resolution} px ({how})", highlight=False)
        for note in result.notes:
            stderr.print(f"note: {escape(note)}", highlight=False, soft_wrap=True)
    for path in (result.sheet, result.plot, result.draft):
        if path is not None:
            stdout.print(str(path), highlight=False, soft_wrap=True)


@app.command("project")
def project_command(
    photo: Annotated[Path, typer.Argument(help="The photo to encode (any format Pillow reads).")],
    model: Annotated[str, typer.Option("--model", "-m", help="Checkpoint (or demo) to project into.", rich_help_panel=MODEL_PANEL)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Latent .npz (key w, NVIDIA's layout); a .png of target | reconstruction goes beside it.", rich_help_panel=OUTPUT_PANEL)],
    align: Annotated[bool, typer.Option("--align/--no-align", help="Find the face and crop it like FFHQ; --no-align for photos already aligned (centre square).")] = True,
    space: Annotated[str, typer.Option(help="w: one w for every layer; w+: then one per layer (closer, edits less well).")] = "w",
    steps: Annotated[int, typer.Option(help="Optimisation steps.")] = 1000,
    noise: Annotated[str, typer.Option(help="fixed: keep the model's noise (renders match); optimize: fit it too, as NVIDIA's projector.")] = "fixed",
    perceptual: Annotated[
        Path | None, typer.Option(help="NVIDIA's VGG16 feature network (vgg16.pt, TorchScript) for an LPIPS-like loss.", rich_help_panel=MODEL_PANEL)
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the latent noise.")] = 0,
    video: Annotated[Path | None, typer.Option(help="Write the optimisation, target | current image, as this MP4.", rich_help_panel=OUTPUT_PANEL)] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.", rich_help_panel=DEVICE_PANEL)] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Encode a photo as a latent (w) of a model: face alignment, then optimisation."""
    settings = run(lambda: renderer.ProjectSettings(steps=steps, space=space, noise=noise, seed=seed))  # type: ignore[arg-type]
    G = run(lambda: renderer.load_generator(model, device=device))
    with Progress(
        TextColumn("projecting"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[loss]}"),
        TimeRemainingColumn(), console=stderr, disable=quiet, transient=True,
    ) as bar:
        task = bar.add_task("projecting", total=steps, loss="")

        def on_step(step: renderer.ProjectionStep) -> None:
            bar.update(task, completed=step.step, loss=f"loss {step.loss:.4g}")

        def project_with_hint() -> renderer.PhotoProjection:
            try:
                return renderer.project_photo(photo, G, output, settings, align=align, perceptual=perceptual, video=video, progress=on_step)
            except renderer.FaceNotFoundError as e:
                raise renderer.FaceNotFoundError(f"{e}; if the photo is already an aligned face crop, use --no-align") from None

        result = run(project_with_hint)
    stderr.print(f"reconstruction PSNR {result.psnr:.1f} dB", highlight=False)
    for path in (result.latent, result.sheet, result.video):
        if path is not None:
            stdout.print(str(path), highlight=False, soft_wrap=True)


@app.command("finetune")
def finetune_command(
    base: Annotated[str, typer.Argument(help="Checkpoint to start from (any format, or demo).")],
    images: Annotated[Path, typer.Argument(help="Folder of training images (any size and format Pillow reads).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The fine-tuned EMA generator, .safetensors.", rich_help_panel=OUTPUT_PANEL)],
    kimg: Annotated[float, typer.Option(help="Training length: thousands of real images shown.")] = 10.0,
    batch: Annotated[int, typer.Option(help="Images per step.")] = 8,
    lr: Annotated[float, typer.Option(help="Adam learning rate of G and D.")] = 0.002,
    mirror: Annotated[bool, typer.Option("--mirror/--no-mirror", help="Flip training images left-right at random.")] = False,
    freeze_d: Annotated[int, typer.Option("--freeze-d", help="Keep the top K discriminator blocks fixed (FreezeD).")] = 0,
    mapping_lr: Annotated[float, typer.Option("--mapping-lr", help="The mapping network's learning rate, as a fraction of --lr (0 keeps it fixed).")] = 1.0,
    augment: Annotated[str, typer.Option(help="ada (adaptive, for small sets), diffaugment, or none.")] = "ada",
    align: Annotated[bool, typer.Option("--align/--no-align", help="Crop each photo around its face like FFHQ (else a centre square).")] = False,
    snapshots: Annotated[
        Path | None, typer.Option(help="Folder for grid PNGs, the loss log and the training state \\[default: OUTPUT-snapshots].", rich_help_panel=OUTPUT_PANEL)
    ] = None,
    snapshot_kimg: Annotated[float, typer.Option(help="Write a snapshot every this many kimg.", rich_help_panel=OUTPUT_PANEL)] = 1.0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the training state in the snapshots folder.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the training randomness.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps (CUDA trains in mixed precision).", rich_help_panel=DEVICE_PANEL)] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Fine-tune a model on a folder of images (transfer learning, Pinkney & Adler's step 2)."""
    settings = run(lambda: renderer.FinetuneSettings(
        kimg=kimg, batch=batch, lr=lr, mapping_lr_scale=mapping_lr, mirror=mirror, freeze_d=freeze_d, augment=augment,  # type: ignore[arg-type]
        snapshot_kimg=snapshot_kimg, seed=seed,
    ))
    with Progress(
        TextColumn("fine-tuning"), BarColumn(), TextColumn("{task.completed:.2f}/{task.total:g} kimg"),
        TextColumn("{task.fields[losses]}"), TimeRemainingColumn(), console=stderr, disable=quiet, transient=True,
    ) as bar:
        task = bar.add_task("fine-tuning", total=kimg, losses="")

        def on_step(p: renderer.TrainProgress) -> None:
            r1 = f" R1 {p.r1:.3g}" if p.r1 is not None else ""
            bar.update(task, completed=p.kimg, losses=f"G {p.loss_g:.3f} D {p.loss_d:.3f}{r1} aug {p.augment_p:.2f}")

        result = run(lambda: renderer.finetune(
            base, images, output, settings, align=align, snapshots=snapshots, resume=resume, device=device, progress=on_step
        ))
    stderr.print(f"{result.steps} steps, {result.kimg:g} kimg, augment p {result.augment_p:.2f}", highlight=False)
    stdout.print(str(output), highlight=False, soft_wrap=True)


@app.command("presets")
def presets_command(
    name: Annotated[str | None, typer.Argument(help="Show this preset's settings.")] = None,
) -> None:
    """List the shipped presets, or show one (scripts name them: preset = ["toonify", "share"])."""
    shipped = renderer.available_presets()
    if name is None:
        table = Table(box=None, pad_edge=False)
        table.add_column("preset")
        table.add_column("what it sets")
        for preset_name in shipped:
            table.add_row(preset_name, escape(renderer.preset_description(preset_name)))
        stdout.print(table, highlight=False)
        return
    if name not in shipped:
        fail(renderer.UsageError(f"unknown preset '{name}'; available: {', '.join(shipped)}"))
    typer.echo(shipped[name].read_text(encoding="utf-8"), nl=False)  # verbatim: machine-readable, never wrapped


@app.command("analyze")
def analyze_command(
    song: Annotated[Path, typer.Argument(help="An audio file: wav, mp3, flac, m4a, ... (anything ffmpeg reads).")],
    fps: Annotated[float, typer.Option("--fps", help="Video frames per second the features are measured at.")] = 30.0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the plot and the .npz (default: beside the song).")] = None,
    bands: Annotated[str | None, typer.Option("--bands", help='Frequency bands in Hz, like "low=20-150,mid=150-500,high=500-11025".')] = None,
) -> None:
    """Measure a song: a plot, an .npz of every feature, and keyframe times to paste into a script."""
    result = run(lambda: renderer.analyze_song(song, out, fps=fps, bands=bands))
    f = result.features
    stderr.print(f"{song}: {f.duration:.2f} s, {f.tempo:.2f} bpm, {len(f.beats)} beats, "
                 f"{len(f.sections)} section boundaries", highlight=False)
    for path in (result.npz, result.plot):
        if path is not None:
            stdout.print(str(path), highlight=False, soft_wrap=True)
    if result.plot is None:
        stderr.print("no plot: matplotlib is not installed (pip install 'stylegan-renderer[preview]')", highlight=False)
    stdout.print(escape(result.suggestion), highlight=False, soft_wrap=True)


@app.command()
def validate(
    script: Annotated[Path, typer.Argument(help="Keyframe script (.toml, .json, .yaml).")],
    timeline: Annotated[
        Path | None,
        typer.Option("--timeline", help="Write the per-frame tracks (time, z or ws, psi, blend alphas, paced path positions) to this .npz."),
    ] = None,
    device: Annotated[str, typer.Option(help="Device for mapping W-space keyframes.")] = "cpu",
    preset: PresetOption = None,
    settings: Annotated[bool, typer.Option("--settings", help="Also list every setting, its resolved value and where it came from.")] = False,
) -> None:
    """Check a script and show its frames, duration and keyframes; exit 2 on a mistake."""
    parsed = run(lambda: renderer.load_script(script, presets=_presets(preset)))
    # Seeds on built-in models leave nothing to check in a model: no torch, an instant answer.
    resolved = None
    if timeline is not None or parsed.needs_models_to_check:
        resolved = run(lambda: renderer.resolve_timeline(parsed, device=device))
    path = parsed.path
    facts = [
        f"{parsed.num_frames} frames",
        f"{renderer.format_clock(parsed.duration)} at {parsed.fps:g} fps" + (f", {parsed.bpm:.6g} bpm" if parsed.bpm else ""),
        f"space {path.space}, {path.interpolation}, easing {path.easing}",
    ]
    facts += ["loop"] if path.loop else []
    facts += [f"pace {path.pace} (K {path.pace_samples}, {path.pace_resolution} px, {path.pace_distance})"] if path.pace != "latent" else []
    facts += [f"smooth {path.smooth:g}s" + (" (keyframes pinned)" if path.pin_keyframes else "")] if path.smooth else []
    facts += [f"pca {path.pca}"] if path.pca else []
    stdout.print(f"{script}: " + "; ".join(facts), highlight=False, soft_wrap=True)
    table = Table(box=None, pad_edge=False)
    blends = parsed.keyframe_blends()
    columns = ("#", "frame", "time", *(["beat"] if parsed.bpm else []), "source", "psi", *(["blend"] if blends else []), "segment")
    for column in columns:
        table.add_column(column, justify="right" if column in ("#", "frame", "beat", "psi") else "left")
    psis = parsed.keyframe_psi() if "psi" not in parsed.schedules else [None] * len(parsed.keyframes)
    kinds, easings = parsed.segment_interpolation(), parsed.segment_easing()
    for key, psi in zip(parsed.keyframes, psis, strict=True):
        beat = parsed.beat(key.frame)
        source = key.describe_source()
        segment = ""
        if key.index < parsed.num_segments:
            segment = f"{kinds[key.index]}, {easings[key.index]}"
        row = [str(key.index), str(key.frame), renderer.format_clock(key.time), *([f"{round(beat, 3):g}"] if beat is not None else []),
               source, "schedule" if psi is None else f"{psi:g}",
               *([renderer.describe_blend(blends[key.index])] if blends else []), segment]
        table.add_row(*row)
    stdout.print(table, highlight=False)
    if path.pace == "even-walk":
        moved = ", ".join(str(int(f)) for f in resolved.key_frames)
        stdout.print(f"pace even-walk shows the keyframes at frames {moved}", highlight=False)
    if parsed.presets:
        stdout.print(f"presets: {', '.join(parsed.presets)}", highlight=False)
    if parsed.beat_times:
        stdout.print(f"beats: {len(parsed.beat_times)} detected in {parsed.audio.file}, the first at "
                     f"{parsed.beat_times[0]:.2f} s", highlight=False, soft_wrap=True)
    for reaction in parsed.reactions:
        low, high = reaction.range
        layers = "" if reaction.layers is None else f", layers {reaction.layers if isinstance(reaction.layers, str) else '-'.join(map(str, reaction.layers))}"
        stdout.print(f"reaction #{reaction.index}: {reaction.target} <- {reaction.feature} of {reaction.audio.name} "
                     f"mapped to [{low:g}, {high:g}]{layers}", highlight=False, soft_wrap=True)
    if settings:
        rows = Table(box=None, pad_edge=False)
        for column in ("setting", "value", "from"):
            rows.add_column(column)
        job = run(lambda: renderer.resolve_job(parsed))
        for key, value, origin in job.describe():
            shown = renderer.describe_blend(value) if key == "blend" and value is not None else "-" if value is None else str(value)
            rows.add_row(key, escape(shown), origin)
        stdout.print(rows, highlight=False)
    if timeline is not None:
        assert resolved is not None
        run(lambda: renderer.export_timeline(resolved, timeline))
        stdout.print(str(timeline), highlight=False)


def main() -> None:
    app(prog_name="renderer")


if __name__ == "__main__":
    main()
