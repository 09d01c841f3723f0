"""The store of the external-run tests: one of our small CNNs, and a model of another framework
(scikit-learn logistic regression on 16 px thumbnails) imported with `cxr import-predictions`
on our run's split. Session-scoped: the engine and dashboard tests share it."""

from __future__ import annotations

import csv
import io
import os
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

UNKNOWN_PATH = "NORMAL/not-registered.jpeg"


def thumbnails(paths: list[str]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(path).convert("L").resize((16, 16)), dtype=float)
                     .ravel() / 255.0 for path in paths])


def write_predictions(path: Path, root: Path, images: list, probability: np.ndarray,
                      extra: list[tuple[str, str]] = ()) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "probability"])
        for image, value in zip(images, probability, strict=True):
            writer.writerow([Path(image.path).relative_to(root).as_posix(), f"{value:.6f}"])
        writer.writerows(extra)
    return path


@pytest.fixture(scope="session")
def imported_home(tmp_path_factory: pytest.TempPathFactory, real_subset: Path) -> dict:
    from sklearn.linear_model import LogisticRegression

    from db.runs import get_run, run_summaries
    from db.splits import split_images
    from engine.cli.main import main as cli_main
    from engine.training.train import TrainConfig, main
    from tests.conftest import cxr_environment

    folder = tmp_path_factory.mktemp("imported-home")
    with cxr_environment(folder / "home") as home:
        ours = main(TrainConfig(arch="small_cnn", data=str(real_subset), epochs=1,
                                image_size=64, batch_size=16, seed=0, name="ours"))
        split_id = get_run(ours).split_id
        train = split_images(split_id, "train")
        scored = split_images(split_id, "val") + split_images(split_id, "test")
        model = LogisticRegression(max_iter=2000).fit(
            thumbnails([i.path for i in train]), [i.label for i in train])
        probability = model.predict_proba(thumbnails([i.path for i in scored]))[:, 1]
        extra = [(Path(train[0].path).relative_to(real_subset).as_posix(), "0.5"),
                 (UNKNOWN_PATH, "0.25")]
        predictions = write_predictions(folder / "sklearn.csv", real_subset, scored,
                                        probability, extra)
        printed = io.StringIO()
        with redirect_stdout(printed):
            code = cli_main(["import-predictions", str(predictions), "--name", "sklearn-logreg",
                             "--split-of", str(ours)])
        assert code == 0, printed.getvalue()
        external = max(run.id for run in run_summaries())
        url = os.environ.get("CXR_DATABASE_URL")
    return {"home": home, "url": url, "ours": ours, "external": external, "csv": predictions,
            "printed": printed.getvalue(), "data": real_subset, "split_id": split_id,
            "scored": scored, "probability": probability}
