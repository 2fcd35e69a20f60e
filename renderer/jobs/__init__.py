"""What the user asks for, as short sequences of named steps: render, preview, stills, projection.

`job.resolve_job` turns a script and settings into one frozen, picklable RenderJob; `render.render`
runs it through `runner.SegmentRunner` (the only place that knows threads and queues); `preview`
writes contact sheets, track plots and drafts; `stills` generates images, blend grids and model
files; `projector` and `align` encode a photo as a latent.
"""
