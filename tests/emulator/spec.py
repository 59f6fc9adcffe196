"""RingCentral's OpenAPI spec as JSON Schema validators, loaded at run time and never copied.

The spec's licence forbids redistribution, so it is looked up outside the repository:
`CALLSIFT_RC_SPEC`, then `../shared/ringcentral/rc-platform.yml` next to the repository, then
`/work/shared/ringcentral/rc-platform.yml`. OpenAPI 3.0 schemas are close to JSON Schema draft 4;
the one quirk that matters here is `nullable: true`, turned into a `null` type.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator  # type: ignore[import-untyped]
from referencing import Registry
from referencing.jsonschema import DRAFT4

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_URI = "urn:ringcentral:rc-platform"


def spec_path() -> Path | None:
    candidates = []
    if env := os.environ.get("CALLSIFT_RC_SPEC"):
        candidates.append(Path(env))
    candidates += [
        REPO_ROOT.parent / "shared" / "ringcentral" / "rc-platform.yml",
        Path("/work/shared/ringcentral/rc-platform.yml"),
    ]
    return next((p for p in candidates if p.is_file()), None)


def _convert(node: Any) -> Any:
    """OpenAPI 3.0 -> JSON Schema: `nullable: true` adds the null type."""
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _convert(value) for key, value in node.items()}
    if node.get("nullable") is True and isinstance(node.get("type"), str):
        converted["type"] = [node["type"], "null"]
    return converted


class Spec:
    """Validators for the spec's component schemas and responses."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = _convert(document)
        resource = DRAFT4.create_resource(self.document)
        self._registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)

    def schema_errors(self, name: str, instance: Any) -> list[str]:
        return self._errors(f"{SPEC_URI}#/components/schemas/{name}", instance)

    def response_errors(self, name: str, instance: Any) -> list[str]:
        pointer = f"{SPEC_URI}#/components/responses/{name}/content/application~1json/schema"
        return self._errors(pointer, instance)

    def enum(self, name: str) -> list[str]:
        values: list[str] = self.document["components"]["schemas"][name]["enum"]
        return values

    def _errors(self, ref: str, instance: Any) -> list[str]:
        validator = Draft4Validator({"$ref": ref}, registry=self._registry)
        return [
            f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
            for error in validator.iter_errors(instance)
        ]


@cache
def load_spec(path: Path) -> Spec:
    with path.open("rb") as stream:
        document = yaml.load(stream, Loader=yaml.CSafeLoader)
    return Spec(document)
