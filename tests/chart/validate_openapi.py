#!/usr/bin/python3
"""Validate Kubernetes objects (multi-document YAML) against the real Kubernetes OpenAPI v2
document, strictly, with Debian's python3-jsonschema.

  validate_openapi.py --openapi openapi-v2-k8s-1.36.json [--crd FILE]... [--extra-schema FILE]... FILE...

For each object:
  * apiVersion/kind must map to a definition tagged x-kubernetes-group-version-kind
    (unknown kinds fail), or to a CustomResourceDefinition given with --crd or found among the
    inputs (custom resources are checked against the CRD's openAPIV3Schema; their metadata
    against ObjectMeta), or to an --extra-schema file (for third-party kinds such as the
    Prometheus Operator's ServiceMonitor that the Kubernetes document does not contain);
  * $refs are resolved within the document; required fields and JSON types are checked;
  * unknown fields fail: every schema that lists properties gets additionalProperties: false
    unless it says otherwise (or, in a CRD schema, x-kubernetes-preserve-unknown-fields);
  * int-or-string and Quantity accept integers and strings, as the API server does.
Prints one line per problem (file, document index, kind/name, JSON path, message) and exits 1
if there is any; prints a per-kind summary and exits 0 otherwise.
"""
import argparse
import json
import sys

import jsonschema
import yaml


def strictify(node, preserve_key=None):
    """Deep-copies an OpenAPI schema, forbidding properties that are not listed."""
    if isinstance(node, list):
        return [strictify(x, preserve_key) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: strictify(v, preserve_key) for k, v in node.items()
           if k not in ("properties", "items", "additionalProperties")}
    # Property names are data, not schema keywords: never treat them as keywords.
    if "properties" in node:
        out["properties"] = {k: strictify(v, preserve_key) for k, v in node["properties"].items()}
    if "items" in node:
        out["items"] = strictify(node["items"], preserve_key)
    if "additionalProperties" in node:
        ap = node["additionalProperties"]
        out["additionalProperties"] = strictify(ap, preserve_key) if isinstance(ap, dict) else ap
    elif "properties" in node and not (preserve_key and node.get(preserve_key)):
        out["additionalProperties"] = False
    fmt = node.get("format")
    if fmt == "int-or-string" or node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["type"] = ["integer", "string"]
    # JSON Schema draft 4 has no "nullable"; the API server treats explicit nulls as unset and
    # the inputs are stripped of nulls before validation.
    out.pop("nullable", None)
    return out


def strip_nulls(value):
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def split_api_version(api_version):
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


class Validator:
    def __init__(self, openapi):
        defs = {name: strictify(d) for name, d in openapi["definitions"].items()}
        qty = "io.k8s.apimachinery.pkg.api.resource.Quantity"
        if qty in defs:
            defs[qty] = {"type": ["string", "number"]}
        self.root = {"definitions": defs}
        self.gvk = {}
        for name, d in openapi["definitions"].items():
            for g in d.get("x-kubernetes-group-version-kind", []):
                self.gvk[(g.get("group", ""), g["version"], g["kind"])] = name
        self.custom = {}   # (group, version, kind) -> (schema, origin)
        self.extra = {}

    def add_crd(self, crd, origin):
        spec = crd.get("spec", {})
        group, kind = spec.get("group"), spec.get("names", {}).get("kind")
        for v in spec.get("versions", []):
            schema = (v.get("schema") or {}).get("openAPIV3Schema")
            if group and kind and schema:
                strict = strictify(schema, "x-kubernetes-preserve-unknown-fields")
                # metadata is checked as ObjectMeta like for every other kind.
                strict.setdefault("properties", {})["metadata"] = {
                    "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
                self.custom[(group, v["name"], kind)] = (strict, origin)

    def add_extra(self, schema, origin):
        for g in schema.get("x-kubernetes-group-version-kind", []):
            self.extra[(g.get("group", ""), g["version"], g["kind"])] = (strictify(schema), origin)

    def schema_for(self, obj):
        group, version = split_api_version(str(obj.get("apiVersion", "")))
        key = (group, version, str(obj.get("kind", "")))
        if key in self.gvk:
            return {"$ref": "#/definitions/" + self.gvk[key]}, "openapi " + self.gvk[key]
        if key in self.custom:
            s, origin = self.custom[key]
            return s, "CRD " + origin
        if key in self.extra:
            s, origin = self.extra[key]
            return s, "extra schema " + origin
        return None, None

    def validate(self, obj):
        """Returns (source, [(path, message)])."""
        if not isinstance(obj, dict):
            return None, [("", "document is not a mapping")]
        if "apiVersion" not in obj or "kind" not in obj:
            return None, [("", "missing apiVersion or kind")]
        schema, source = self.schema_for(obj)
        if schema is None:
            return None, [("", "unknown apiVersion/kind %s/%s (not in the OpenAPI document, no CRD or extra schema)"
                           % (obj["apiVersion"], obj["kind"]))]
        full = dict(schema)
        full["definitions"] = self.root["definitions"]
        validator = jsonschema.Draft4Validator(full)
        errors = []
        for e in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
            path = "".join("[%d]" % p if isinstance(p, int) else "." + str(p) for p in e.absolute_path)
            errors.append((path or ".", e.message))
        return source, errors


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--openapi", required=True)
    ap.add_argument("--crd", action="append", default=[], help="CRD YAML file(s) for custom resources")
    ap.add_argument("--extra-schema", action="append", default=[],
                    help="JSON schema with x-kubernetes-group-version-kind for a third-party kind")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args(argv)

    with open(args.openapi, encoding="utf-8") as f:
        v = Validator(json.load(f))
    for path in args.extra_schema:
        with open(path, encoding="utf-8") as f:
            v.add_extra(json.load(f), path)
    inputs = []
    for path in args.files:
        try:
            docs = load_docs(path)
        except yaml.YAMLError as e:
            print("%s: YAML error: %s" % (path, e))
            return 1
        inputs += [(path, i, strip_nulls(d)) for i, d in enumerate(docs)]
    for path in args.crd:
        for d in load_docs(path):
            v.add_crd(d, path)
    for path, i, d in inputs:
        if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition":
            v.add_crd(d, "%s#%d" % (path, i))

    problems, summary = 0, {}
    for path, i, d in inputs:
        source, errors = v.validate(d)
        name = d.get("metadata", {}).get("name", "?") if isinstance(d, dict) else "?"
        what = "%s/%s" % (d.get("kind", "?"), name) if isinstance(d, dict) else "?"
        for p, msg in errors:
            print("%s#%d %s %s: %s" % (path, i, what, p, msg))
            problems += 1
        if not errors:
            summary[source] = summary.get(source, 0) + 1
    if not args.quiet:
        for source, n in sorted(summary.items()):
            print("ok %3d x %s" % (n, source))
    if problems:
        print("FAIL: %d problem(s)" % problems)
        return 1
    if not inputs:
        print("FAIL: no objects in %s" % " ".join(args.files))
        return 1
    print("PASS: %d object(s) valid" % len(inputs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
