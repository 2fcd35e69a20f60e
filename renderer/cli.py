"""The `renderer` command line: parse, call the library, turn errors into one line and an exit code.

Exit codes: 0 ok, 1 runtime failure (unreadable checkpoint, unwritable output), 2 bad input or
usage, 130 interrupted. Results go to stdout, progress and errors to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, Optional, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from renderer import __version__
from renderer.api import GenerateSettings, describe_generator, save_seed_images
from renderer.checkpoints import load_generator, save_native
from renderer.errors import RendererError, UsageError
from renderer.seeds import parse_seeds

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

T = TypeVar("T")


def fail(error: RendererError) -> NoReturn:
    """Print one error line on stderr and exit with the error's code."""
    stderr.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(error.exit_code)


def run(action: Callable[[], T]) -> T:
    """Call into the library; print its errors as one line and exit with their code."""
    try:
        return action()
    except RendererError as e:
        fail(e)
    except KeyboardInterrupt:
        stderr.print("interrupted")
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
    """Render StyleGAN2 images and videos from NVIDIA, TensorFlow and rosinality checkpoints."""


ModelArg = Annotated[str, typer.Argument(help="Checkpoint file (.pkl, .pt, .safetensors) or 'demo'.")]


@app.command()
def inspect(
    checkpoint: ModelArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the facts as JSON on stdout.")] = False,
) -> None:
    """Show a checkpoint's format, architecture and where its w_avg came from."""
    G = run(lambda: load_generator(checkpoint))
    facts = describe_generator(G)
    if as_json:
        stdout.print_json(json.dumps(facts))
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    channels = ", ".join(f"{r}: {c}" for r, c in G.config.channels.items())
    rows = {
        "file": str(facts["source"]),
        "format": str(facts["format"]),
        "resolution": f"{G.img_resolution} x {G.img_resolution}, {G.img_channels} channels",
        "z_dim / w_dim": f"{G.z_dim} / {G.w_dim}" + (f", c_dim {G.c_dim}" if G.c_dim else ""),
        "num_ws": str(G.num_ws),
        "mapping": f"{G.config.mapping_layers} layers, lr multiplier {G.config.mapping_lr_multiplier:g}",
        "synthesis": f"{G.config.architecture}, conv clamp {G.config.conv_clamp}, noise {'yes' if G.config.use_noise else 'no'}",
        "channels": channels,
        "parameters": f"{facts['parameters']:,}",
        "w_avg": str(facts["w_avg_source"]),
    }
    for key, value in rows.items():
        table.add_row(key, value)
    for note in G.info.notes:
        table.add_row("note", note)
    stdout.print(table, highlight=False)


@app.command()
def convert(
    checkpoint: ModelArg,
    output: Annotated[Path, typer.Argument(help="Where to write the .safetensors file.")],
) -> None:
    """Convert a checkpoint to renderer's safetensors format (fast to load, no pickle)."""
    if output.suffix != ".safetensors":
        fail(UsageError(f"{output}: the output must end in .safetensors"))
    G = run(lambda: load_generator(checkpoint))
    run(lambda: save_native(G, output))
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
        Optional[int],
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
        Optional[int],
        typer.Option(help="Images per batch [default: 1 on CPU, 16 on a GPU].", rich_help_panel=DEVICE_PANEL),
    ] = None,
    precision: Annotated[
        str, typer.Option(help="fp32, or fp16 / bf16 on CUDA.", rich_help_panel=DEVICE_PANEL)
    ] = "fp32",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Render one PNG per seed, named seed0000.png, ..."""
    seed_list = run(lambda: parse_seeds(seeds))
    settings = run(
        lambda: GenerateSettings(
            truncation_psi=psi,
            truncation_cutoff=truncation_cutoff,
            noise_mode=noise_mode,  # type: ignore[arg-type]
            batch_size=batch_size,
            precision=precision,  # type: ignore[arg-type]
        )
    )
    G = run(lambda: load_generator(model, device=device))
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
            lambda: save_seed_images(
                G, seed_list, outdir, settings, progress=lambda done, _: bar.update(task, completed=done)
            )
        )
    for path in paths:
        stdout.print(str(path), highlight=False, soft_wrap=True)


def main() -> None:
    app(prog_name="renderer")


if __name__ == "__main__":
    main()
