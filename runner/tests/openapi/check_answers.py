"""Checks an OpenAPI document and real answers against it, independently of
the code that wrote both: the document with openapi-spec-validator, each
answer with jsonschema (Draft 2020-12, which OpenAPI 3.1 schemas are), and
strictly: every object in the document is closed (unevaluatedProperties:
false), so an answer with a field the document does not name fails.

Usage: check_answers.py SPEC.json ANSWERS.json, where ANSWERS is a list of
{"path": "/personas/{id}", "method": "get", "status": 200, "body": ...}
(`body` null for an answer without one), with the request's JSON body as
"request" where it had one (checked against the document too).
Prints one line per problem; exits 1 when there is any.
"""
import json
import sys

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate


def resolve(node, spec):
    """A `$ref` to a component replaced by the component itself."""
    while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/components/schemas/"):
        node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def closed(node, spec, open_top=False):
    """The schema with every object schema closed to unnamed properties.

    A flattened struct is an `allOf`: its parts are inlined and left open
    at their top, and the `allOf` itself is closed, so it takes exactly the
    properties its parts name together.
    """
    if isinstance(node, list):
        return [closed(value, spec) for value in node]
    if not isinstance(node, dict):
        return node
    if "allOf" in node:
        result = {key: closed(value, spec) for key, value in node.items() if key != "allOf"}
        result["allOf"] = [closed(resolve(part, spec), spec, open_top=True) for part in node["allOf"]]
        result["unevaluatedProperties"] = False
        return result
    result = {key: closed(value, spec) for key, value in node.items()}
    if not open_top and "properties" in result and "additionalProperties" not in result:
        result["unevaluatedProperties"] = False
    return result


def pointer(*parts):
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def main():
    spec = json.load(open(sys.argv[1]))
    answers = json.load(open(sys.argv[2]))
    validate(spec)
    strict = closed(spec, spec)
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
        if "request" in answer:
            ref = pointer("paths", path, method, "requestBody", "content", "application/json", "schema")
            if "requestBody" not in operation:
                problems.append(f"{method.upper()} {path}: no request body documented")
            else:
                validator = Draft202012Validator({**strict, "$ref": ref})
                for error in validator.iter_errors(answer["request"]):
                    where = "/".join(str(p) for p in error.absolute_path)
                    problems.append(f"{method.upper()} {path} request at /{where}: {error.message[:300]}")
        if answer["body"] is None:
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
