"""Is this file a chest radiograph at all? Checks made before any model sees it.

Anything that decodes can be pushed through a model and get a confident probability: a brain
MR, a 1x1 icon, a 4000x10 strip. Those are refused with a message naming the file and why,
unless the user forces scoring (`cxr score --force`, "Score anyway" on the Score page); a forced
score is stored with the reason it overrode. The checks are deliberately cheap and literal:
whether the content looks like the training population is the typicality score's job
(engine/evaluation/typicality.py).
"""

from __future__ import annotations

from engine.data.decode import DecodedImage, DecodeError

MIN_SIDE = 64  # pixels: below this there is no anatomy left to read
MAX_ASPECT = 3.0  # long side / short side; a chest film is close to square
RADIOGRAPH_MODALITIES = ("CR", "DX")  # computed and digital radiography
# BodyPartExamined values that name the chest (DICOM's defined term is CHEST; THORAX and LUNG
# appear in the wild). Compared after upper-casing; an absent or empty tag is not checked.
CHEST_BODY_PARTS = ("CHEST", "THORAX", "LUNG")
FORCE_HINT = ("if it really is a chest radiograph, score it anyway with `cxr score --force` or "
              "the \"Score anyway\" box on the Score page")


class InputRefused(DecodeError):
    """A decodable file that is not a chest radiograph by the input checks."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: refused, {reason}; {FORCE_HINT}")
        self.reason = reason


def input_problems(image: DecodedImage) -> list[str]:
    """Every reason this decoded image fails the input checks (empty when it passes)."""
    height, width = image.gray.shape[:2]
    problems = []
    if min(width, height) < MIN_SIDE:
        problems.append(f"{width}x{height} pixels is smaller than {MIN_SIDE} px on a side")
    elif max(width, height) / min(width, height) > MAX_ASPECT:
        problems.append(f"aspect ratio {max(width, height) / min(width, height):.1f}:1 "
                        f"({width}x{height} pixels) is beyond {MAX_ASPECT:g}:1")
    if image.file_format == "DICOM":
        if image.modality is None:
            problems.append("DICOM has no Modality, so it is not known to be a radiograph "
                            f"({' or '.join(RADIOGRAPH_MODALITIES)})")
        elif image.modality.upper() not in RADIOGRAPH_MODALITIES:
            problems.append(f"DICOM Modality {image.modality} is not a radiograph "
                            f"({' or '.join(RADIOGRAPH_MODALITIES)})")
        part = (image.body_part or "").upper()
        if part and not any(chest in part for chest in CHEST_BODY_PARTS):
            problems.append(f"DICOM BodyPartExamined {image.body_part} is not the chest")
    return problems


def check_input(image: DecodedImage, name: str, force: bool = False) -> str | None:
    """None when `image` passes; else raise InputRefused, or with `force` return the reason."""
    problems = input_problems(image)
    if not problems:
        return None
    reason = "; ".join(problems)
    if not force:
        raise InputRefused(name, reason)
    return reason
