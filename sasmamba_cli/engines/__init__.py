"""Engines that run the per-clip work (:func:`sasmamba_cli.batch.process_clip`) somewhere else:
Ray (``ray_engine``); the local one is :func:`sasmamba_cli.batch.run_batch`."""
