"""`cxr`, the command line: one module per command group, each a thin layer (parse, call the
engine, print). `cxr = "engine.cli:main"` and `python -m engine.cli` both start `main`."""

from engine.cli.main import main

__all__ = ["main"]
