"""`make bench`: run every bench script in turn and print its figures.

bench_scaling.py runs before bench_dashboard.py: it grows the dashboard stores from empty
through each size, and bench_dashboard.py then measures on the full stores it leaves.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ("bench_train.py", "bench_gradcam.py", "bench_attention.py", "bench_scoring.py",
         "bench_roofline.py", "bench_scaling.py", "bench_dashboard.py")

scripts = [HERE / name for name in ORDER]
scripts += sorted(set(HERE.glob("bench_*.py")) - set(scripts))  # any newer bench, last
scripts += [HERE / "map_speed.py", HERE / "lookalikes.py"]
for script in scripts:
    print(f"\n=== {script.name} ===", flush=True)
    subprocess.run([sys.executable, str(script)], check=False)
