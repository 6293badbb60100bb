"""Read ``infra/template.yaml`` and resolve the CloudFormation intrinsics the local stack needs.

No I/O besides reading the file, no AWS: :mod:`localcloud.resources` does the creating. The template
is written with long-form intrinsics only, so plain ``yaml.safe_load`` reads it.

Supported intrinsics: ``Ref`` (resources and the pseudo parameters ``AWS::Region``, ``AWS::AccountId``,
``AWS::Partition``, ``AWS::URLSuffix``, ``AWS::StackName``), ``Fn::GetAtt`` (list or ``"X.Attr"``
form), ``Fn::Sub`` (string or ``[string, {vars}]``, with ``${!Literal}`` escapes), ``Fn::Join`` and
``Fn::Select``. A reference to a resource whose value is not known (yet) raises
:class:`UnresolvedReference`, naming the resource.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DEFAULT_TEMPLATE_PATH",
    "PSEUDO_PARAMETERS",
    "Resolver",
    "TemplateError",
    "UnresolvedReference",
    "dependency_order",
    "load_template",
    "references",
    "resources_of_type",
]

DEFAULT_TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "infra" / "template.yaml"

PSEUDO_PARAMETERS = frozenset(
    {"AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix", "AWS::StackName", "AWS::NoValue"}
)

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class TemplateError(ValueError):
    """The template is not something localcloud can read or resolve."""


class UnresolvedReference(TemplateError):
    """A ``Ref`` / ``Fn::GetAtt`` / ``${...}`` names a resource whose value is not known."""

    def __init__(self, logical_id: str, attribute: str | None = None) -> None:
        self.logical_id = logical_id
        self.attribute = attribute
        what = f"{logical_id}.{attribute}" if attribute else logical_id
        super().__init__(f"cannot resolve {what}: not created locally (or not yet)")


def load_template(path: Path | None = None) -> dict[str, Any]:
    """The parsed template (default: the repository's ``infra/template.yaml``)."""
    path = DEFAULT_TEMPLATE_PATH if path is None else path
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: not plain YAML (short-form tags like !Ref are not allowed): {exc}") \
            from exc
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path}: no Resources mapping")
    for logical_id, resource in data["Resources"].items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise TemplateError(f"{path}: resource {logical_id} has no Type")
    return data


