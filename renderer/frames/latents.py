"""Keyframe latents resolved against a model: seeds, latent files, literals, style mixes, PCA of W."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from renderer.blendspec import alpha_by_resolution
from renderer.models.channels import channel_masks
from renderer.models.directions import read_directions
from renderer.models.synthesizer import Synthesizer
from renderer.plan.blends import component_of
from renderer.plan.layers import layer_resolution, resolve_layers
from renderer.plan.reactions import Reaction
from renderer.plan.script import Keyframe, LatentSource, Script, ScriptError
from renderer.plan.seeds import seed_to_z
from renderer.plan.timeline import ResolvedKeyframes, ResolvedReaction, Timeline, plan_timeline
from renderer.plan.walks import loop_z

PCA_SAMPLES = 10_000
PCA_SEED = 0


def read_latent_file(path: Path, *, z_dim: int, w_dim: int, num_ws: int) -> tuple[str, NDArray[np.float64]]:
    """A .npy / .npz latent -> ("z", [z_dim]) or ("w", [num_ws, w_dim]).

    Accepted: z [z_dim]; w [w_dim] (broadcast to every layer); w+ [num_ws, w_dim] or
    [1, num_ws, w_dim] (NVIDIA projector's projected_w.npz, key "w"). In an .npz the key "z" or
    "w" says which space; a lone array of another name, and .npy files, are told apart by shape.
    Raises:
        ValueError naming the shape found and the shapes accepted
    """
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as data:
                keys = list(data.keys())
                key = "w" if "w" in keys else "z" if "z" in keys else keys[0] if len(keys) == 1 else None
                if key is None:
                    raise ValueError(f"holds {keys}; expected a key 'z' or 'w'")
                array, space = np.asarray(data[key], dtype=np.float64), key if key in ("z", "w") else None
        else:
            array, space = np.asarray(np.load(path, allow_pickle=False), dtype=np.float64), None
    except (OSError, EOFError) as e:
        raise ValueError(f"cannot read ({e})") from None
    if not np.isfinite(array).all():
        raise ValueError("holds NaN or infinite values; a latent must be finite")
    shape = array.shape
    squeezed = array[0] if array.ndim >= 2 and shape[0] == 1 else array
    accepted = f"z [{z_dim}], w [{w_dim}] or w+ [{num_ws}, {w_dim}] (optionally with a leading 1)"
    if squeezed.shape == (num_ws, w_dim) and space != "z":
        return "w", squeezed
    if squeezed.ndim == 1:
        fits_z, fits_w = squeezed.shape[0] == z_dim, squeezed.shape[0] == w_dim
        if space is None and fits_z and fits_w:
            raise ValueError(f"a vector of {z_dim} could be z or w for this model; save it as .npz with key 'z' or 'w'")
        if fits_z and space in (None, "z"):
            return "z", squeezed
        if fits_w and space in (None, "w"):
            return "w", np.broadcast_to(squeezed, (num_ws, w_dim)).copy()
    raise ValueError(f"has shape {list(shape)}{f' under key {space!r}' if space else ''}; this model accepts {accepted}")


class _Resolver:
    def __init__(self, script: Script, G: Synthesizer) -> None:
        self.script = script
        self.G = G
        self.space = script.path.space

    def error(self, where: str, message: str) -> ScriptError:
        return ScriptError(f"{self.script.file}: {where}: {message}" if self.script.file else f"{where}: {message}")

    @torch.no_grad()
    def to_w(self, z: NDArray) -> NDArray:
        ws = self.G.mapping(torch.from_numpy(z[None]).float().to(self.G.device))
        return ws[0].double().cpu().numpy()

    def latent(self, source: LatentSource, where: str) -> tuple[str, NDArray]:
        G = self.G
        if source.kind == "seed":
            assert source.seed is not None
            return "z", seed_to_z(source.seed, G.z_dim)[0]
        if source.kind == "loop":
            assert source.seed is not None
            return "z", loop_z(source.seed, G.z_dim, source.phase, source.harmonics)
        if source.kind == "file":
            assert source.file is not None
            try:
                return read_latent_file(source.file, z_dim=G.z_dim, w_dim=G.w_dim, num_ws=G.num_ws)
            except ValueError as e:
                raise self.error(f"{where}.latent", f"'{source.file.name}' {e}") from None
        try:
            array = np.array(source.values, dtype=np.float64)
        except ValueError:
            raise self.error(f"{where}.{source.kind}", "must be a list of numbers (or of equal-length lists)") from None
        if not np.isfinite(array).all():
            raise self.error(f"{where}.{source.kind}", "holds NaN or infinite values; a latent must be finite")
        if source.kind == "z":
            if array.shape != (G.z_dim,):
                raise self.error(f"{where}.z", f"has shape {list(array.shape)}; this model's z is [{G.z_dim}]")
            return "z", array
        if array.shape == (G.w_dim,):
            return "w", np.broadcast_to(array, (G.num_ws, G.w_dim)).copy()
        if array.shape == (G.num_ws, G.w_dim):
            return "w", array
        raise self.error(
            f"{where}.w", f"has shape {list(array.shape)}; this model takes w [{G.w_dim}] or w+ [{G.num_ws}, {G.w_dim}]"
        )

    def keyframe(self, key: Keyframe) -> NDArray:
        where = key.where()
        kind, value = self.latent(key.source, where)
        if self.space == "z":
            if kind == "w":
                raise self.error(where, "gives a w latent, but path.space = \"z\" joins z keyframes; use space = \"w\"")
            if key.mix:
                raise self.error(f"{where}.mix", "style mixing works per layer in w; it needs path.space = \"w\"")
            return value
        ws = self.to_w(value) if kind == "z" else value
        for j, mix in enumerate(key.mix):
            mix_where = f"{where}.mix[{j}]"
            try:
                layers = model_layers(mix.layers, self.G)
            except ValueError as e:
                raise self.error(f"{mix_where}.layers", str(e)) from None
            mix_kind, mix_value = self.latent(mix.source, mix_where)
            other = self.to_w(mix_value) if mix_kind == "z" else mix_value
            ws[list(layers)] = other[list(layers)]
        return ws

    def reaction(self, reaction: Reaction) -> ResolvedReaction:
        """A reaction's layers (and, for blends, the resolutions they draw) and its target latents."""
        G, where = self.G, reaction.where()
        if reaction.layers is None:
            layers = tuple(range(G.num_ws))
        else:
            try:
                layers = resolve_layers(reaction.layers, G.num_ws, G.img_resolution)
            except ValueError as e:
                raise self.error(f"{where}.layers", str(e)) from None
        columns: tuple[int, ...] = ()
        if reaction.target == "blend":
            drawn = {layer_resolution(i, G.img_resolution) for i in layers}
            columns = tuple(i for i, r in enumerate(G.levels) if r in drawn)
        target = None
        if reaction.target == "pulse":
            kind, value = self.latent(reaction.source, where)
            target = self.to_w(value) if kind == "z" else value
        elif reaction.target == "chroma":
            target = np.stack([self.to_w(seed_to_z(seed, G.z_dim)[0]) for seed in reaction.seeds])
        return ResolvedReaction(layers=layers, columns=columns, target=target)


def model_layers(spec: str | tuple[int, ...], G: Synthesizer) -> tuple[int, ...]:
    """A script's layer spec resolved for G; the named groups follow StyleGAN2's resolutions, so a
    StyleGAN3 model takes layer indices only (ValueError otherwise)."""
    if isinstance(spec, str) and G.family != "stylegan2":
        raise ValueError(f"the groups coarse, middle and fine are StyleGAN2's; name this {G.family} model's "
                         f"layers by index (0-{G.num_ws - 1}, like \"0-5\"; 0 drives the input)")
    return resolve_layers(spec, G.num_ws, G.img_resolution)


@torch.no_grad()
def pca_basis(G: Synthesizer, k: int, *, num_samples: int = PCA_SAMPLES, seed: int = PCA_SEED) -> NDArray[np.float64]:
    """The top-k principal directions of W, from a seeded sample of mapped z: [w_dim, k]."""
    z = torch.from_numpy(np.random.RandomState(seed).randn(num_samples, G.z_dim)).float().to(G.device)
    w = G.mapping(z)[:, 0].double().cpu().numpy()
    _, _, vt = np.linalg.svd(w - w.mean(axis=0), full_matrices=False)
    return vt[:k].T.copy()


def check_blend_sizes(script: Script, blends: list, resolutions: tuple[int, ...], resolver: _Resolver) -> None:
    """ScriptError naming the keyframe whose blend table names a size the model does not have."""
    for key, spec in zip(script.keyframes, blends, strict=True):
        for _, form in component_of(spec):
            try:
                alpha_by_resolution(form, resolutions)
            except ValueError as e:
                where = f"{key.where()}.blend" if key.blend is not None else "blend"
                raise resolver.error(where, str(e)) from None


def resolve_keyframes(script: Script, G: Synthesizer) -> ResolvedKeyframes:
    """Every keyframe of `script` (and its layer lags, PCA basis and blends) as arrays for G."""
    resolver = _Resolver(script, G)
    if G.c_dim:
        raise resolver.error("models.base", f"conditional models (c_dim = {G.c_dim}) are not supported in scripts yet")
    if script.has_camera and not G.can_move_camera:
        moved = next((k for k in script.keyframes if k.translate is not None or k.rotate is not None), None)
        where = "tracks.rotate" if moved is None else f"{moved.where()}.{'translate' if moved.translate is not None else 'rotate'}"
        raise resolver.error(where, f"camera moves (translate, rotate) need a StyleGAN3 model; models.base is a {G.family} model")
    key_latents = np.stack([resolver.keyframe(key) for key in script.keyframes])
    lags = []
    for spec, lag in script.path.lag:
        try:
            lags.append((model_layers(spec, G), lag))
        except ValueError as e:
            raise resolver.error(f"path.lag.{spec if isinstance(spec, str) else '-'.join(map(str, spec))}", str(e)) from None
    basis = None
    if script.path.pca is not None:
        if script.path.pca > G.w_dim:
            raise resolver.error("path.pca", f"{script.path.pca} directions asked for; W has only {G.w_dim}")
        basis = pca_basis(G, script.path.pca)
    cutoffs = [k.truncation_cutoff for k in script.keyframes if k.truncation_cutoff is not None]
    if any(c > G.num_ws for c in cutoffs):
        raise resolver.error("truncation_cutoff", f"a cutoff above num_ws = {G.num_ws} (values {cutoffs})")
    blends = script.keyframe_blends()
    resolutions = G.blend_levels  # StyleGAN2: its levels; StyleGAN3: its layers' sizes
    key_blends = model_blends = None
    components: tuple[tuple[str, str | None], ...] = ()
    if blends is not None:  # forms checked by the script parser; the sizes a table names, here
        check_blend_sizes(script, blends, resolutions, resolver)
        parts = [component_of(spec) for spec in blends]
        components = tuple(dict.fromkeys(c for keyframe in parts for c, _ in keyframe))
        if components == (("transfer", None),):  # the two-model blend: alphas of the transfer model
            components = ()
            key_blends = np.stack([alpha_by_resolution(keyframe[0][1], resolutions) for keyframe in parts])
        else:
            model_blends = np.zeros((len(parts), len(components), len(resolutions)))
            for k, keyframe in enumerate(parts):
                for component, form in keyframe:
                    model_blends[k, components.index(component)] = alpha_by_resolution(form, resolutions)
            check_masks(script, G, components, resolver)
    return ResolvedKeyframes(
        latents=key_latents, num_ws=G.num_ws, layer_lags=tuple(lags), pca_basis=basis,
        blends=key_blends, blend_resolutions=tuple(resolutions),
        reactions=tuple(resolver.reaction(r) for r in script.reactions),
        model_blends=model_blends, blend_components=components,
        directions=direction_offsets(script, G, resolver) if script.directions else None,
    )


def check_masks(script: Script, G: Synthesizer, components: tuple[tuple[str, str | None], ...], resolver: _Resolver) -> None:
    """ScriptError for a mask that does not fit G's channels (masks from model statistics are
    checked when both models are loaded)."""
    config = getattr(G, "config", None)
    for _, name in components:
        if name is None:
            continue
        if config is None:
            raise resolver.error(f"masks.{name}", f"channel blends need a StyleGAN2 model, not {G.family}")
        try:
            channel_masks(script.masks[name], config.channels, base=None, model=None)
        except ValueError as e:
            raise resolver.error(f"masks.{name}", str(e)) from None


def direction_offsets(script: Script, G: Synthesizer, resolver: _Resolver) -> NDArray[np.float64]:
    """Each [[directions]] track's unit direction on its layers: [D, num_ws, w_dim] (zero elsewhere)."""
    offsets = np.zeros((len(script.directions), G.num_ws, G.w_dim))
    for i, track in enumerate(script.directions):
        where = f"directions[{i}]"
        try:
            found = read_directions(track.file, w_dim=G.w_dim)
        except ValueError as e:
            raise resolver.error(f"{where}.file", f"'{track.file.name}' {e}") from None
        if track.index >= len(found.vectors):
            raise resolver.error(f"{where}.index", f"{track.index} is past the last of the file's {len(found.vectors)} directions")
        spec = track.layers if track.layers is not None else found.layers if found.layers is not None else tuple(range(G.num_ws))
        try:
            layers = resolve_layers(spec, G.num_ws, G.img_resolution)
        except ValueError as e:
            raise resolver.error(f"{where}.layers", str(e)) from None
        offsets[i, list(layers)] = found.vectors[track.index]
    return offsets


def build_timeline(script: Script, G: Synthesizer) -> Timeline:
    """Resolve every keyframe of `script` against G and return its lazily sampled timeline."""
    return plan_timeline(script, resolve_keyframes(script, G))
