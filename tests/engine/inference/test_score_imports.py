"""`cxr score FILE --run ID` imports only what scoring needs, and still gives the right answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

# The dashboard's stack and pandas are never needed to score a file. pytorch-grad-cam (and the
# torchvision, scikit-learn, SciPy and Matplotlib its package import pulls) is: the CAM comes
# from the library, not from a copy of its arithmetic (STYLE.md), which costs about 4 s.
# Nor are the dashboard, training or evaluation modules of our own.
HEAVY = ("dash", "plotly", "flask", "gunicorn", "dash_bootstrap_components", "dashboard",
         "engine.training.train", "engine.training.loop", "engine.evaluation.evaluate",
         "db.run_table", "db.gallery")
RUN_SCORE = """
import json, sys
from engine.cli import main
code = main(sys.argv[1:])
unwanted = set(json.loads(sys.stdin.read()))
heavy = sorted(name for name in sys.modules if name in unwanted or name.split(".")[0] in unwanted)
print("HEAVY " + json.dumps(heavy), file=sys.stderr)
sys.exit(code)
"""


def test_score_imports_no_dashboard_or_pandas(trained_home: dict,
                                                                  tmp_path: Path) -> None:
    from engine.inference.scoring import get_scorer

    source = sorted((trained_home["data"] / "PNEUMONIA").iterdir())[5]
    run_id = trained_home["run_ids"][0]
    done = subprocess.run(
        [sys.executable, "-c", RUN_SCORE, "score", str(source), "--run", str(run_id), "--json"],
        input=json.dumps(HEAVY), capture_output=True, text=True, cwd=REPO, env=os.environ,
        timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    heavy = json.loads(done.stderr.rsplit("HEAVY ", 1)[1])
    assert heavy == [], f"cxr score imported {heavy}"
    [result] = json.loads(done.stdout)["results"]
    [score] = result["scores"]
    expected = get_scorer(run_id).score(source.read_bytes())
    assert score["run_id"] == run_id
    assert abs(score["probability"] - expected.probability) < 1e-5
    assert score["label"] == expected.label_name and Path(score["overlay"]).is_file()
