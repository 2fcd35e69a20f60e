"""Frames to files: one writer per output kind, ffmpeg, atomic files, the journal and the sidecar.

No torch here. `kind.OutputWriter` is the interface of an output kind (open a segment, join the
segments); `video` (MP4/WebM), `gif` and `frames_folder` (PNG) implement it and `writers.WRITERS`
registers them by kind. `ffmpeg` runs and probes the bundled ffmpeg; `files` is the one atomic
write helper; `manifest` hashes, journals segments and writes the sidecar; `plots` draws tracks.
"""
