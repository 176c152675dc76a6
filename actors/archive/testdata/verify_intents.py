#!/usr/bin/python3
"""The orchestrator's check, as the colony's Python code does it: for each
intent file given, parse it, drop sha256, re-serialize with
json.dumps(obj, indent=2) and compare the hash; the file must be exactly that
form, and carry exactly the eight keys of SPEC 1.1 in order. Prints one line
per file ("ok <path>" or "BAD <path>: why") and exits 1 if any is bad."""
import hashlib
import json
import sys

KEYS = ["intent_type", "priority", "reason", "data", "generated_at",
        "emitted_at", "emitted_by", "sha256"]
bad = 0
for path in sys.argv[1:]:
    try:
        raw = open(path, "rb").read()
        obj = json.loads(raw)
        assert list(obj) == KEYS, "keys %r" % list(obj)
        sha = obj.pop("sha256")
        body = json.dumps(obj, indent=2).encode()
        assert hashlib.sha256(body).hexdigest() == sha, "sha256 mismatch"
        obj["sha256"] = sha
        assert json.dumps(obj, indent=2).encode() == raw, "not canonical"
        print("ok", path)
    except Exception as e:  # noqa: BLE001
        bad += 1
        print("BAD %s: %s" % (path, e))
sys.exit(1 if bad else 0)
