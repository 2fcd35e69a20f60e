"""From a plan and a model to uint8 frames.

`latents` resolves a script's keyframes against a model (seeds -> w, latent files, style mixes,
PCA of W); `pipeline.FramePipeline` maps and synthesises the timeline's frames in device batches
and post-processes them (resize, blur, temporal smoothing), exactly in any split of the video;
`images` converts and arranges images (to_uint8, grids, contact sheets).
"""
