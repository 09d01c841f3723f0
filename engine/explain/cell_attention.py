"""Where a model looks, per confusion cell: is the film's border evidence, or only attention?

`cxr attention RUN` reads one evaluation (val, test, external, or val under a shift), samples
up to N images from each cell (true / false positives and negatives) and measures their CAMs:
the border share (energy in the outer band, engine/explain/attention.py), the share in the four
corner boxes where laterality markers sit, and the lung share. The CAM is the stored one
(`last`: the Grad-CAM layer of every evaluation, 4x4 at 128 px for a resnet) or one recomputed
on the block before it (`fine`: twice the resolution), so a hot spot can be told apart from the
coarse grid's spill into the band. With `road`, pytorch-grad-cam's ROAD combined score says per
cell whether removing what the CAM points at changes the model's answer (higher is more
faithful).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.metrics.road import ROADCombined
from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget

from db import evaluations, gallery, images, runs
from db.gallery import PredictionView
from db.session import artifacts_root
from engine.data.pixels import load_gray, to_input
from engine.errors import UserError
from engine.evaluation.perturbations import apply_shift
from engine.explain.attention import border_band, energy_share
from engine.explain.lungmask import lung_mask
from engine.explain.road import ROAD_PERCENTILES
from engine.inference.predictor import load_run_model, prepare_films, require_checkpoint
from engine.models import cam_target_layer

CELLS = {"TP": (1, 1), "FP": (0, 1), "TN": (0, 0), "FN": (1, 0)}  # (true, predicted)
CORNER = 0.2  # side of each corner box, as a share of the film's side
LAYERS = ("last", "fine")
# ROAD (logit units) at or below which a class's CAMs are read as attention, not evidence:
# removing what they point at moves the answer no more than removing the rest. Measured on the
# full-scale `best` run: pneumonia calls -0.54 to 0.05, normal calls up to 0.61 (docs/results.md).
FAITHFUL_ROAD = 0.1
CALLS = (("pneumonia calls", ("TP", "FP")), ("normal calls", ("TN", "FN")))


@dataclass(frozen=True)
class CellAttention:
    cell: str
    images: int  # in the evaluation
    sampled: int
    border_share: float  # mean CAM energy share in the outer band
    border_over_half: float  # share of the sampled images whose border share is above 0.5
    corner_share: float  # mean CAM energy share in the four corner boxes
    lung_share: float  # mean CAM energy share inside the lung mask
    road: float | None  # mean ROAD combined score, where asked for
    missing: int = 0  # sampled, but the image or its stored CAM is no longer on disk
    empty: int = 0  # measured, but the CAM is all zeros: it points nowhere, so has no shares


@dataclass(frozen=True)
class AttentionReport:
    run_id: int
    evaluation_id: int
    layer: str
    grid: tuple[int, int]  # the CAM layer's activation size at the run's image size
    cells: list[CellAttention]


def verdicts(report: AttentionReport) -> list[str]:
    """Per predicted class, whether its CAMs' border share is evidence or only where they look:
    the sampled cells pooled, read by their ROAD (asked for with `road`)."""
    lines = []
    if report.grid != (0, 0) and min(report.grid) <= 4:
        lines.append(f"a {report.grid[0]}x{report.grid[1]} grid: each CAM cell is 1/"
                     f"{report.grid[0] * report.grid[1]} of the film and every cell but the "
                     f"middle ones touches the border band, so the border share is coarse here"
                     + (" (--cam-layer fine recomputes it twice as fine)"
                        if report.layer == "last" else ""))
    by_name = {cell.cell: cell for cell in report.cells}
    for calls, names in CALLS:
        members = [cell for cell in map(by_name.get, names) if cell.sampled > cell.empty]
        if not members:
            continue
        border = float(np.average([cell.border_share for cell in members],
                                  weights=[cell.sampled - cell.empty for cell in members]))
        scored = [(cell.road, cell.sampled) for cell in members
                  if cell.road is not None and np.isfinite(cell.road)]
        if not scored:
            lines.append(f"{calls}: border share {border:.3f}; add --road to tell whether "
                         f"that is evidence or only where the CAM looks")
            continue
        road = float(np.average([r for r, _ in scored], weights=[n for _, n in scored]))
        if road <= FAITHFUL_ROAD:
            lines.append(f"{calls}: border share {border:.3f}, ROAD {road:.3f} (at most "
                         f"{FAITHFUL_ROAD}): removing what these CAMs point at moves the answer "
                         f"no more than removing the rest, so where they look (border included) "
                         f"is attention, not the evidence the answer rests on")
        else:
            lines.append(f"{calls}: border share {border:.3f}, ROAD {road:.3f}: these CAMs "
                         f"point at what the answer rests on, so a high border share is "
                         f"evidence; check the film's edges (cxr evaluate RUN --shift marker)")
    return lines


def corner_boxes(height: int, width: int, side: float = CORNER) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    dy, dx = max(int(round(side * height)), 1), max(int(round(side * width)), 1)
    for rows in (slice(0, dy), slice(height - dy, height)):
        for cols in (slice(0, dx), slice(width - dx, width)):
            mask[rows, cols] = True
    return mask


def _sample(rows: list[PredictionView], per_cell: int, seed: int
            ) -> dict[str, list[PredictionView]]:
    rng = np.random.default_rng(seed)
    cells = {}
    for name, (true, predicted) in CELLS.items():
        members = [r for r in rows if (r.true_label, r.predicted_label) == (true, predicted)]
        order = sorted(rng.permutation(len(members))[:per_cell]) if members else []
        cells[name] = [members[i] for i in order]
    return cells


def _evaluation(run_id: int, split: str, shift: str | None) -> int:
    evaluation_id = evaluations.evaluation_id_for(run_id, split, shift)
    if evaluation_id is None:
        what = f"val evaluation under --shift {shift}" if shift else f"{split} evaluation"
        fix = (f"cxr evaluate {run_id} --shift {shift}" if shift
               else f"cxr evaluate {run_id} --split {split}" if split != "external"
               else f"cxr evaluate {run_id} --data DIR")
        raise UserError(f"run {run_id} has no completed {what}; run `{fix}` first")
    return evaluation_id


class _CamSource:
    """The CAMs of a run's predictions: stored (`last`) or recomputed on the finer layer."""

    def __init__(self, run: runs.RunInfo, layer: str, need_model: bool,
                 device: torch.device | str | None) -> None:
        self.run, self.layer = run, layer
        self.model = load_run_model(run, device) if need_model else None
        self._cam = None
        if layer == "fine":
            target = cam_target_layer(self.model, run.arch, fine=True)
            self._cam = GradCAM(model=self.model, target_layers=[target])

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def inputs(self, grays: np.ndarray) -> torch.Tensor:
        return to_input(prepare_films(self.run.config, grays)).to(self.device)

    def cams(self, chunk: list[PredictionView], grays: np.ndarray) -> np.ndarray:
        if self._cam is None:
            return np.stack([np.load(artifacts_root() / row.cam_raw_path).astype(np.float32)
                             for row in chunk])
        targets = [BinaryClassifierOutputTarget(row.predicted_label) for row in chunk]
        return self._cam(input_tensor=self.inputs(grays), targets=targets).astype(np.float32)

    def grid(self, size: int) -> tuple[int, int]:
        if self.model is None:
            return (0, 0)
        layer = cam_target_layer(self.model, self.run.arch, fine=self.layer == "fine")
        seen: list[tuple[int, int]] = []
        hook = layer.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape[-2:])))
        with torch.no_grad():
            self.model(torch.zeros(1, 1, size, size, device=self.device))
        hook.remove()
        return seen[0]

    def close(self) -> None:
        if self._cam is not None:
            self._cam.__exit__(None, None, None)


