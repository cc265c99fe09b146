"""Checks CustomResourceDefinitions as the API server would take them, and custom resources
against the openAPIV3Schema of their CustomResourceDefinition.

kubernetes-validate checks a CRD against the CustomResourceDefinition kind's own schema, but not
that its openAPIV3Schema is structural, which the API server requires of apiextensions.k8s.io/v1
CRDs; and for a custom resource it warns that it has no schema and passes. This checks both,
with the jsonschema that kubernetes-validate brings (run by the tools venv's python3; see
osbs-kube's tests/it/schemas.rs):

    python3 cr_validate.py CRDS.yaml [RESOURCE.json...]

Structural, as far as checked here: every field and array item has a `type` (unless it
preserves unknown fields or is int-or-string); no `allOf`/`anyOf`/`oneOf`/`not` (the CRDs here
need none); `properties` and `additionalProperties` not both; no `uniqueItems: true`; only
`name` and `generateName` of `metadata` restricted; the keys of an `x-kubernetes-list-type:
map` list required or defaulted; each `default` valid against its own schema.

The CRD's schema is read as the API server reads it: `nullable: true` also allows null, and an
object whose fields are listed takes no others unless it says
`x-kubernetes-preserve-unknown-fields` (the API server would silently drop such a field, so a
resource that has one loses data). `apiVersion`, `kind` and `metadata` are always allowed at
the top. Prints one INFO line per resource that passes and one ERROR line per problem; exits 1
if any resource fails, 2 if one has no CRD.
"""

import json
import sys

import jsonschema
import yaml


def api_schema(node):
    """The schema `node` as JSON Schema, with the API server's reading of the OpenAPI parts."""
    if isinstance(node, list):
        return [api_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: api_schema(value) for key, value in node.items()}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def structural_problems(node, where, is_field=True):
    """What makes the schema `node` (at `where`) not structural, as messages."""
    problems = []
    preserve = node.get("x-kubernetes-preserve-unknown-fields", False)
    int_or_string = node.get("x-kubernetes-int-or-string", False)
    if is_field and not node.get("type") and not (preserve or int_or_string):
        problems.append(f"{where}: no type")
    for junctor in ("allOf", "anyOf", "oneOf", "not"):
        if junctor in node and not int_or_string:
            problems.append(f"{where}: {junctor} (not checked here; avoid it)")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{where}: both properties and additionalProperties")
    if node.get("uniqueItems"):
        problems.append(f"{where}: uniqueItems: true (use x-kubernetes-list-type: set)")
    for name, child in node.get("properties", {}).items():
        problems += structural_problems(child, f"{where}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        problems += structural_problems(node["additionalProperties"], f"{where}.*")
    if "items" in node:
        items = node["items"]
        problems += structural_problems(items, f"{where}[]")
        if node.get("x-kubernetes-list-type") == "map":
            for key in node.get("x-kubernetes-list-map-keys", []):
                spec = items.get("properties", {}).get(key)
                if spec is None or not (key in items.get("required", []) or "default" in spec):
                    problems.append(f"{where}: list-map key {key} neither required nor defaulted")
    if "default" in node:
        for error in jsonschema.Draft7Validator(api_schema(node)).iter_errors(node["default"]):
            problems.append(f"{where}: default {node['default']!r}: {error.message}")
    return problems


def metadata_problems(schema):
    """Restrictions on metadata beyond name and generateName, which the API server refuses."""
    metadata = schema.get("properties", {}).get("metadata")
    if metadata is None:
        return []
    extra = set(metadata) - {"type", "properties"}
    extra |= set(metadata.get("properties", {})) - {"name", "generateName"}
    return [f"metadata: restricts {sorted(extra)}"] if extra else []


def main(argv):
    with open(argv[1]) as f:
        crds = [doc for doc in yaml.safe_load_all(f) if doc]
    schemas = {}
    rc = 0
    for crd in crds:
        group = crd["spec"]["group"]
        kind = crd["spec"]["names"]["kind"]
        name = crd["metadata"]["name"]
        problems = []
        for version in crd["spec"]["versions"]:
            raw = version["schema"]["openAPIV3Schema"]
            problems += structural_problems(raw, f"{version['name']}:")
            problems += metadata_problems(raw)
            schema = api_schema(raw)
            for field in ("apiVersion", "kind"):
                schema.setdefault("properties", {})[field] = {"type": "string"}
            schema["properties"]["metadata"] = {"type": "object"}
            schemas[(f"{group}/{version['name']}", kind)] = schema
        for problem in problems:
            print(f"ERROR {argv[1]}: CRD {name} is not structural: {problem}")
            rc = 1
        if not problems:
            print(f"INFO {argv[1]} passed for CRD {name}: structural")
    for path in argv[2:]:
        with open(path) as f:
            resource = json.load(f)
        key = (resource.get("apiVersion"), resource.get("kind"))
        name = resource.get("metadata", {}).get("name")
        schema = schemas.get(key)
        if schema is None:
            print(f"ERROR {path}: no CustomResourceDefinition for {key[1]} of {key[0]}")
            rc = max(rc, 2)
            continue
        errors = sorted(
            jsonschema.Draft7Validator(schema).iter_errors(resource),
            key=lambda e: list(e.absolute_path),
        )
        for error in errors:
            where = ".".join(str(p) for p in error.absolute_path)
            print(f"ERROR {path} did not validate for {key[1]}/{name}: {where}: {error.message}")
            rc = max(rc, 1)
        if not errors:
            print(f"INFO {path} passed for {key[1]}/{name} against its CRD")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
