"""Audio analysis, torch-free: decode a song, measure it at the video's frame rate, shape envelopes.

`decode` reads any file ffmpeg reads (WAV without it) to mono or to its channels; `features`
computes per-frame loudness and onset strength per frequency band, chroma, and the `AudioFeatures`
bundle that `analyze` returns; `beats` estimates the tempo and tracks beats; `sections` finds
section boundaries on a self-similarity novelty curve; `envelope` shapes a feature into a control
signal (percentile normalisation, gamma, attack/decay, smoothing in seconds, causal or not, clip).
Nothing here imports torch, a model or the plan (CI checks it with import-linter), so `renderer
analyze` starts fast.
"""
