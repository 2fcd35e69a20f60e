"""The plan of a video, torch-free: scripts, times, presets, paths, tracks and the timeline.

Nothing here imports torch, a model or an output module (CI checks it with import-linter), so a
script validates and its tracks evaluate in milliseconds. `script` parses and checks keyframe
scripts; `paths` interpolates keyframes (easing and segment-sampler tables); `tracks` holds the
Track protocol and its transforms (smoothing, pinning, lags, PCA restriction, renormalisation);
`timeline` turns a script and its resolved keyframes into named tracks read chunk by chunk.
"""