def cell_attention(run_id: int, split: str = "val", shift: str | None = None,
                   per_cell: int = 50, layer: str = "last", road: bool = False, seed: int = 0,
                   batch_size: int = 16, device: torch.device | str | None = None,
                   ) -> AttentionReport:
    if layer not in LAYERS:
        raise UserError(f"unknown --cam-layer {layer!r}; choose one of {', '.join(LAYERS)}")
    if per_cell < 1:
        raise UserError(f"--per-cell must be at least 1, not {per_cell}")
    run = runs.get_run(run_id)
    if run.status != "completed":
        raise UserError(f"run {run_id} is {run.status}: only a completed run has evaluations to "
                        f"read (`cxr runs` says how to resume or retrain it)")
    require_checkpoint(run, "have its attention measured (there is no Grad-CAM)")
    if run.arch == "ensemble" and (road or layer == "fine"):
        raise UserError(f"run {run_id} is an ensemble: it has no one model to recompute CAMs or "
                        f"ROAD with; ask one of its members, or read its stored CAMs without "
                        f"--road and --cam-layer fine")
    evaluation_id = _evaluation(run_id, split, shift)
    rows = gallery.evaluation_predictions(evaluation_id)
    if not any(row.cam_raw_path for row in rows):
        raise UserError(f"evaluation {evaluation_id} of run {run_id} stored no Grad-CAMs; "
                        f"evaluate it again with this version")
    cells = _sample([row for row in rows if row.cam_raw_path], per_cell, seed)
    counts = {name: sum((r.true_label, r.predicted_label) == pair for r in rows)
              for name, pair in CELLS.items()}
    # The model also measures the CAM grid; an ensemble has none (and reads its stored CAMs).
    source = _CamSource(run, layer, need_model=run.arch != "ensemble", device=device)
    try:
        size = int(run.config["image_size"])
        report = [_measure(name, counts[name], members, source, size, shift, road, batch_size)
                  for name, members in cells.items()]
        grid = source.grid(size)
    finally:
        source.close()
    if not any(cell.sampled for cell in report):
        raise UserError(f"none of the sampled images of evaluation {evaluation_id} (run {run_id})"
                        f" or their stored Grad-CAMs are on disk any more; restore the image "
                        f"folder, or evaluate the run again")
    return AttentionReport(run_id, evaluation_id, layer, grid, report)


