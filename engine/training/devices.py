"""Where tensors live: `--device auto|cpu|cuda` resolved in one place for every command.

`auto` (the default) is the GPU when PyTorch sees one, else the CPU. CXR_DEVICE sets the default
for commands given no --device; a chosen device is passed on as an argument (`cxr serve` hands it
to the dashboard's server as --device). Asking for CUDA where there is none is the user's error,
said plainly, never a stack trace from deep inside a forward pass.
"""

from __future__ import annotations

import os

import torch

from engine import settings
from engine.errors import UserError

DEVICE_HELP = "auto (default: the GPU when there is one) | cpu | cuda | cuda:N"


def _cuda_device_count() -> int:
    """GPUs PyTorch can use. Fork-safe: the NVML check does not initialise CUDA here, so a
    process that validates the device and then forks workers (gunicorn) leaves them usable."""
    if not torch.backends.cuda.is_built():
        return 0
    saved = os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK")
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
    try:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    finally:
        if saved is None:
            os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
        else:
            os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = saved


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """`auto` / `cpu` / `cuda` / `cuda:N` (None: $CXR_DEVICE, else auto) -> a torch.device.

    Raises UserError for an unknown name, or for CUDA where PyTorch sees no GPU.
    """
    if isinstance(name, torch.device):
        return name
    text = (name or settings.CXR_DEVICE.get() or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda" if _cuda_device_count() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    kind, _, index = text.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        given = f"--device {name!r}" if name else f"CXR_DEVICE={text!r}"
        raise UserError(f"unknown {given}; use auto, cpu, cuda or cuda:N")
    count = _cuda_device_count()
    if count == 0:
        built = torch.version.cuda or "no CUDA"
        raise UserError(f"--device {text} was asked for, but PyTorch sees no CUDA GPU here "
                        f"(torch {torch.__version__}, built with {built}); use --device cpu "
                        "or auto, or run on a machine with an NVIDIA GPU and its driver")
    if index and int(index) >= count:
        raise UserError(f"--device {text}: there is no GPU {index}; this machine has {count} "
                        f"(cuda:0 to cuda:{count - 1})")
    return torch.device(text)


def rank_device(device: torch.device, distributed: bool) -> torch.device:
    """A rank's own GPU under torch.distributed (one process per GPU); the CPU stays the CPU."""
    if device.type != "cuda" or not distributed:
        return device
    return torch.device("cuda", torch.cuda.current_device())


def configure(device: torch.device, training: bool) -> None:
    """Process-wide cuDNN and matmul settings for the work about to run on `device`.

    Training may use TF32 tensor cores and cuDNN's autotuner (fixed batch shapes). Inference
    (evaluation, Grad-CAM, scoring) computes in full fp32, so a GPU's probabilities match the
    CPU's to 1e-4 and a scored upload gets the same answer on any device.
    """
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = training
    torch.backends.cudnn.allow_tf32 = training
    torch.backends.cuda.matmul.allow_tf32 = training
