"""Health check and the API's documentation page (rendered here, no CDN assets)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from shelfwise.store.schema import current_revision
from shelfwise.web.api.schemas import HealthPublic
from shelfwise.web.context import WebDatabase, db_dependency
from shelfwise.web.rendering import render

router = APIRouter(tags=["meta"])
Db = Annotated[WebDatabase, Depends(db_dependency)]
METHODS = ("get", "post", "put", "patch", "delete")


@router.get("/health", response_model=HealthPublic)
def health(db: Db) -> HealthPublic:
    """Ready when the database answers; reports its schema revision."""
    return HealthPublic(status="ok", database=current_revision(db.db) or "empty")


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    operations: list[dict[str, Any]] = []
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            body = (
                op.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema", {})
            )
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "tag": (op.get("tags") or ["other"])[0],
                    "parameters": op.get("parameters", []),
                    "body": _ref_name(body),
                    "responses": [
                        (
                            code,
                            _ref_name(
                                r.get("content", {}).get("application/json", {}).get("schema", {})
                            ),
                            r.get("description", ""),
                        )
                        for code, r in op.get("responses", {}).items()
                    ],
                    "secured": any(p in path for p in ("/cart", "/orders", "/pos", "/auth/")),
                }
            )
    return operations


def _ref_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref") or next(
        (s.get("$ref") for s in schema.get("anyOf", []) if "$ref" in s), ""
    )
    return str(ref).rsplit("/", 1)[-1] if ref else ""


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def docs(request: Request) -> HTMLResponse:
    """Human-readable API reference built from the OpenAPI schema, served without scripts."""
    schema = request.app.openapi()
    return render(
        request,
        "api_docs.html",
        {
            "info": schema.get("info", {}),
            "operations": _operations(schema),
            "schemas": sorted(schema.get("components", {}).get("schemas", {}).items()),
        },
    )
