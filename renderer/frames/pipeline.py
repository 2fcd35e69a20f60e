"""Timeline -> uint8 frames: mapping and truncation per frame, (blended) synthesis in device batches,
conversion on the device, then optional resizing, spatial blur and temporal smoothing on the host.
A yuv420p encoder can take the frames as planar YUV 4:2:0, converted on the device when nothing
is left to do on the host (renderer.frames.yuv).

`FramePipeline.frames(start, stop)` yields the frames [start, stop) in order, and the result does not
depend on how a video is split into calls: every stage is a pure function of the frame index, and
temporal smoothing renders its true neighbours across the edges of each call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from numpy.typing import NDArray

from renderer.errors import RendererError, UsageError
from renderer.frames.framing import Framer, opencv, resize_image
from renderer.frames.images import to_rgb, to_uint8
from renderer.frames.noise import FrameNoiseSource
from renderer.frames.yuv import rgb_to_yuv420p
from renderer.models.blending import alphas_to_model_weights
from renderer.models.canvas import extend_canvas
from renderer.models.compiled import compiled
from renderer.models.stylegan3 import camera_transform
from renderer.models.synthesizer import NOISE_MODES, PRECISIONS, NoiseMode, Synthesizer
from renderer.plan.encoding import PixelLayout, frame_shape
from renderer.plan.framing import Fit, canvas_grid, canvas_shape, size_at_level
from renderer.plan.noise import NoiseSettings
from renderer.plan.script import OutputSettings
from renderer.plan.smoothing import gaussian_kernel, gaussian_radius, window_indices
from renderer.plan.timeline import Timeline, TimelineChunk, chunk_rows, concat_chunks


def check_generation_options(
    *, noise_mode: str, precision: str, batch_size: int | None, resolution: int | None = None
) -> None:
    """UsageError for a noise mode, precision, batch size or synthesis level that generation does not take."""
    if resolution is not None and (resolution < 4 or resolution & (resolution - 1)):
        raise UsageError(f"resolution must be a power of two >= 4 (a level of the model), not {resolution}")
    if noise_mode not in NOISE_MODES:
        raise UsageError(f"noise mode must be one of {', '.join(NOISE_MODES)}, not {noise_mode!r}")
    if precision not in PRECISIONS:
        raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if batch_size is not None and batch_size < 1:
        raise UsageError(f"batch size must be at least 1, not {batch_size}")


def auto_batch_size(device: torch.device) -> int:
    """Frames per batch when the user gives none.

    On CPU one frame at a time is fastest: the activations of a single frame stay in cache, and
    batching only adds memory traffic (benchmarks/RESULTS.md). GPUs need batches to fill up.
    """
    return 1 if device.type == "cpu" else 16


def resize_frame(pixels: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    """Square uint8 frame to size x size: area averaging down, Lanczos up (OpenCV)."""
    return resize_image(pixels, (size, size))


def blur_frame(pixels: NDArray[np.uint8], sigma: float) -> NDArray[np.uint8]:
    """Spatial Gaussian blur of one uint8 frame (OpenCV, reflected borders)."""
    return opencv().GaussianBlur(pixels, (0, 0), sigmaX=sigma, sigmaY=sigma).reshape(pixels.shape)


CAMERA_TRACKS = ("zoom", "pan")  # the timeline tracks that move each frame's window
Canvases = tuple[NDArray[np.uint8], dict[str, NDArray]]  # a batch of canvases and its camera tracks

SAMPLE_SPAN = 1024  # timeline frames sampled at a time for sparse frames: bounded memory at any spacing


class FramePipeline:
    """Frames of a timeline, rendered in batches on G's device.

    Args:
        timeline: the script's resolved tracks ("zoom" and "pan" tracks move each frame's window)
        G: the base model, or blend_per_frame([base, transfer]) when the timeline blends
        batch_size: frames per device batch; on CUDA out-of-memory it is halved and retried
        size: output (width, height) in pixels, or one side of a square (None: the synthesis resolution)
        fit: how the model's square images fill a frame of another aspect (renderer.plan.framing);
            "extend" synthesises a wider canvas (renderer.models.canvas)
        blur: spatial Gaussian sigma in output pixels (0: none)
        temporal_blur: Gaussian sigma over time in frames (0: none)
        resolution: synthesis level for drafts (None: the model's resolution). A skip network
            stops at that block and returns its accumulated RGB; other architectures render in
            full and are downscaled (`stops_early` says which).
    """

    def __init__(
        self,
        timeline: Timeline,
        G: Synthesizer,
        *,
        batch_size: int,
        noise_mode: NoiseMode = "const",
        size: int | tuple[int, int] | None = None,
        blur: float = 0.0,
        temporal_blur: float = 0.0,
        resolution: int | None = None,
        fit: Fit = Fit(),
    ) -> None:
        if timeline.blends and G.num_models != 1 + max(1, len(timeline.blend_components)):
            raise ValueError(
                f"this timeline blends {1 + max(1, len(timeline.blend_components))} models: pass their "
                f"blend_per_frame (renderer.jobs.stills.load_animation), not one of {G.num_models}"
            )
        resolution = G.img_resolution if resolution is None else resolution
        if resolution > G.img_resolution:
            raise UsageError(f"resolution {resolution} is above the model's {G.img_resolution} px")
        if resolution not in G.levels:
            raise UsageError(f"resolution must be one of the model's levels {list(G.levels)}, not {resolution}")
        self.timeline = timeline
        self.batch_size = batch_size
        self.noise_mode = noise_mode
        self.resolution = resolution
        self.stops_early = resolution < G.img_resolution and G.can_stop_early
        frame_size = (size, size) if isinstance(size, int) else tuple(size) if size else (resolution, resolution)
        self.size: tuple[int, int] = frame_size  # type: ignore[assignment]  # (width, height)
        self.fit = fit
        self.grid = canvas_grid(self.size, fit)
        self.G = extend_canvas(G, self.grid, fit.padding)  # G itself for a square canvas
        # The canvas of a synthesised frame, before framing: at the synthesis level, or at the full
        # resolution when a model without intermediate RGB is downscaled.
        level = resolution if self.stops_early else G.img_resolution
        self.downscale_to = None if self.stops_early or resolution == G.img_resolution else canvas_shape(self.grid, resolution)
        self.framer = Framer(fit, self.downscale_to or canvas_shape(self.grid, level), self.size)
        self.blur = blur
        self.temporal_blur = temporal_blur
        self.radius = gaussian_radius(temporal_blur)
        self.kernel = gaussian_kernel(temporal_blur) if self.radius else None  # over 2 * radius + 1 frames
        # Animated noise, strength tracks, or an audio reaction on the strengths ("noise" [n, num_ws]).
        noise = timeline.noise if timeline.noise is not None else NoiseSettings() if "noise" in timeline.tracks else None
        self.noise = None if noise is None else FrameNoiseSource(
            noise, num_ws=G.num_ws, img_resolution=G.img_resolution, grid=self.grid
        )

    @classmethod
    def for_output(
        cls,
        timeline: Timeline,
        G: Synthesizer,
        output: OutputSettings,
        *,
        size: tuple[int, int] | None,
        batch_size: int | None = None,
        noise_mode: NoiseMode = "const",
        resolution: int | None = None,
        fit: Fit = Fit(),
    ) -> FramePipeline:
        """The pipeline of a script's [output] post-processing at `size` = (width, height) (the
        script's; None: the model's square) with its `fit`, or at a lower synthesis `resolution`,
        whose frames have that short side (size_at_level) and whose blur, given in full-size output
        pixels, shrinks in proportion so the look is kept. batch_size None: auto_batch_size of G's
        device."""
        full = min(size) if size else G.img_resolution
        return cls(
            timeline, G, batch_size=batch_size or auto_batch_size(G.device), noise_mode=noise_mode,
            size=size if resolution is None else size_at_level(size, resolution), resolution=resolution,
            blur=output.blur * (resolution or full) / full, temporal_blur=output.temporal_blur, fit=fit,
        )

    @property
    def level(self) -> int | None:
        """The block synthesis stops at (None: the full network)."""
        return self.resolution if self.stops_early else None

    def use_compiled(self, on_compiled: Callable[[float], None] | None = None) -> None:
        """Synthesise through torch.compile from now on (renderer.models.compiled): a copy of the
        model sharing its tensors, batches padded to batch_size. ValueError when G cannot be."""
        self.G = compiled(self.G, batch_size=self.batch_size, on_compiled=on_compiled)

    @property
    def work_pixels(self) -> int:
        """Pixels synthesised per batch: the work the thread policy sizes torch's threads for."""
        level = self.resolution if self.stops_early else self.G.img_resolution
        return level * level * self.batch_size

    @property
    def num_frames(self) -> int:
        return self.timeline.num_frames

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        width, height = self.size
        return (height, width, 3)  # shown as RGB whatever the model's channels

    @property
    def converts_on_device(self) -> bool:
        """Whether frames leave the device finished: no resizing, framing, camera, blur or smoothing
        on the host, so a yuv420p layout is converted on the device."""
        host_work = (
            self.kernel is not None or self.downscale_to is not None or not self.framer.is_identity
            or self.blur > 0 or any(name in self.timeline.tracks for name in CAMERA_TRACKS)
        )
        return not host_work

    def frames(self, start: int, stop: int, layout: PixelLayout = "rgb24") -> Iterator[NDArray[np.uint8]]:
        """uint8 batches covering frames [start, stop) in order: RGB [n, H, W, 3], or in `layout`
        (renderer.plan.encoding.frame_shape; yuv420p: [n, H * W * 3 / 2], the size even)."""
        if layout != "rgb24":
            yield from self._converted_frames(start, stop, layout)
            return
        if not 0 <= start < stop <= self.num_frames:
            raise ValueError(f"frames [{start}, {stop}) are outside the video's 0..{self.num_frames}")
        if self.kernel is None:
            yield from self._post_batches(np.arange(start, stop))
            return
        # Smoothing [start, stop) reads the frames r before and after it too, rendered here, so
        # any split of the video gives the same frames. A frame is filtered once all 2r + 1 of
        # its neighbours have arrived; the last 2r frames carry over to the next batch.
        r = self.radius
        indices = window_indices(start, stop, r, num_frames=self.num_frames, loop=self.timeline.loop)
        pending = np.empty((0, *self.frame_shape), dtype=np.float32)
        for batch in self._post_batches(indices):
            pending = np.concatenate([pending, batch.astype(np.float32)])
            if len(pending) > 2 * r:
                # Imported only when smoothing: scipy.ndimage costs a render about 40 MB of RSS.
                from scipy.ndimage import correlate1d

                smoothed = correlate1d(pending, self.kernel, axis=0)[r : len(pending) - r]
                yield np.clip(np.rint(smoothed), 0, 255).astype(np.uint8)
                pending = pending[len(pending) - 2 * r :]

    def frames_at(self, indices: NDArray[np.int64]) -> Iterator[NDArray[np.uint8]]:
        """uint8 batches [n, H, W, 3] of the given frames (sorted, any spacing), full batches
        however sparse; temporal smoothing does not apply (it needs every frame)."""
        for _, frames in self.sampled_frames(indices):
            yield frames

    def sampled_frames(self, indices: NDArray[np.int64]) -> Iterator[tuple[TimelineChunk, NDArray[np.uint8]]]:
        """As frames_at, each batch with its tracks (psi, blend, ...), from one pass over the timeline."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) and (indices[0] < 0 or indices[-1] >= self.num_frames or np.any(np.diff(indices) <= 0)):
            raise ValueError(f"frame indices must be increasing and inside 0..{self.num_frames - 1}")
        for chunk in self._sampled_chunks(indices):
            yield chunk, np.concatenate(list(self._post(self._render_chunk(chunk))))

    # -- internals ---------------------------------------------------------------------------

    def _converted_frames(self, start: int, stop: int, layout: PixelLayout) -> Iterator[NDArray[np.uint8]]:
        """frames(start, stop) in a YUV layout: converted on the device, or after the host's work."""
        if layout != "yuv420p":
            frame_shape(layout, *self.size)  # the error for an unknown layout
            raise ValueError(f"frames are made as rgb24 or yuv420p, not {layout}")
        frame_shape(layout, *self.size)  # an even size
        if not 0 <= start < stop <= self.num_frames:
            raise ValueError(f"frames [{start}, {stop}) are outside the video's 0..{self.num_frames}")
        if self.converts_on_device:
            for batch, _ in self._render_chunk(self.timeline.chunk(start, stop), convert=_yuv420p_to_host):
                yield batch
            return
        for batch in self.frames(start, stop):
            yield rgb_to_yuv420p(torch.from_numpy(batch)).numpy()

    def _sampled_chunks(self, indices: NDArray[np.int64], *, span: int = SAMPLE_SPAN) -> Iterator[TimelineChunk]:
        """The tracks of the given frames, batch_size frames at a time, sampling the timeline
        `span` frames at a time so memory stays bounded for any spacing."""
        buffer: TimelineChunk | None = None
        first, stop = (int(indices[0]), int(indices[-1]) + 1) if len(indices) else (0, 0)
        for start in range(first, stop, span):
            rows = indices[(indices >= start) & (indices < start + span)] - start
            if len(rows) == 0:
                continue
            part = chunk_rows(self.timeline.chunk(start, min(start + span, self.num_frames)), rows)
            buffer = part if buffer is None else concat_chunks([buffer, part])
            while len(buffer.frames) >= self.batch_size:
                yield chunk_rows(buffer, np.arange(self.batch_size))
                buffer = chunk_rows(buffer, np.arange(self.batch_size, len(buffer.frames)))
        if buffer is not None and len(buffer.frames):
            yield buffer

    def _post(self, batches: Iterator[Canvases]) -> Iterator[NDArray[np.uint8]]:
        """Canvases -> frames: framed (each through its window), blurred."""
        for batch, camera in batches:
            batch = to_rgb(batch)
            if self.downscale_to is not None:  # rendered in full, shown at the lower level
                height, width = self.downscale_to
                batch = np.stack([resize_image(f, (width, height)) for f in batch])
            if not self.framer.is_identity or self.blur > 0 or camera:
                frames = self.framer.frames(batch, camera.get("zoom"), camera.get("pan"))
                if self.blur > 0:
                    frames = [blur_frame(f, self.blur) for f in frames]
                batch = np.stack(frames)
            yield batch

    def _post_batches(self, indices: NDArray[np.int64]) -> Iterator[NDArray[np.uint8]]:
        yield from self._post(self._render_indices(indices))

    def _render_indices(self, indices: NDArray[np.int64]) -> Iterator[Canvases]:
        """Canvases at the given indices, in order: runs of consecutive frames are rendered together,
        and a repeat of the frame just rendered (a clamped window edge) is reused."""
        last_index, last = -1, None
        for run in np.split(indices, np.flatnonzero(np.diff(indices) != 1) + 1):
            first = int(run[0])
            if first == last_index and last is not None:
                yield last
                first += 1
            if first <= run[-1]:
                for batch, camera in self._render_range(first, int(run[-1]) + 1):
                    last = batch[-1:], {name: values[-1:] for name, values in camera.items()}
                    yield batch, camera
            last_index = int(run[-1])

    def _render_range(self, start: int, stop: int) -> Iterator[Canvases]:
        yield from self._render_chunk(self.timeline.chunk(start, stop))

    def _render_chunk(self, chunk: TimelineChunk, convert: Callable[[torch.Tensor], NDArray[np.uint8]] | None = None) -> Iterator[Canvases]:
        """(uint8 canvases [n, h, w, C], their zoom and pan tracks) batch by batch; `convert` takes
        each uint8 batch on the device to the host (None: as it is)."""
        at = 0
        while at < len(chunk.frames):
            n = min(self.batch_size, len(chunk.frames) - at)
            try:
                canvases = self._synthesize(chunk, at, at + n, convert or _to_host)
            except torch.OutOfMemoryError:
                if self.batch_size == 1:
                    raise RendererError("out of device memory even at batch size 1; try --precision fp16 or a smaller model") from None
                self.batch_size //= 2
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            yield canvases, {name: chunk.tracks[name][at : at + n] for name in CAMERA_TRACKS if name in chunk.tracks}
            at += n

    @torch.no_grad()
    def ws(self, chunk: TimelineChunk, lo: int = 0, hi: int | None = None) -> torch.Tensor:
        """The truncated ws of the chunk's frames [lo, hi), as synthesis receives them: [n, num_ws, w_dim]."""
        G = self.G
        device = G.device
        rows = slice(lo, hi)
        latents = torch.from_numpy(chunk.latents[rows]).to(device)
        psi = torch.from_numpy(chunk.psi[rows]).to(device)
        cutoff = None if chunk.truncation_cutoff is None else torch.from_numpy(chunk.truncation_cutoff[rows]).to(device)
        if self.timeline.space == "z":
            ws = G.mapping(latents, truncation_psi=psi, truncation_cutoff=cutoff)
        else:
            ws = G.mapping.truncate(latents, truncation_psi=psi, truncation_cutoff=cutoff)
        if self.timeline.directions is not None:
            # Moves along latent directions apply to the truncated ws, so an amount means the
            # same distance in W whatever psi is.
            amounts = torch.from_numpy(chunk.tracks["directions"][rows]).to(device)
            offsets = torch.from_numpy(self.timeline.directions).to(device)
            ws = ws + torch.einsum("nd,dlw->nlw", amounts, offsets)
        return ws

    def model_weights(self, chunk: TimelineChunk, lo: int = 0, hi: int | None = None) -> torch.Tensor | None:
        """Each frame's weight of each blended model per level, [n, M, R] (the base first); None: no blend."""
        if "model_blend" in chunk.tracks:
            parts = torch.from_numpy(chunk.tracks["model_blend"][lo:hi])  # [n, C, R]
            return torch.cat([1.0 - parts.sum(dim=1, keepdim=True), parts], dim=1)
        return None if chunk.blend is None else alphas_to_model_weights(chunk.blend[lo:hi])

    @torch.no_grad()
    def _synthesize(
        self, chunk: TimelineChunk, lo: int, hi: int, convert: Callable[[torch.Tensor], NDArray[np.uint8]]
    ) -> NDArray[np.uint8]:
        G = self.G
        ws = self.ws(chunk, lo, hi)
        weights = self.model_weights(chunk, lo, hi)  # moved by G
        level = self.level
        extra = {}
        if self.noise is not None:
            strength, scale = chunk.tracks.get("noise_strength"), chunk.tracks.get("noise")
            extra["noise"] = self.noise.frame_noise(
                chunk.frames[lo:hi], None if strength is None else strength[lo:hi], G.device,
                None if scale is None else scale[lo:hi],
            )
        if chunk.camera is not None:  # a per-frame input transform (StyleGAN3)
            translate, rotate = chunk.camera
            extra["transform"] = camera_transform(translate[lo:hi], rotate[lo:hi]).to(G.device)
        img = G.synthesis(ws, noise_mode=self.noise_mode, model_weights=weights, max_resolution=level, **extra)
        return convert(to_uint8(img))


def _to_host(pixels: torch.Tensor) -> NDArray[np.uint8]:
    return pixels.cpu().numpy()


def _yuv420p_to_host(pixels: torch.Tensor) -> NDArray[np.uint8]:
    """uint8 [n, H, W, C] on the device -> yuv420p [n, H * W * 3 / 2] on the host, converted on the device."""
    channels = pixels.shape[-1]
    if channels not in (1, 3, 4):
        raise ValueError(f"cannot show {channels}-channel images as RGB")
    rgb = pixels.expand(*pixels.shape[:-1], 3) if channels == 1 else pixels[..., :3]  # as images.to_rgb
    return rgb_to_yuv420p(rgb).cpu().numpy()


__all__ = ["FramePipeline", "blur_frame", "check_generation_options", "resize_frame"]
