"""Compiled fills: the plain fields of a selection written into result dicts by code made once per plan.

Most fields of a storefront listing are plain reads: a title, a price's amount and currency, a stock count.
Completing each through the generic path costs an attribute read, an awaitable check, a completer call
per wrapping of its type, and for an object value a `Link` and a place in the next level. A fill does the
same work as straight-line Python generated for one (object type, selection): for every object of a level
it reads each plain field, checks its value against the field's type, and writes the finished value
(nested plain objects and lists included) into the object's result dict, in one function call per level.

A field is compiled when it is read as a plain attribute (strawberry's default resolver, no extensions:
see `plan._plain_attribute`) and its type is a leaf, or a list of compiled values, or an object type whose
whole selection is compiled. The compiled code has no side effects besides the dict it builds, so anything
it does not expect (a value of another type, a null in a non-null position, an awaitable, a reader that
raises) hands that field of that object, with the value already read, to the generic completion, which
gives the specification's result or error. A source of an unexpected class goes the generic way whole.

A type may mark a field's descriptor as a computed-once reader (`PURE_READER`: a function of the object
giving the field's value, which the descriptor caches in the instance's `__dict__`); compiled code then
does what the descriptor does without calling it: the cached value, or the reader's, cached (see
`schema.lazy`). A value computed once is cached, so a fallback completes the very value compiled code read;
a reader that raises caches nothing and is called again by the generic path that reports its error.
"""

from __future__ import annotations

import inspect
import keyword
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    GraphQLBoolean,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLString,
    is_leaf_type,
    is_object_type,
)
from graphql.pyutils import Undefined

from app.graphql.executor.complete import MAX_INT, MIN_INT, STRAWBERRY_DEFINITION

if TYPE_CHECKING:
    from app.graphql.executor.plan import FieldPlan

__all__ = [
    "PURE_READER",
    "Build",
    "Fallback",
    "Inline",
    "ObjectPlan",
    "compile_builder",
    "compile_object_plan",
    "inline_object",
]

# The attribute of a field descriptor that holds its pure reader (see the module docstring).
PURE_READER = "__pure_reader__"

Fill = Callable[[list[Any], Any, list[Any]], None]
Build = Callable[[Any], dict[str, Any]]
PlansOf = Callable[[GraphQLObjectType, list[FieldNode]], list["FieldPlan"]]

# The checks of the built-in leaves whose values of one exact Python type are their own serialized form.
_EXACT_LEAVES: dict[Any, tuple[str, str]] = {
    GraphQLString: ("str", "True"),
    GraphQLID: ("str", "True"),
    GraphQLBoolean: ("bool", "True"),
    GraphQLInt: ("int", "MIN_INT <= {v} <= MAX_INT"),
    GraphQLFloat: ("float", "ISFINITE({v})"),
}


_MISSING = object()

# The attribute of a pure reader that declares its object value inline (see `inline_object`).
INLINE = "__inline_object__"


@dataclass(frozen=True, slots=True)
class Inline:
    """How the fields of an object a reader makes are read from the reader's own source (see `inline_object`)."""

    fields: dict[str, Callable[[Any], Any]]  # the object's field (Python name) -> reader of the parent source
    present: Callable[[Any], bool] | None  # whether the reader gives an object at all (None: always)


def inline_object(
    reader: Callable[[Any], Any], present: Callable[[Any], bool] | None = None, **fields: Callable[[Any], Any]
) -> Callable[[Any], Any]:
    """Declare that `reader` (a pure reader of an object-valued field) makes an object whose fields are
    `fields[name](source)` of the reader's own source, or None where `present(source)` is false.

    Compiled code then writes the object's fields straight from the source and never makes the object
    (a price's Money per variant), while the generic path and the reference executor call `reader`.
    The declaration must describe what `reader` returns; build both from the same functions.
    """
    setattr(reader, INLINE, Inline(dict(fields), present))
    return reader


class Fallback(Exception):
    """Raised by compiled code for a value it does not complete itself."""


@dataclass(frozen=True, slots=True)
class ObjectPlan:
    """The fields of one (object type, selection), and the compiled fill of its plain ones, if any.

    `fill(links, run, pending)` writes every response key of each object in order: compiled values,
    `__typename`, and a placeholder null for each field of `resolved`, which the level resolves next.
    """

    fields: list[FieldPlan]
    fill: Fill | None
    resolved: list[FieldPlan]  # the fields the fill leaves to the generic path (all of them without a fill)

    @classmethod
    def uncompiled(cls, fields: list[FieldPlan]) -> ObjectPlan:
        """The plan of fields that all go the generic way."""
        return cls(fields, None, fields)


