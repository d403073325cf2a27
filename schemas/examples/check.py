#!/usr/bin/env python3
"""Check the response schemas against their examples.

Developer aid; the Rust test in tests/ is authoritative.

    python3 schemas/examples/check.py        # from the repository root (needs: pip install jsonschema)
    python3 schemas/examples/check.py -v     # also print why each invalid-*.json is rejected

What it checks, offline (no $ref is fetched: every schema is registered by its $id):
- every schemas/<api>/<stem>.json is a valid draft 2020-12 schema with $schema, an $id of the form
  https://golive.dev/schemas/<api>/<stem>.json, a title, a description and a type;
- every schemas/examples/<api>/<stem>/valid-*.json validates against schemas/<api>/<stem>.json (with
  `format` asserted and not) and every invalid-*.json fails it with `format` as an annotation only (the
  2020-12 default), so rejections rest on type/enum/pattern/const; each schema has at least one valid
  and two invalid examples;
- every `required` name is declared under `properties`, and no success body is closed with
  additionalProperties false;
- schemas/index.json names known endpoint ids, status codes as strings, and existing schema files.
Exit status 0 when all is well, 1 otherwise.
"""
import json
import sys
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parent.parent
EXAMPLES = SCHEMAS / "examples"
APIS = ("removit", "removebgvideo")
BASE = "https://golive.dev/schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
ENDPOINTS = {
    "removit": {"upload", "status"},
    "removebgvideo": {"health", "pricing", "uploads", "jobs.create", "jobs.get", "jobs.list",
                      "jobs.start", "usage.summary", "usage.events", "admin"},
}

problems = []


def problem(msg):
    problems.append(msg)
    print(f"FAIL {msg}")


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def lint(rel, node, path="#"):
    """Typos a validator cannot see: a required name with no declared property, a closed object."""
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            for name in node.get("required", []):
                if name not in node["properties"]:
                    problem(f"{rel} {path}: required {name!r} is not declared in properties")
        if path == "#" and node.get("additionalProperties") is False:
            problem(f"{rel}: additionalProperties false at the top level (other implementations may add fields)")
        for key, value in node.items():
            lint(rel, value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            lint(rel, value, f"{path}/{i}")


def main():
    verbose = "-v" in sys.argv[1:]
    schemas = {}  # (api, stem) -> schema
    for api in APIS:
        for path in sorted((SCHEMAS / api).glob("*.json")):
            schema = load(path)
            stem = path.stem
            rel = f"{api}/{path.name}"
            try:
                Draft202012Validator.check_schema(schema)
            except Exception as e:  # noqa: BLE001 - report and go on
                problem(f"{rel}: not a valid 2020-12 schema: {e}")
            if schema.get("$schema") != DRAFT:
                problem(f"{rel}: $schema must be {DRAFT}")
            if schema.get("$id") != f"{BASE}/{rel}":
                problem(f"{rel}: $id must be {BASE}/{rel}, is {schema.get('$id')}")
            # An open body (the contract does not describe it) constrains nothing.
            is_open = not (set(schema) - {"$schema", "$id", "title", "description", "x-basis", "$comment"})
            for key in ("title", "description") + (() if is_open else ("type",)):
                if key not in schema:
                    problem(f"{rel}: no {key}")
            lint(rel, schema)
            schemas[(api, stem)] = schema

    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values() if "$id" in s
    )

    counts = {"valid": 0, "invalid": 0}
    for (api, stem), schema in schemas.items():
        # Valid examples must pass with formats asserted too (so `format` never contradicts `pattern`);
        # invalid ones must fail with formats as annotations only, as most validators run by default
        # (so the rejection comes from type/pattern/enum, not from an optional format check).
        strict = Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())
        plain = Draft202012Validator(schema, registry=registry)
        d = EXAMPLES / api / stem
        files = sorted(d.glob("*.json")) if d.is_dir() else []
        valid = [f for f in files if f.name.startswith("valid-")]
        # warn-*.json leave out a `conv` member: a warning in golive, a failure here.
        invalid = [f for f in files if f.name.startswith(("invalid-", "warn-"))]
        is_open = not (set(schema) - {"$schema", "$id", "title", "description", "x-basis", "$comment"})
        if len(valid) < 1 or (len(invalid) < 2 and not is_open):
            problem(f"examples/{api}/{stem}: needs ≥1 valid-*.json and ≥2 invalid-*.json "
                    f"(has {len(valid)} and {len(invalid)})")
        for f in files:
            if f not in valid and f not in invalid:
                problem(f"examples/{api}/{stem}/{f.name}: name must start with valid-, warn- or invalid-")
        for f in valid:
            counts["valid"] += 1
            instance = load(f)
            err = best_match(strict.iter_errors(instance)) or best_match(plain.iter_errors(instance))
            if err is not None:
                problem(f"examples/{api}/{stem}/{f.name}: should be valid, but: "
                        f"{err.message} (at /{'/'.join(map(str, err.absolute_path))})")
        for f in invalid:
            counts["invalid"] += 1
            err = best_match(plain.iter_errors(load(f)))
            if err is None:
                problem(f"examples/{api}/{stem}/{f.name}: should be rejected, but validates")
            elif verbose:
                print(f"ok   {api}/{stem}/{f.name}: {err.message} "
                      f"(at /{'/'.join(map(str, err.absolute_path))})")
    for d in sorted(p for api in APIS for p in (EXAMPLES / api).glob("*") if p.is_dir()):
        if (d.parent.name, d.name) not in schemas:
            problem(f"examples/{d.parent.name}/{d.name}: no schema {d.parent.name}/{d.name}.json")

    index_path = SCHEMAS / "index.json"
    if index_path.exists():
        index = load(index_path)
        if set(index) != set(APIS):
            problem(f"index.json: top-level keys must be {sorted(APIS)}, are {sorted(index)}")
        used = set()
        for api, endpoints in index.items():
            if api in ENDPOINTS and set(endpoints) != ENDPOINTS[api]:
                problem(f"index.json: {api} endpoints must be {sorted(ENDPOINTS[api])}, are {sorted(endpoints)}")
            for endpoint, statuses in endpoints.items():
                for status, file in statuses.items():
                    if not (status.isdigit() and len(status) == 3 and 100 <= int(status) <= 599):
                        problem(f"index.json: {api}.{endpoint}: {status!r} is not an HTTP status")
                    stem = file[:-5] if file.endswith(".json") else file
                    if (api, stem) not in schemas:
                        problem(f"index.json: {api}.{endpoint}.{status}: no schema {api}/{file}")
                    used.add((api, stem))
                    if status.startswith("2") == stem.startswith("error"):
                        problem(f"index.json: {api}.{endpoint}.{status} -> {file}: success/error mismatch")
        for key in sorted(set(schemas) - used):
            print(f"note {key[0]}/{key[1]}.json is not in index.json")
    else:
        problem("index.json is missing")

    print(f"{len(schemas)} schemas, {counts['valid']} valid and {counts['invalid']} invalid examples, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
