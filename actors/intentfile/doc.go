// Package intentfile reads and writes the orchestrator's intent files
// (SPEC §1.1) byte-for-byte as the Python emitter does.
//
// The bytes are Python's json.dumps(obj, indent=2) with ensure_ascii: two-space
// indent, ",\n" between items, ": " after keys, every non-ASCII character as
// \uXXXX (astral characters as surrogate pairs), floats as Python's repr
// (shortest round-trip digits, exponent form when the exponent is < -4 or
// >= 16), integers of any size written as is. sha256 is the hex SHA-256 of the
// object without sha256, in that form; the file is the same form with sha256
// last. Verify parses keeping key order and number literals, drops sha256,
// re-serializes and compares — the orchestrator's own check.
//
// It is shared by the emitter actor, the intent archive and intentctl; it
// is not an actor. It has no prune: intents past their age go to the
// archive (actors/archive), never simply deleted.
package intentfile
