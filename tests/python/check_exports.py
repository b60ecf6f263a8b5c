"""Checks exports written by tests/sharing.rs: every *.stix.json with the OASIS
validator (stix2-validator), every *.misp.json loaded by pymisp's MISPEvent.

Prints one JSON object: per file, whether it is valid and its warnings (code and
message) or, for MISP, the number of events and attributes loaded or the error.
"""
import json
import pathlib
import sys

from stix2validator import ValidationOptions, validate_file
from pymisp import MISPEvent


def stix(path):
    results = validate_file(str(path), ValidationOptions(version="2.1", enforce_refs=True))
    warnings = []
    for obj in results.object_results:
        for w in obj.warnings:
            warnings.append({"object": obj.object_id, "message": str(w)})
    errors = []
    for obj in results.object_results:
        for e in obj.errors:
            errors.append({"object": obj.object_id, "message": str(e)})
    if results.fatal:
        errors.append({"object": None, "message": str(results.fatal)})
    return {"valid": bool(results.is_valid), "warnings": warnings, "errors": errors}


def misp(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    events = doc if isinstance(doc, list) else [doc]
    attributes = 0
    values = []
    for e in events:
        m = MISPEvent()
        m.load(e)
        attributes += len(m.attributes)
        values.extend(a.value for a in m.attributes)
        tags = [t.name for t in m.tags]
    return {"events": len(events), "attributes": attributes, "values": values, "tags": tags}


def main(directory):
    out = {}
    for path in sorted(pathlib.Path(directory).iterdir()):
        try:
            if path.name.endswith(".stix.json"):
                out[path.name] = stix(path)
            elif path.name.endswith(".misp.json"):
                out[path.name] = misp(path)
        except Exception as e:  # reported to the test, which fails on it
            out[path.name] = {"exception": f"{type(e).__name__}: {e}"}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
