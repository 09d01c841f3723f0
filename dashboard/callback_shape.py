"""A callback request must carry exactly the dependencies its callback declares.

Dash hands a callback its inputs and state by position and never compares their ids or
properties with the declaration, so a body with two inputs swapped, one left out or one repeated
runs the callback on values it never asked for (the page router rendered /audit for a request
whose `pathname` said `/`). The guard therefore refuses, before any callback runs, a body whose
outputs, inputs, state or changed properties do not match the callback's declaration, slot by
slot: the same id (a pattern id's fixed keys equal, its wildcard keys set), the same property.
"""

from __future__ import annotations

import json

WILDCARDS = frozenset({"MATCH", "ALL", "ALLSMALLER"})
MULTI_VALUED = frozenset({"ALL", "ALLSMALLER"})  # Dash sends a list of matches for these
SCALARS = (str, int, float, bool)


class ShapeError(ValueError):
    """A callback request that does not match its callback's declaration."""


def _wildcard(value: object) -> str | None:
    """"ALL" for Dash's serialised wildcard ["ALL"], None for a fixed value."""
    if isinstance(value, list) and len(value) == 1 and value[0] in WILDCARDS:
        return value[0]
    return None


def declared_id(text: str) -> str | dict:
    """A declaration's id: a string, or a pattern id (Dash serialises those as JSON)."""
    return json.loads(text) if text.startswith("{") else text


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b  # True is not 1 here


def _id_matches(declared: str | dict, given: object, matched: dict) -> bool:
    if isinstance(declared, str):
        return _same(declared, given)
    if not isinstance(given, dict) or set(given) != set(declared):
        return False
    for key, value in declared.items():
        wildcard = _wildcard(value)
        if wildcard is None:
            if not _same(value, given[key]):
                return False
        elif not isinstance(given[key], SCALARS):
            return False
        elif wildcard == "MATCH" and not _same(matched.setdefault(key, given[key]),
                                               given[key]):
            return False  # every MATCH of one request stands for the same component
    return True


def _item_matches(spec: dict, item: object, matched: dict, output: bool) -> bool:
    if not isinstance(item, dict) or not isinstance(item.get("property"), str):
        return False
    given = item["property"]
    if output:  # an output declared with allow_duplicate carries "@<hash>" after its property
        given = given.split("@", 1)[0]
    return given == spec["property"] and _id_matches(declared_id(spec["id"]), item.get("id"),
                                                     matched)


def _slot_matches(spec: dict, given: object, matched: dict, output: bool = False) -> bool:
    pattern = declared_id(spec["id"])
    if isinstance(pattern, dict) and any(_wildcard(v) in MULTI_VALUED for v in pattern.values()):
        return isinstance(given, list) and all(
            _item_matches(spec, item, matched, output) for item in given)
    return _item_matches(spec, given, matched, output)


def _slots_match(specs: list[dict], given: object, matched: dict, output: bool = False) -> bool:
    return (isinstance(given, list) and len(given) == len(specs)
            and all(_slot_matches(spec, slot, matched, output)
                    for spec, slot in zip(specs, given, strict=True)))


def declared_outputs(entry: dict) -> list[dict]:
    """The outputs of a callback_map entry as {"id", "property"} dicts."""
    outputs = entry.get("output")
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
    return [output.to_dict() for output in outputs if output is not None]


def _prop_ids(items: list) -> set[str]:
    from dash._utils import stringify_id  # how Dash itself keys ctx.triggered

    flat = [part for item in items for part in (item if isinstance(item, list) else [item])]
    return {f"{stringify_id(part['id'])}.{part['property']}" for part in flat}


def check_shape(key: str, entry: dict, body: dict) -> None:
    """Raise ShapeError unless `body` carries exactly what the callback `key` declares."""
    matched: dict = {}
    if entry.get("no_output"):
        if body.get("outputs", []) != []:
            raise ShapeError("this callback has no outputs")
    elif key.startswith(".."):  # Dash's key of a callback with several outputs
        if not _slots_match(declared_outputs(entry), body.get("outputs"), matched, True):
            raise ShapeError("the outputs are not the callback's declared outputs")
    elif not _slot_matches(declared_outputs(entry)[0], body.get("outputs"), matched, True):
        raise ShapeError("the output is not the callback's declared output")
    if not _slots_match(entry.get("inputs", []), body.get("inputs", []), matched):
        raise ShapeError("the inputs are not the callback's declared inputs, in order")
    if not _slots_match(entry.get("state", []), body.get("state", []), matched):
        raise ShapeError("the state is not the callback's declared state, in order")
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(prop, str) for prop in changed) \
            or not set(changed) <= _prop_ids(body.get("inputs", [])):
        raise ShapeError("changedPropIds must name inputs of this request")
