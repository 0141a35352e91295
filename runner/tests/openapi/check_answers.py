"""Checks an OpenAPI document and real answers against it, independently of
the code that wrote both: the document with openapi-spec-validator, each
answer with jsonschema (Draft 2020-12, which OpenAPI 3.1 schemas are), and
strictly: every object in the document is closed (unevaluatedProperties:
false), so an answer with a field the document does not name fails.

Usage: check_answers.py SPEC.json ANSWERS.json, where ANSWERS is a list of
{"path": "/personas/{id}", "method": "get", "status": 200, "body": ...}.
Prints one line per problem; exits 1 when there is any.
"""
import json
import sys

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate


def closed(node):
    """The schema with every object schema closed to unnamed properties."""
    if isinstance(node, dict):
        node = {key: closed(value) for key, value in node.items()}
        if node.get("type") == "object" or "properties" in node:
            if "additionalProperties" not in node and "properties" in node:
                node["unevaluatedProperties"] = False
        return node
    if isinstance(node, list):
        return [closed(value) for value in node]
    return node


def pointer(*parts):
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def main():
    spec = json.load(open(sys.argv[1]))
    answers = json.load(open(sys.argv[2]))
    validate(spec)
    strict = closed(spec)
    problems = []
    for answer in answers:
        path, method, status = answer["path"], answer["method"], str(answer["status"])
        operation = spec["paths"].get(path, {}).get(method)
        if operation is None:
            problems.append(f"{method.upper()} {path}: not in the document")
            continue
        if status not in operation["responses"]:
            problems.append(f"{method.upper()} {path}: status {status} not documented")
            continue
        media = operation["responses"][status].get("content", {}).get("application/json")
        if media is None:
            problems.append(f"{method.upper()} {path} {status}: no JSON schema documented")
            continue
        ref = pointer("paths", path, method, "responses", status, "content", "application/json", "schema")
        validator = Draft202012Validator({**strict, "$ref": ref})
        for error in validator.iter_errors(answer["body"]):
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{method.upper()} {path} {status} at /{where}: {error.message[:300]}")
    for problem in problems:
        print(problem)
    sys.exit(1 if problems else 0)


main()
