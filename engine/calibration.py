"""Temperature scaling (Guo et al., 2017): one scalar fitted on val logits by minimum NLL."""

from __future__ import annotations

import numpy as np
import torch


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


def calibrated(logits: np.ndarray, temperature: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64) / temperature))
