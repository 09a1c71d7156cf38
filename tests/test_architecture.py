"""The layering `schema/ -> resolvers/ -> app/` holds, and every part of the API is described."""

from __future__ import annotations

import ast
from pathlib import Path

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

from schema.root import schema

ROOT = Path(__file__).resolve().parent.parent
# The composition roots may wire every layer together.
COMPOSITION_ROOTS = {"app/asgi.py", "app/cli.py"}
# GraphQL machinery executes strawberry schemas (it reads their fields' resolvers, extensions and
# argument conversion), so it may import strawberry, but never a domain's schema or resolvers.
GRAPHQL_MACHINERY_PREFIXES = ("app/graphql/",)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _violations(package: str, forbidden: set[str], root: Path = ROOT) -> list[str]:
    problems = []
    for path in sorted((root / package).rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative in COMPOSITION_ROOTS:
            continue
        allowed = {"strawberry"} if relative.startswith(GRAPHQL_MACHINERY_PREFIXES) else set()
        bad = _imports(path) & (forbidden - allowed)
        if bad:
            problems.append(f"{relative} imports {sorted(bad)}")
    return problems


def test_resolvers_never_import_strawberry_or_schema():
    assert _violations("resolvers", {"strawberry", "schema"}) == []


def test_app_imports_neither_schema_nor_resolvers_outside_composition_roots():
    assert _violations("app", {"strawberry", "schema", "resolvers"}) == []


def test_every_type_field_argument_and_enum_value_has_a_description():
    missing = []
    for name, type_ in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        if not type_.description:
            missing.append(name)
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, field in type_.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name})")
        if isinstance(type_, GraphQLEnumType):
            missing.extend(f"{name}.{v}" for v, value in type_.values.items() if not value.description)
    assert missing == []


def test_the_checker_sees_a_violation(tmp_path):
    # given: a resolver module that imports strawberry and the schema
    (tmp_path / "resolvers").mkdir()
    (tmp_path / "resolvers" / "bad.py").write_text("import strawberry\nfrom schema import x\n")
    # then
    assert _violations("resolvers", {"strawberry", "schema"}, root=tmp_path) == [
        "resolvers/bad.py imports ['schema', 'strawberry']"
    ]


def _app_modules_imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "app":
            found.update(f"{node.module}.{alias.name}" if node.module == "app" else node.module for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "app")
    return found


def test_the_node_registry_and_global_ids_know_no_domain():
    # Domains register their node types; the registry and the IDs that consult it import none of them.
    assert _app_modules_imported(ROOT / "app/db/registry.py") == set()
    assert _app_modules_imported(ROOT / "app/db/ids.py") == {"app.db", "app.errors"}
