"""Merging OpenAPI documents: each upstream's part cut down to the paths the gateway routes to
it, components shared when equal and renamed per upstream when they clash."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from gateway.routes import ProxyRoute

JSONObject = dict[str, Any]
# (section, name): ("schemas", "OrderOut"), ("securitySchemes", "HTTPBearer").
ComponentKey = tuple[str, str]

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_COMPONENT_REF = re.compile(r"#/components/([^/]+)/([^/]+)(.*)")


def owner_of(path: str, routes: Sequence[ProxyRoute]) -> ProxyRoute | None:
    """The route table's entry for `path`: the first that matches, as in the gateway."""
    for route in routes:
        if path == route.prefix or path.startswith(route.prefix + "/"):
            return route
    return None


def owned_paths(document: JSONObject, upstream: str, routes: Sequence[ProxyRoute]) -> JSONObject:
    """The document with only the paths that the gateway routes to `upstream`, and only the
    components those use (security schemes are all kept)."""

    def owner(path: str) -> str | None:
        route = owner_of(path, routes)
        return route.upstream if route else None

    paths = {path: item for path, item in document["paths"].items() if owner(path) == upstream}
    components: JSONObject = document.get("components", {})
    used: set[ComponentKey] = set()
    pending = list(_references(paths))
    while pending:
        section, name = key = pending.pop()
        if key not in used and name in components.get(section, {}):
            used.add(key)
            pending.extend(_references(components[section][name]))
    kept = {
        section: {
            name: value
            for name, value in entries.items()
            if section == "securitySchemes" or (section, name) in used
        }
        for section, entries in components.items()
    }
    return {**document, "paths": paths, "components": {k: v for k, v in kept.items() if v}}


def _references(node: Any) -> Iterator[ComponentKey]:
    if isinstance(node, list):
        for item in node:
            yield from _references(item)
    elif isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str) and (match := _COMPONENT_REF.fullmatch(reference)):
            yield match[1], match[2]
        if "propertyName" in node and isinstance(node.get("mapping"), dict):  # a discriminator
            for target in node["mapping"].values():
                if isinstance(target, str) and (match := _COMPONENT_REF.fullmatch(target)):
                    yield match[1], match[2]
        for value in node.values():
            yield from _references(value)


def _conflicting_components(parts: Mapping[str, JSONObject]) -> set[ComponentKey]:
    """Components that several parts define differently, which each part must keep its own
    copy of (under a prefixed name)."""
    definitions: dict[ComponentKey, list[Any]] = defaultdict(list)
    for document in parts.values():
        for section, entries in document.get("components", {}).items():
            for name, value in entries.items():
                definitions[section, name].append(value)
    shared = {key: values for key, values in definitions.items() if len(values) > 1}
    conflicts = {key for key, values in shared.items() if any(v != values[0] for v in values)}
    # Identical text still means different things when it refers to a component that differs.
    while tainted := {
        key
        for key, values in shared.items()
        if key not in conflicts and not conflicts.isdisjoint(_references(values))
    }:
        conflicts |= tainted
    return conflicts


def _rewritten(node: Any, renames: Mapping[ComponentKey, str]) -> Any:
    """A deep copy of `node` whose references (`$ref`s, discriminator mappings, security
    requirements) use the renamed components' new names."""

    def reference(value: Any) -> Any:
        match = _COMPONENT_REF.fullmatch(value) if isinstance(value, str) else None
        if match is None or (match[1], match[2]) not in renames:
            return value
        return f"#/components/{match[1]}/{renames[match[1], match[2]]}{match[3]}"

    if isinstance(node, list):
        return [_rewritten(item, renames) for item in node]
    if not isinstance(node, dict):
        return node
    copy = {key: _rewritten(value, renames) for key, value in node.items()}
    if "$ref" in copy:
        copy["$ref"] = reference(copy["$ref"])
    if "propertyName" in copy and isinstance(copy.get("mapping"), dict):
        copy["mapping"] = {key: reference(value) for key, value in copy["mapping"].items()}
    if isinstance(copy.get("security"), list):
        copy["security"] = [
            {renames.get(("securitySchemes", name), name): scopes for name, scopes in item.items()}
            for item in copy["security"]
            if isinstance(item, dict)
        ]
    return copy


# One pass per part, whose renames and the operation ids seen so far serve every step.
def merge_documents(parts: Mapping[str, JSONObject]) -> JSONObject:  # noqa: C901, PLR0912
    """The paths, components and tags of `parts` (name -> document, already cut to the paths
    the gateway routes to it) in one document; an earlier part wins a path both describe."""
    conflicts = _conflicting_components(parts)
    paths: JSONObject = {}
    components: dict[str, JSONObject] = defaultdict(dict)
    tags: dict[str, JSONObject] = {}
    operation_ids: set[str] = set()
    for part, original in parts.items():
        defined = original.get("components", {})
        renames = {
            (section, name): f"{part}.{name}"
            for section, name in conflicts
            if name in defined.get(section, {})
        }
        document = _rewritten(original, renames)
        for section, entries in document.get("components", {}).items():
            for name, value in entries.items():
                components[section][renames.get((section, name), name)] = value
        for tag in document.get("tags", []):
            if isinstance(tag, dict) and isinstance(tag.get("name"), str):
                tags.setdefault(tag["name"], tag)
        for path, item in document["paths"].items():
            if path in paths:
                continue
            paths[path] = item
            for method, operation in item.items():
                if method not in HTTP_METHODS or not isinstance(operation, dict):
                    continue
                if "security" in document:
                    operation.setdefault("security", document["security"])
                # Swagger UI groups operations by tag: untagged ones go under their service.
                operation.setdefault("tags", [part])
                if (operation_id := operation.get("operationId")) is not None:
                    if operation_id in operation_ids:
                        operation["operationId"] = operation_id = f"{part}_{operation_id}"
                    operation_ids.add(operation_id)
    merged: JSONObject = {"paths": paths}
    if components:
        merged["components"] = {
            section: dict(sorted(entries.items())) for section, entries in components.items()
        }
    if tags:
        merged["tags"] = list(tags.values())
    return merged
