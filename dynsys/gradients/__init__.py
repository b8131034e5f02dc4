"""Gradients: BPTT with the paper's diagnostics (eq. 3–5), losses, Jacobian products, clipping
(Algorithm 1) and the Ω regularizer (eq. 9–10)."""

from .backprop import BPTTResult, bptt, bptt_stacked, temporal_contributions
from .clipping import (
    NONFINITE_LIMIT,
    SHRINK_FACTOR,
    ClipInfo,
    clip_grad_norm,
    clip_grad_norm_stacked,
    clip_grad_value,
    global_norm,
)
from .jacobians import final_jacobian_norms, jacobian_product, jacobian_product_norms, product_norms
from .losses import ReadoutLoss, StateLoss, resolve_steps
from .regularizers import OmegaAccumulator, OmegaResult, omega

__all__ = [
    "BPTTResult",
    "bptt",
    "bptt_stacked",
    "temporal_contributions",
    "StateLoss",
    "ReadoutLoss",
    "resolve_steps",
    "jacobian_product",
    "jacobian_product_norms",
    "final_jacobian_norms",
    "product_norms",
    "NONFINITE_LIMIT",
    "SHRINK_FACTOR",
    "ClipInfo",
    "clip_grad_norm",
    "clip_grad_norm_stacked",
    "clip_grad_value",
    "global_norm",
    "OmegaResult",
    "OmegaAccumulator",
    "omega",
]
