"""Video (or saved 2D) -> ClipResult: the stages composed by ``run.LiftPipeline``, the one inference
path (``lifting``), the one resampler and the result model (``result``). See docs/architecture.md."""
