"""Engines that run the per-clip work (pipeline.batch.process_clip): local (pipeline.batch.run_batch) and Ray (ray_engine)."""
