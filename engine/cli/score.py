"""`cxr score FILE...`: score files with trained runs; a bad file is reported, the rest scored.

The paths typed are printed back to this terminal only: the store keeps no file name."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from db.session import artifacts_root
from engine.cli.options import DEVICE_HELP, Command, check_device

if TYPE_CHECKING:
    from db.uploads import ScoredUpload
    from engine.inference.uploads import DecodedUpload

EXIT_BAD_FILE = 2
# Files decoded and scored together: batches inference without holding every image at once.
CHUNK_FILES = 64


def _result_dict(file: str, decoded: DecodedUpload, result: ScoredUpload,
                 device: str | None = None) -> dict:
    from engine.inference.lookalikes import lookalikes_of_gray

    upload = result.upload
    return {
        # `file` is the path typed, printed back to this terminal; it is never stored.
        "file": file, "upload_id": upload.id,
        "format": decoded.uploaded_format or upload.file_format, "stored_as": upload.file_format,
        "sha256": upload.sha256, "disagreement": result.disagreement,
        "forced": result.forced, "input_check": decoded.input_check,
        "outside_population": result.outside_population,
        # False when a run finds the image unlike its training images: no verdict is given.
        "assessable": not result.outside_population,
        "scores": [{
            "run_id": score.run_id, "run_name": score.run_name,
            "probability": round(score.probability, 6), "label": score.label_name,
            "threshold": score.threshold, "inference_ms": round(score.inference_ms, 2),
            "overlay": str(artifacts_root() / score.cam_path),
            "typicality": None if score.typicality is None else round(score.typicality, 4),
            "outside_population": score.outside_population,
            "assessable": score.assessable, "production": bool(score.from_production),
            # The 8 nearest training images in the run's features; null: re-evaluate the run.
            "lookalikes": _as_dicts(lookalikes_of_gray(score.run_id, decoded.gray,
                                                       device=device)),
        } for score in result.scores],
    }


def _as_dicts(found: list | None) -> list[dict] | None:
    return None if found is None else [item.as_dict() for item in found]


def _print_result(file: str, decoded: DecodedUpload, result: ScoredUpload) -> None:
    upload = result.upload
    print(f"{file}  ({decoded.uploaded_format or upload.file_format}, stored as upload "
          f"{upload.id}: {upload.file_format} without metadata or file name)")
    if result.forced:
        print(f"  ! FORCED past the input check: {decoded.input_check}")
    answered = any(score.from_production for score in result.scores)
    for score in result.scores:
        role = ("production" if score.from_production else "challenger" if answered else "")
        verdict = (f"{score.label_name:<9}" if score.assessable
                   else "not assessable: unlike the training images")
        print(f"  run {score.run_id:<3} {score.run_name[:24]:<24} {role:<10} "
              f"P(pneumonia)={score.probability:.3f}  {verdict} "
              f"(threshold {score.threshold:.3f})  {score.inference_ms:7.1f} ms  "
              f"overlay {artifacts_root() / score.cam_path}")
        if score.outside_population:
            print(f"      ! OUTSIDE THE TRAINING POPULATION (typicality "
                  f"{score.typicality:.2f}; above 1 is outside): no NORMAL/PNEUMONIA verdict")
    if result.disagreement:
        print("  ! the runs disagree: they fall on different sides of their thresholds")
    elif len(result.scores) > 1 and not result.assessable:
        print("  ! agreement: not assessable (no run finds the image like its training images)")


def score_files(files: list[str], run_ids: list[int] | None = None, as_json: bool = False,
                force: bool = False, device: str | None = None, every_run: bool = False) -> int:
    """Score every readable file on `device`; print an error line per bad one. Returns the exit
    code. A file failing the input checks is refused (exit code 2) unless `force`. Without
    `run_ids` the production run answers (every completed run when none is promoted);
    `every_run` adds the other completed runs as challengers.
    """
    from engine.data.decode import DecodeError
    from engine.data.input_checks import InputRefused
    from engine.inference.uploads import (
        decode_upload,
        read_upload_file,
        score_uploads,
        scoring_run_ids,
        unusable_production,
    )

    # Fail fast on a bad --run, before reading any file.
    chosen = scoring_run_ids(run_ids, every_run)
    note = None if run_ids else unusable_production()
    if note:
        print(f"cxr: note: {note}", file=sys.stderr, flush=True)
    results: list[dict] = []
    errors: list[dict] = []
    for offset in range(0, len(files), CHUNK_FILES):
        decoded: list[tuple[str, DecodedUpload]] = []
        for file in files[offset:offset + CHUNK_FILES]:
            try:
                decoded.append((file, decode_upload(read_upload_file(file), file, force)))
            except DecodeError as exc:
                print(f"cxr: error: {exc}", file=sys.stderr, flush=True)
                errors.append({"file": file, "error": str(exc), "input_check": (
                    exc.reason if isinstance(exc, InputRefused) else None)})
        scored = score_uploads([upload for _, upload in decoded], chosen, device=device)
        for (file, upload), result in zip(decoded, scored, strict=True):
            if as_json:
                results.append(_result_dict(file, upload, result, device))
            else:
                _print_result(file, upload, result)
    if as_json:
        print(json.dumps({"results": results, "errors": errors}, indent=2))
    return EXIT_BAD_FILE if errors else 0


def score_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--run", type=int, action="append", metavar="ID",
                       help="score with this run (repeatable; default: the production run, "
                            "else every completed run)")
    which.add_argument("--all", "--challengers", dest="all", action="store_true",
                       help="the production run and every other completed run as challengers")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--device", help=DEVICE_HELP)
    parser.add_argument("--force", action="store_true",
                        help="score files that fail the input checks (under 64 px on a side, "
                             "aspect beyond 3:1, DICOM not CR/DX or not chest); the scores are "
                             "stored as forced, with the reason")


def cmd_score(args: argparse.Namespace) -> int:
    return score_files(args.files, run_ids=args.run or None, as_json=args.json,
                       force=args.force, device=check_device(args.device),
                       every_run=args.all)


COMMANDS = {
    "score": Command("score image files (JPEG, PNG, DICOM) with trained runs, with Grad-CAM",
                     score_arguments, cmd_score),
}
