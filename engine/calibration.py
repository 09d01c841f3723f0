"""Temperature scaling (Guo et al., 2017), and Platt scaling (temperature and offset), fitted on
val logits by minimum NLL."""

from __future__ import annotations

import numpy as np
import torch

from engine.metrics import expected_calibration_error


def fit_temperature(logits: np.ndarray, labels: np.ndarray, max_iter: int = 200) -> float:
    """The temperature T > 0 minimising the NLL of sigmoid(logits / T) on these labels."""
    logits_t = torch.as_tensor(np.asarray(logits, dtype=np.float64))
    labels_t = torch.as_tensor(np.asarray(labels, dtype=np.float64))
    if len(logits_t) == 0 or labels_t.min() == labels_t.max():
        return 1.0
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)  # T = exp(log_t) > 0
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter,
                                  line_search_fn="strong_wolfe")
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(logits_t / torch.exp(log_t), labels_t)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(torch.exp(log_t).item())
    return float(np.clip(temperature, 0.05, 20.0))


def fit_platt(logits: np.ndarray, labels: np.ndarray, max_iter: int = 200) -> tuple[float, float]:
    """(temperature T, offset b) minimising the NLL of sigmoid((logits - b) / T) on these labels.

    Platt scaling: temperature alone cannot move logits that sit on one side of zero (an
    ensemble's mean of calibrated probabilities, a model stopped while its bias still lags), so
    it flattens them towards 0.5 instead. T stays within [0.05, 20] (a smooth bound, so the
    offset is fitted for the T that is kept).
    """
    logits_t = torch.as_tensor(np.asarray(logits, dtype=np.float64))
    labels_t = torch.as_tensor(np.asarray(labels, dtype=np.float64))
    if len(logits_t) == 0 or labels_t.min() == labels_t.max():
        return 1.0, 0.0
    low, high = 0.05, 20.0
    # T = low + (high - low) * sigmoid(u), starting at T = 1.
    start = (1.0 - low) / (high - low)
    u = torch.full((1,), float(np.log(start / (1 - start))), dtype=torch.float64,
                   requires_grad=True)
    offset = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([u, offset], lr=0.1, max_iter=max_iter,
                                  line_search_fn="strong_wolfe")
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def temperature() -> torch.Tensor:
        return low + (high - low) * torch.sigmoid(u)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn((logits_t - offset) / temperature(), labels_t)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(temperature().item()), float(offset.item())


def choose_calibration(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(T, offset) for combined logits: Platt scaling, or none where that has the lower val ECE.

    On a small val set the NLL fit can be the worse choice by ECE: where the logits already rank
    val perfectly, it sharpens them as far as T allows.
    """
    candidates = [(1.0, 0.0), fit_platt(logits, labels)]
    errors = [expected_calibration_error(labels, calibrated(np.asarray(logits) - offset, t))
              for t, offset in candidates]
    return candidates[int(np.argmin(errors))]


def calibrated(logits: np.ndarray, temperature: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64) / temperature))