def origin_of(object_type: GraphQLObjectType) -> type | None:
    """The Python class strawberry made the object type from, if it is one of strawberry's."""
    definition = (object_type.extensions or {}).get(STRAWBERRY_DEFINITION)
    origin = getattr(definition, "origin", None)
    return origin if isinstance(origin, type) else None


def compile_object_plan(object_type: GraphQLObjectType, fields: list[FieldPlan], plans_of: PlansOf) -> ObjectPlan:
    """The object plan of these planned fields, with a fill when at least one field compiles."""
    origin = origin_of(object_type)
    compiler = _Compiler(plans_of)
    compiled = [origin is not None and compiler.field_compiles(field) for field in fields]
    if origin is None or not any(compiled[i] and not field.is_typename for i, field in enumerate(fields)):
        return ObjectPlan.uncompiled(fields)
    fill = compiler.fill(object_type.name, origin, fields, compiled)
    return ObjectPlan(fields, fill, [field for field, done in zip(fields, compiled, strict=True) if not done])


def compile_builder(object_type: GraphQLObjectType, nodes: list[FieldNode], plans_of: PlansOf) -> Build | None:
    """A function completing a whole object of this type and selection from its source, when every field
    of the selection compiles: `build(source)` gives the finished result dict, or raises (FALLBACK or the
    error of a reader) for a source it does not complete itself. None when some field does not compile."""
    compiler = _Compiler(plans_of)
    if not compiler.value_compiles(object_type, nodes):
        return None
    return compiler.builder(object_type, nodes)