def _measure(name: str, count: int, members: list[PredictionView], source: _CamSource,
             size: int, shift: str | None, road: bool, batch_size: int) -> CellAttention:
    files = images.image_files([row.image_id for row in members])
    sampled = len(members)
    members = [row for row in members
               if row.image_id in files and os.path.isfile(files[row.image_id].path)
               and (source.layer != "last" or (artifacts_root() / row.cam_raw_path).is_file())]
    border, corner, lung, road_scores = [], [], [], []
    metric = ROADCombined(percentiles=list(ROAD_PERCENTILES)) if road else None
    for start in range(0, len(members), batch_size):
        chunk = members[start:start + batch_size]
        grays = np.stack([load_gray(files[row.image_id].path, size) for row in chunk])
        if shift:
            grays = apply_shift(shift, grays, seeds=[row.image_id for row in chunk])
        cams = source.cams(chunk, grays)
        for gray, cam in zip(grays, cams, strict=True):
            border.append(energy_share(cam, border_band(*cam.shape)))
            corner.append(energy_share(cam, corner_boxes(*cam.shape)))
            lungs = lung_mask(gray)
            lung.append(energy_share(cam, lungs) if lungs.any() else float("nan"))
        if metric is not None:
            targets = [BinaryClassifierOutputTarget(row.predicted_label) for row in chunk]
            with torch.no_grad():
                values = metric(source.inputs(grays), cams, targets, source.model)
            road_scores += [float(v) for v in np.asarray(values).reshape(-1)]
    border_values = np.asarray(border, dtype=float)
    shares = border_values[np.isfinite(border_values)]  # an all-zero CAM has no shares
    return CellAttention(
        cell=name, images=count, sampled=len(members),
        border_share=_nanmean(shares),
        border_over_half=float((shares > 0.5).mean()) if shares.size else float("nan"),
        corner_share=_nanmean(corner), lung_share=_nanmean(lung),
        road=_nanmean(road_scores) if road else None, missing=sampled - len(members),
        empty=len(border_values) - len(shares))


def _nanmean(values) -> float:  # noqa: ANN001 - a list or an array of floats
    values = np.asarray(values, dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
