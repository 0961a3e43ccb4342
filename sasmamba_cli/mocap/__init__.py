"""Motion capture import: the ASF/AMC reader with forward kinematics (``asf``; BVH files are read
by :mod:`sasmamba_cli.export.bvh_read`), rig maps to H36M-17 / COCO-17 (``rigs``), the dataset
file (``dataset``) and its builder (``convert``, ``build``; resampling by
:mod:`sasmamba_cli.pipeline.resample`), and Human3.6M readers and protocol (``h36m``,
``h36m_protocol``). See docs/data.md."""
