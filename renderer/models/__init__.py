"""Model families behind one protocol, with no I/O beyond reading checkpoints.

`synthesizer.Synthesizer` is what the frame pipeline, the preview and the projector ask of a
model (dims, w_avg, mapping, synthesis, levels, early stop, blending). `stylegan2` is the StyleGAN2
network with NVIDIA's narrow signatures; `blending` wraps it to blend models per resolution, per
frame; `checkpoints` reads every format safely and builds a family through its registry; `demo`
builds the built-in models. A new family is one module here plus one line in the registry.
"""
