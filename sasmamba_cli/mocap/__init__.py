"""Motion capture import: BVH and ASF/AMC readers with forward kinematics (``bvh``, ``asf``), rig
maps to H36M-17 / COCO-17 (``rigs``), resampling, the dataset file (``dataset``) and its builder
(``convert``, ``build``), and Human3.6M readers (``h36m``). See docs/data.md."""
