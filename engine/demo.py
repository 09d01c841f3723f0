"""`cxr demo`: synthetic data (or a real folder) -> ingest -> two small models -> dashboard."""

from __future__ import annotations

from db.session import cxr_home
from engine.data import ingest
from engine.queries_cli import print_run_summary
from engine.synthetic import generate
from engine.train import TrainConfig, main

DEMO_MODELS = (("small_cnn", 64), ("resnet18", 64))
DEMO_IMAGES_PER_CLASS = 200


def run_demo(data: str | None, epochs: int = 6, serve: bool = True, host: str = "127.0.0.1",
             port: int = 8050) -> int:
    if data is None:
        root = cxr_home() / "demo-data"
        if not (root / "NORMAL").is_dir():
            print(f"generating synthetic demo data in {root} (not medical images)", flush=True)
            generate(root, n_per_class=DEMO_IMAGES_PER_CLASS, size=128)
        data = str(root)
    report = ingest(data)
    print(f"ingested {report.total} files ({sum(report.skipped.values())} skipped)", flush=True)
    run_ids = []
    for arch, size in DEMO_MODELS:
        print(f"training {arch} at {size}px for {epochs} epochs", flush=True)
        run_ids.append(main(TrainConfig(arch=arch, data=data, epochs=epochs, image_size=size,
                                        batch_size=32, seed=0, name=f"demo-{arch}")))
    print_run_summary(run_ids)
    print(f"results: database {cxr_home() / 'cxr.db'} (or $CXR_DATABASE_URL), "
          f"artifacts {cxr_home() / 'artifacts'}")
    if not serve:
        return 0
    try:
        from dashboard.server import serve as serve_dashboard
    except ImportError:
        print("the dashboard is not installed; results are in the database above")
        return 0
    print(f"dashboard: http://{host}:{port}/ (sign-in off: a local demo on this machine only; "
          "serve a team with `cxr users add NAME --role admin` and `cxr serve`)", flush=True)
    return serve_dashboard(host=host, port=port, workers=2, debug=False, no_auth=True)
