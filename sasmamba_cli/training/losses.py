"""Training loss (torch): ``MPJPE + 0.5 * N-MPJPE + 20 * velocity error`` (MODEL.md).

Inputs ``pred, target (B, T, J, 3)`` root-relative, metres.
"""
from __future__ import annotations

import torch

LOSS_WEIGHTS = {"mpjpe": 1.0, "n_mpjpe": 0.5, "velocity": 20.0}


def mpjpe(pred, target):
    return (pred - target).norm(dim=-1).mean()


def n_mpjpe(pred, target):
    num = (pred * target).sum(dim=(-1, -2), keepdim=True)
    den = (pred * pred).sum(dim=(-1, -2), keepdim=True).clamp_min(1e-8)
    return mpjpe(pred * (num / den), target)


def velocity_error(pred, target):
    if pred.shape[1] < 2:
        return pred.new_zeros(())
    return mpjpe(pred[:, 1:] - pred[:, :-1], target[:, 1:] - target[:, :-1])


def lifter_loss(pred, target) -> tuple[torch.Tensor, dict[str, float]]:
    parts = {"mpjpe": mpjpe(pred, target), "n_mpjpe": n_mpjpe(pred, target),
             "velocity": velocity_error(pred, target)}
    total = sum(LOSS_WEIGHTS[k] * v for k, v in parts.items())
    return total, {k: float(v.detach()) for k, v in parts.items()}
