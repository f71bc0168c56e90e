"""Which precision a training run computes in, written by hand: bfloat16 autocast where the hardware has it.

Notebook 09 teaches what bfloat16 autocast does; whether a given machine can do it well is a question about
hardware and PyTorch builds, not about training, so the answer lives here, out of the notebook's way. The
Trainer (`gpt2lib/training/trainer.py`, generated from notebook 09) calls `autocast_dtype` once, when it is
created.

On a CUDA GPU, PyTorch says itself whether it supports bfloat16. On a CPU, bfloat16 pays off only where PyTorch
has native kernels for it: oneDNN's bfloat16 matrix products (CPUs with AVX-512 BF16 or AMX), and AVX-512 kernels,
which attention's bfloat16 kernel needs. The environment variable `ATEN_CPU_CAPABILITY=avx2` restricts PyTorch to
AVX2 kernels even on such a CPU, and then bfloat16 is not chosen.
"""

import torch

from gpt2lib.training.validation import check_precision

__all__ = ["autocast_dtype", "cpu_computes_bfloat16"]


def cpu_computes_bfloat16() -> bool:
    """Whether PyTorch runs bfloat16 natively on this CPU: oneDNN's bfloat16 matrix products, and AVX-512 kernels,
    which attention's bfloat16 kernel needs (ATEN_CPU_CAPABILITY=avx2 makes torch use AVX2 kernels only)."""
    try:
        return torch.backends.cpu.get_cpu_capability() == "AVX512" and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(device, precision: str = "auto") -> torch.dtype | None:
    """bfloat16 where the device supports it (precision "auto"), or as asked; None means float32 throughout."""
    check_precision(precision)  # gpt2lib/training/validation.py
    device = torch.device(device)
    if precision == "bfloat16" and device.type == "cpu" and not cpu_computes_bfloat16():
        raise ValueError(f"precision 'bfloat16' needs a CPU on which PyTorch computes in bfloat16 (see "
                         f"cpu_computes_bfloat16); PyTorch uses {torch.backends.cpu.get_cpu_capability()} kernels "
                         "here: use 'auto' or 'float32'")
    if precision != "auto":
        return torch.bfloat16 if precision == "bfloat16" else None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if device.type == "cpu" and cpu_computes_bfloat16() else None
