"""``GET /openapi.json``: generated from the route registry, so it cannot drift from the routes."""

from __future__ import annotations

import re
from typing import Any

from chalicelib.api.http import ROUTES, STATUS_BY_KIND

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"],
                             "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}},
}


def _error_responses(authenticated: bool, has_body: bool) -> dict[str, Any]:
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    statuses = {404: "not found"}
    if has_body:
        statuses[400] = "bad input"
        statuses[409] = "conflict"
    if authenticated:
        statuses[401] = "missing, invalid or expired token"
        statuses[403] = "this token may not call this route"
    return {str(code): {"description": text, **ref} for code, text in sorted(statuses.items())}


def document(title: str = "Linli hub API", version: str = "1") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    for doc in ROUTES:
        operation: dict[str, Any] = {
            "summary": doc.summary,
            "operationId": re.sub(r"[^a-zA-Z0-9]+", "_", f"{doc.method}_{doc.path}").strip("_").lower(),
            "responses": {str(doc.status): {"description": "success",
                                            "content": {"application/json": {"schema": {"type": "object"}}}},
                          **_error_responses(doc.auth is not None, doc.body is not None)},
        }
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in re.findall(r"{(\w+)}", doc.path)]
        params += [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                   for name in doc.query]
        if params:
            operation["parameters"] = params
        if doc.auth is not None:
            operation["security"] = [{"bearer": []}]
            operation["description"] = "Roles: " + ", ".join(role.value for role in doc.auth)
        if doc.body is not None:
            schema = doc.body.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[doc.body.__name__] = schema
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{doc.body.__name__}"}}}}
        paths.setdefault(doc.path, {})[doc.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Errors: " + ", ".join(f"{s} {k}" for k, s in STATUS_BY_KIND.items())},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