def resources_of_type(template: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Logical id → resource, in template order, for every resource of ``resource_type``."""
    resources: Mapping[str, Any] = template.get("Resources", {})
    return {lid: res for lid, res in resources.items() if res.get("Type") == resource_type}


def _sub_parts(value: Any) -> tuple[str, Mapping[str, Any]]:
    if isinstance(value, str):
        return value, {}
    if (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], dict)):
        return value[0], value[1]
    raise TemplateError(f"Fn::Sub needs a string or [string, mapping], got {value!r}")


def _getatt_parts(value: Any) -> tuple[str, str]:
    if isinstance(value, str) and "." in value:
        logical_id, attribute = value.split(".", 1)
        return logical_id, attribute
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return value[0], value[1]
    raise TemplateError(f"Fn::GetAtt needs [LogicalId, Attribute], got {value!r}")


def _intrinsic(value: Any) -> tuple[str, Any] | None:
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref" or key.startswith("Fn::"):
            return key, arg
    return None


def references(value: Any) -> set[str]:
    """Logical ids of the resources ``value`` refers to (pseudo parameters left out)."""
    found: set[str] = set()
    intrinsic = _intrinsic(value)
    if intrinsic is not None:
        key, arg = intrinsic
        if key == "Ref" and isinstance(arg, str):
            if arg not in PSEUDO_PARAMETERS:
                found.add(arg)
            return found
        if key == "Fn::GetAtt":
            found.add(_getatt_parts(arg)[0])
            return found
        if key == "Fn::Sub":
            text, variables = _sub_parts(arg)
            for name in _SUB_VARIABLE.findall(text):
                if name.startswith("!") or name in variables or name in PSEUDO_PARAMETERS:
                    continue
                found.add(name.split(".", 1)[0])
            for var in variables.values():
                found |= references(var)
            return found
    if isinstance(value, dict):
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def dependency_order(template: Mapping[str, Any], logical_ids: Iterable[str]) -> list[str]:
    """``logical_ids`` ordered so each comes after the ones it references (template order otherwise).

    References to resources outside ``logical_ids`` are ignored here (resolving them fails later).
    """
    resources: Mapping[str, Any] = template.get("Resources", {})
    wanted = [lid for lid in resources if lid in set(logical_ids)]
    missing = set(logical_ids) - set(wanted)
    if missing:
        raise TemplateError(f"not in the template: {sorted(missing)}")
    deps = {lid: (references(resources[lid]) & set(wanted)) - {lid} for lid in wanted}
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(lid: str) -> None:
        if lid in ordered:
            return
        if lid in visiting:
            raise TemplateError(f"circular reference through {lid}")
        visiting.add(lid)
        for dep in sorted(deps[lid], key=wanted.index):
            visit(dep)
        visiting.discard(lid)
        ordered.append(lid)

    for lid in wanted:
        visit(lid)
    return ordered


@dataclass
class Resolver:
    """Resolves intrinsics against what is known: pseudo parameters plus registered resources."""

    region: str
    account_id: str
    partition: str = "aws"
    stack_name: str = "linli-local"
    refs: dict[str, Any] = field(default_factory=dict)
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)

    def register(self, logical_id: str, ref: Any, **attributes: Any) -> None:
        """Record what ``Ref: logical_id`` and ``Fn::GetAtt: [logical_id, Attr]`` resolve to."""
        self.refs[logical_id] = ref
        for name, value in attributes.items():
            self.attributes[(logical_id, name)] = value

    @property
    def url_suffix(self) -> str:
        return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"

    def pseudo(self, name: str) -> str:
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::StackName": self.stack_name,
        }
        if name not in values:
            raise TemplateError(f"unsupported pseudo parameter {name}")
        return values[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name not in self.refs:
            raise UnresolvedReference(name)
        return self.refs[name]

    def get_att(self, logical_id: str, attribute: str) -> Any:
        key = (logical_id, attribute)
        if key not in self.attributes:
            raise UnresolvedReference(logical_id, attribute)
        return self.attributes[key]

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic replaced by its value; plain data is returned as is."""
        intrinsic = _intrinsic(value)
        if intrinsic is not None:
            return self._resolve_intrinsic(*intrinsic)
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    def _resolve_intrinsic(self, key: str, arg: Any) -> Any:
        if key == "Ref":
            if not isinstance(arg, str):
                raise TemplateError(f"Ref needs a name, got {arg!r}")
            return self.ref(arg)
        if key == "Fn::GetAtt":
            return self.get_att(*_getatt_parts(arg))
        if key == "Fn::Sub":
            return self._sub(*_sub_parts(arg))
        if key == "Fn::Join":
            if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
                raise TemplateError(f"Fn::Join needs [delimiter, [values]], got {arg!r}")
            items = self.resolve(arg[1])
            if not isinstance(items, list):
                raise TemplateError(f"Fn::Join needs a list of values, got {items!r}")
            return arg[0].join(str(item) for item in items)
        if key == "Fn::Select":
            if not (isinstance(arg, list) and len(arg) == 2):
                raise TemplateError(f"Fn::Select needs [index, [values]], got {arg!r}")
            items = self.resolve(arg[1])
            return items[int(self.resolve(arg[0]))]
        raise TemplateError(f"unsupported intrinsic {key}")

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.resolve(variables[name]))
            if name.startswith("AWS::"):
                return self.pseudo(name)
            if "." in name:
                return str(self.get_att(*_getatt_parts(name)))
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text)
