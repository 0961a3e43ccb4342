"""Layers point down: the lift path (commands.lift -> pipeline -> models) never imports the
training or mocap packages, not even while it lifts a clip."""
import json
import subprocess
import sys

CODE = r"""
import json, sys, tempfile
from pathlib import Path
import numpy as np
from sasmamba_cli.batch import run_batch
from sasmamba_cli.pipeline.run import LiftPipeline, LiftSettings
import sasmamba_cli.commands.lift
d = Path(tempfile.mkdtemp())
anns = [{"image_id": f, "track_id": 0, "keypoints": [v for j in range(17) for v in (300 + 5 * np.sin(f + j), 60 + 20 * j, 0.9)]}
        for f in range(40)]
(d / "k.json").write_text(json.dumps({"width": 640, "height": 480, "fps": 30, "annotations": anns}))
rows = run_batch(LiftPipeline(LiftSettings(weights="sasmamba_xs", formats=("json", "npz", "csv", "bvh"))), [d / "k.json"],
                 d / "out", keypoints_mode=True)
assert rows[0].status == "ok", rows[0].message
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("sasmamba_cli.training", "sasmamba_cli.mocap")))))
"""


def test_lift_path_never_loads_training_or_mocap():
    p = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads(p.stdout.strip().splitlines()[-1]) == []


# --- import direction --------------------------------------------------------------------------
# Layers, low to high. A module may import its own layer and the ones below, never one above
# (every import statement counts, the lazy ones inside functions too). training/ and mocap/ sit
# beside the lift path: they may use everything it is built from, and the lift path never uses
# them (test above).
LAYERS = [
    ("sasmamba_assets", "sasmamba_cli", "sasmamba_cli.errors", "sasmamba_cli.skeleton", "sasmamba_cli.weights",
     "sasmamba_cli.metrics", "sasmamba_cli.data"),
    ("sasmamba_models",),
    ("sasmamba_cli.pipeline",),
    ("sasmamba_cli.export",),
    ("sasmamba_cli.render",),
    ("sasmamba_cli.mocap",),
    ("sasmamba_cli.training",),
    ("sasmamba_cli.batch",),
    ("sasmamba_cli.engines",),
    ("sasmamba_cli.commands", "sasmamba_cli.cli", "sasmamba_cli.__main__"),
]


def _rank(module: str) -> tuple[str, int] | None:
    """(the layer's name, its rank) of the longest layer prefix of ``module``; None outside the project."""
    parts = module.split(".")
    for k in range(len(parts), 0, -1):
        name = ".".join(parts[:k])
        for rank, layer in enumerate(LAYERS):
            if name in layer:
                return name, rank
    return None


def _imports(path, module: str, is_package: bool):
    """(line, imported module) of every import statement in ``path`` (relative ones resolved)."""
    import ast

    base = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")
                target = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module:
                yield node.lineno, target
            else:
                for a in node.names:
                    yield node.lineno, f"{target}.{a.name}"


def back_up_arrows() -> list[str]:
    """Every import that runs from a lower layer to a higher one, as ``file:line  a -> b``."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    rows = []
    for folder, package in (("sasmamba_cli", "sasmamba_cli"), ("models", "sasmamba_models")):
        for path in sorted((root / folder).rglob("*.py")):
            parts = [package, *path.relative_to(root / folder).with_suffix("").parts]
            is_package = parts[-1] == "__init__"
            module = ".".join(parts[:-1] if is_package else parts)
            here = _rank(module)
            for line, target in _imports(path, module, is_package):
                there = _rank(target)
                if here and there and there[1] > here[1]:
                    rows.append(f"{path.relative_to(root)}:{line}  {module} -> {target}   "
                                f"({here[0]} [{here[1]}] -> {there[0]} [{there[1]}])")
    return rows


def test_imports_only_point_down():
    assert back_up_arrows() == []


def test_every_package_has_a_layer():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    packages = {f"sasmamba_cli.{p.parent.name}" for p in (root / "sasmamba_cli").glob("*/__init__.py")}
    assert packages - {name for layer in LAYERS for name in layer} == set()


if __name__ == "__main__":
    found = back_up_arrows()
    print(f"{len(found)} back-up arrows")
    print("\n".join(found))
