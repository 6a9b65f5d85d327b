"""Child stacks that wire themselves: using a value from elsewhere declares the parameter.

A component adds resources to a `ChildStack` and hands back `Exported` handles. When another
stack `use()`s a handle, that stack gains a parameter of the same name and records where the
root must take its value from (a root parameter, or another child's output). The assembler
turns those records into the root template, then checks every contract independently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from troposphere import AWSObject, Output, Parameter, Ref, Template

from generator.errors import AssemblyError


@dataclass(frozen=True)
class RootParameter:
    """A value the person launching the stack provides, shown in the console form."""

    name: str
    description: str
    label: str
    group: str
    type: str = "String"
    default: str | None = None
    allowed_pattern: str | None = None
    allowed_values: tuple[str, ...] = ()
    min_length: int | None = None
    max_length: int | None = None
    constraint_description: str | None = None

    def to_parameter(self) -> Parameter:
        props: dict[str, Any] = {"Type": self.type, "Description": self.description}
        if self.default is not None:
            props["Default"] = self.default
        if self.allowed_pattern is not None:
            props["AllowedPattern"] = self.allowed_pattern
        if self.allowed_values:
            props["AllowedValues"] = list(self.allowed_values)
        if self.min_length is not None:
            props["MinLength"] = self.min_length
        if self.max_length is not None:
            props["MaxLength"] = self.max_length
        if self.constraint_description is not None:
            props["ConstraintDescription"] = self.constraint_description
        return Parameter(self.name, **props)


@dataclass(frozen=True)
class Exported:
    """An output of a child stack; `local` is its expression inside that stack."""

    stack: str
    name: str
    local: Any
    description: str


StackValue = RootParameter | Exported


def pascal(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part)


@dataclass
class ChildStack:
    """One nested stack: its template, and where each of its parameters comes from."""

    name: str
    description: str
    extension: str = "yaml"
    template: Template = field(init=False)
    inputs: dict[str, StackValue] = field(init=False, default_factory=dict)
    # Stacks that must exist first although no value flows from them (e.g. access entries).
    after: list[ChildStack] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.template = Template(Description=self.description)
        self.template.set_version()

    @property
    def logical_id(self) -> str:
        return f"{pascal(self.name)}Stack"

    @property
    def file_name(self) -> str:
        return f"{self.name}.{self.extension}"

    def add(self, resource: AWSObject) -> Any:
        if resource.title in self.template.resources:
            raise AssemblyError(f"stack {self.name}: resource {resource.title} is defined twice")
        # Not Template.add_resource: it stops at CloudFormation's 500 resources with a bare
        # ValueError, while a stack this big is split by the assembler (assembly/split.py).
        self.template.resources[resource.title] = resource
        return resource

    def use(self, value: StackValue) -> Any:
        """The expression for `value` inside this stack, declaring a parameter when needed."""
        if isinstance(value, Exported) and value.stack == self.name:
            return value.local
        known = self.inputs.get(value.name)
        if known is not None and known != value:
            raise AssemblyError(
                f"stack {self.name}: parameter {value.name} would be fed by two different values"
            )
        if known is None:
            self.inputs[value.name] = value
            param_type = value.type if isinstance(value, RootParameter) else "String"
            # Directly, like `add`: past 200 parameters the assembler splits the stack.
            self.template.parameters[value.name] = Parameter(
                value.name, Type=param_type, Description=value.description
            )
        return Ref(value.name)

    def export(self, name: str, expression: Any, description: str) -> Exported:
        if name in self.template.outputs:
            raise AssemblyError(f"stack {self.name}: output {name} is exported twice")
        # Directly, like `add`: past 200 outputs the assembler splits the stack.
        self.template.outputs[name] = Output(name, Value=expression, Description=description)
        return Exported(self.name, name, expression, description)