class _Compiler:
    """Writes the source of one fill and the namespace its names refer to."""

    def __init__(self, plans_of: PlansOf) -> None:
        self.plans_of = plans_of
        self.namespace: dict[str, Any] = {
            "FALLBACK": Fallback,
            "UNDEFINED": Undefined,
            "MIN_INT": MIN_INT,
            "MAX_INT": MAX_INT,
            "ISFINITE": math.isfinite,
            "MISSING": _MISSING,
        }
        self.lines: list[str] = []
        self.counter = 0

    # -- what compiles -------------------------------------------------------------------------

    def field_compiles(self, field: FieldPlan) -> bool:
        if field.is_typename:
            return True
        if field.attribute is None or field.definition is None:
            return False
        return self.value_compiles(field.definition.type, field.nodes)

    def value_compiles(self, type_: Any, nodes: list[FieldNode]) -> bool:
        """Whether values of this type (and selection, for objects) complete in compiled code."""
        if isinstance(type_, GraphQLNonNull | GraphQLList):
            return self.value_compiles(type_.of_type, nodes)
        if is_leaf_type(type_):
            return True
        if not is_object_type(type_):
            return False  # abstract types need a runtime type resolution per value
        return origin_of(type_) is not None and all(self.field_compiles(field) for field in self.plans_of(type_, nodes))

    # -- code --------------------------------------------------------------------------------

    def fill(self, type_name: str, origin: type, fields: list[FieldPlan], compiled: list[bool]) -> Fill:
        """Compile the fill of one object plan."""
        ns = self.namespace
        ns["ORIGIN"], ns["GENERIC"] = origin, list(zip(fields, compiled, strict=True))
        self._line(0, "def fill(links, run, pending):")
        self._line(1, "for link in links:")
        self._line(2, "s = link.source")
        self._line(2, "c = link.container")
        self._line(2, "if type(s) is not ORIGIN:")
        self._line(3, "run.fill_generic(GENERIC, link, pending)")
        self._line(3, "continue")
        self._line(2, "d = s.__dict__")
        for index, (field, done) in enumerate(zip(fields, compiled, strict=True)):
            key = repr(field.key)
            if field.is_typename:
                self._line(2, f"c[{key}] = {type_name!r}")
            elif not done:
                self._line(2, f"c[{key}] = None")
            else:
                self._top_field(index, field, origin)
        return self._exec(f"<fill {type_name}>")["fill"]  # type: ignore[no-any-return]

    def builder(self, object_type: GraphQLObjectType, nodes: list[FieldNode]) -> Build:
        """Compile the builder of one object type and selection (see `compile_builder`)."""
        self._line(0, "def build(v):")
        self._object(object_type, nodes, "v", "o", 1)
        self._line(1, "return o")
        return self._exec(f"<build {object_type.name}>")["build"]  # type: ignore[no-any-return]

    def _exec(self, filename: str) -> dict[str, Any]:
        source = "\n".join(self.lines)
        exec(compile(source, filename, "exec"), self.namespace)  # the code is generated from the schema alone
        return self.namespace

    def _top_field(self, index: int, field: FieldPlan, origin: type) -> None:
        key = repr(field.key)
        plan_name = self._constant(f"PLAN{index}", field)
        inline = self._inline(origin, field)
        if inline is not None:
            # completed from the source's own values; on anything unexpected the generic path reads the field
            self._line(2, "try:")
            self._inline_value(field, inline, "s", "o", 3)
            self._line(2, "except Exception:")
            self._line(3, f"run.read_plain({plan_name}, link, pending)")
            self._line(2, "else:")
            self._line(3, f"c[{key}] = o")
            return
        self._line(2, "try:")
        self._read(origin, field, "s", "d", "v", 3)
        self._line(2, "except Exception as error:")
        self._line(3, f"c[{key}] = None")
        self._line(3, f"run.read_failed({plan_name}, link, error)")
        self._line(2, "else:")
        self._line(3, "try:")
        assert field.definition is not None
        self._value(field.definition.type, field.nodes, "v", "o", 4)
        self._line(3, "except Exception:")
        self._line(4, f"c[{key}] = None")
        self._line(4, f"run.take({plan_name}, link, v, pending)")
        self._line(3, "else:")
        self._line(4, f"c[{key}] = o")

    def _inline(self, origin: type, field: FieldPlan) -> Inline | None:
        """The inline declaration of an object-valued field whose selected fields it all covers, if any."""
        reader = _pure_reader(origin, field.attribute) if field.attribute else None
        inline: Inline | None = getattr(reader, INLINE, None)
        if inline is None or field.definition is None:
            return None
        object_type = field.definition.type
        if isinstance(object_type, GraphQLNonNull):
            object_type = object_type.of_type
        if not is_object_type(object_type):
            return None
        fields = self.plans_of(object_type, field.nodes)
        covered = all(child.is_typename or child.attribute in inline.fields for child in fields)
        return inline if covered else None

    def _inline_value(self, field: FieldPlan, inline: Inline, source: str, out: str, indent: int) -> None:
        """Code completing an inline object field straight from its parent `source` (see `inline_object`)."""
        assert field.definition is not None
        type_: Any = field.definition.type
        nonnull = isinstance(type_, GraphQLNonNull)
        object_type: Any = type_.of_type if nonnull else type_
        if inline.present is not None:
            present = self._constant("PRESENT", inline.present)
            if nonnull:
                self._line(indent, f"if not {present}({source}): raise FALLBACK")
            else:
                self._line(indent, f"if not {present}({source}): {out} = None")
                self._line(indent, "else:")
                indent += 1

        def read_child(child: FieldPlan, completed: str, indent: int) -> None:
            assert child.definition is not None and child.attribute is not None
            read = self._local("read")
            self._line(indent, f"{read} = {self._constant('INLINE', inline.fields[child.attribute])}({source})")
            self._value(child.definition.type, child.nodes, read, completed, indent)

        self._dict(object_type, self.plans_of(object_type, field.nodes), read_child, out, indent)

    def _read(self, origin: type, field: FieldPlan, source: str, source_dict: str, out: str, indent: int) -> None:
        """Code reading a field's value from `source` (an instance of `origin` whose `__dict__` is in the local
        `source_dict`) into `out`, as `getattr` would."""
        attribute = field.attribute
        assert attribute is not None
        reader = _pure_reader(origin, attribute)
        if reader is not None:
            # what the descriptor does, without its call: a value cached on the instance wins, and a computed
            # one is cached, so a later read (the generic path's, after a fallback) gets the same value
            name = self._constant("READ", reader)
            self._line(indent, f"{out} = {source_dict}.get({attribute!r}, MISSING)")
            self._line(indent, f"if {out} is MISSING: {out} = {source_dict}[{attribute!r}] = {name}({source})")
        elif attribute.isidentifier() and not keyword.iskeyword(attribute):
            self._line(indent, f"{out} = {source}.{attribute}")
        else:
            self._line(indent, f"{out} = getattr({source}, {attribute!r})")

    def _value(self, type_: Any, nodes: list[FieldNode], value: str, out: str, indent: int) -> None:
        """Code completing the value in `value` for `type_` into `out`, raising FALLBACK where unsure."""
        if isinstance(type_, GraphQLNonNull):
            self._line(indent, f"if {value} is None: raise FALLBACK")
            self._non_null_value(type_.of_type, nodes, value, out, indent)
            return
        self._line(indent, f"if {value} is None: {out} = None")
        self._line(indent, "else:")
        self._non_null_value(type_, nodes, value, out, indent + 1)

    def _non_null_value(self, type_: Any, nodes: list[FieldNode], value: str, out: str, indent: int) -> None:
        if isinstance(type_, GraphQLList):
            self._list(type_.of_type, nodes, value, out, indent)
        elif is_leaf_type(type_):
            self._leaf(type_, value, out, indent)
        else:
            self._object(type_, nodes, value, out, indent)

    def _leaf(self, leaf_type: Any, value: str, out: str, indent: int) -> None:
        exact = _EXACT_LEAVES.get(leaf_type)
        if exact is not None:
            python_type, check = exact
            condition = check.format(v=value)
            test = f"type({value}) is not {python_type}" + ("" if condition == "True" else f" or not {condition}")
            self._line(indent, f"if {test}: raise FALLBACK")
            self._line(indent, f"{out} = {value}")
            return
        coerce = self._constant("COERCE", leaf_type.coerce_output_value)
        self._line(indent, f"if {value} is UNDEFINED: raise FALLBACK")
        self._line(indent, f"{out} = {coerce}({value})")
        self._line(indent, f"if {out} is None or {out} is UNDEFINED: raise FALLBACK")

    def _list(self, item_type: Any, nodes: list[FieldNode], value: str, out: str, indent: int) -> None:
        item, completed = self._local("item"), self._local("completed")
        self._line(indent, f"if type({value}) is not list and type({value}) is not tuple: raise FALLBACK")
        self._line(indent, f"{out} = []")
        self._line(indent, f"for {item} in {value}:")
        self._value(item_type, nodes, item, completed, indent + 1)
        self._line(indent + 1, f"{out}.append({completed})")

    def _object(self, object_type: Any, nodes: list[FieldNode], value: str, out: str, indent: int) -> None:
        origin = origin_of(object_type)
        assert origin is not None
        self._line(indent, f"if type({value}) is not {self._constant('ORIGIN', origin)}: raise FALLBACK")
        fields = self.plans_of(object_type, nodes)
        source_dict = self._local("cached")
        if any(field.attribute and _pure_reader(origin, field.attribute) for field in fields):
            self._line(indent, f"{source_dict} = {value}.__dict__")

        def read_field(field: FieldPlan, completed: str, indent: int) -> None:
            assert field.definition is not None
            inline = self._inline(origin, field)
            if inline is not None:
                self._inline_value(field, inline, value, completed, indent)
                return
            read = self._local("read")
            self._read(origin, field, value, source_dict, read, indent)
            self._value(field.definition.type, field.nodes, read, completed, indent)

        self._dict(object_type, fields, read_field, out, indent)

    def _dict(
        self,
        object_type: Any,
        fields: list[FieldPlan],
        complete_field: Callable[[FieldPlan, str, int], None],
        out: str,
        indent: int,
    ) -> None:
        """Code building an object's result dict into `out`: `complete_field(field, local, indent)` writes the
        code completing each field's value into `local`; `__typename` is the type's name."""
        entries: list[str] = []
        for field in fields:
            if field.is_typename:
                entries.append(f"{field.key!r}: {object_type.name!r}")
                continue
            completed = self._local("value")
            complete_field(field, completed, indent)
            entries.append(f"{field.key!r}: {completed}")
        self._line(indent, f"{out} = {{{', '.join(entries)}}}")

    # -- helpers -----------------------------------------------------------------------------

    def _line(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def _local(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def _constant(self, stem: str, value: Any) -> str:
        self.counter += 1
        name = f"{stem}_{self.counter}"
        self.namespace[name] = value
        return name


def _pure_reader(origin: type, attribute: str) -> Callable[[Any], Any] | None:
    return getattr(inspect.getattr_static(origin, attribute, None), PURE_READER, None)
