"""The layering holds per role, and every part of the API is described.

Roles, by where a module lives (imports are read with `ast`, relative ones resolved):
- `schema/`: GraphQL types; may import strawberry.
- `resolvers/`: use cases; never strawberry or `schema`.
- `app/<domain>/` (every package of `app/` that is not infrastructure, e.g. `app/catalog`): a domain's
  persistence (models, SQL, loaders, seed); never strawberry, graphql, `schema`, `resolvers` or the
  GraphQL and web machinery.
- `app/graphql/`: GraphQL machinery; may import strawberry and graphql, never a domain, `schema` or `resolvers`.
- `app/db/`, `app/live/`, `app/web/`: infrastructure; no domain, `schema`, `resolvers`, strawberry or graphql.
- the other modules of `app/` (settings, context, errors, ...): shared by every layer; no domain, `schema`,
  `resolvers`, strawberry or graphql.
- `app/asgi.py`, `app/cli.py`: composition roots, which may import anything; nothing else imports them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

from schema.root import schema

ROOT = Path(__file__).resolve().parent.parent
# The composition roots may wire every layer together.
COMPOSITION_ROOTS = frozenset({"app/asgi.py", "app/cli.py"})
# Packages of app/ that know no domain; every other package of app/ is a domain.
INFRASTRUCTURE = ("db", "graphql", "live", "persisted", "web")
ROOT_MODULES = frozenset({"app.asgi", "app.cli"})
GRAPHQL_LIBRARIES = frozenset({"strawberry", "graphql"})
LAYERS_ABOVE = frozenset({"schema", "resolvers"})


@dataclass(frozen=True)
class Role:
    """Modules under `folders` (or, with `top_level_of`, the modules directly in that folder) import none
    of `forbidden`: a name forbids that module and every module under it."""

    name: str
    folders: tuple[str, ...]
    forbidden: frozenset[str]
    top_level_of: str = ""

    def holds(self, relative: str) -> bool:
        """Whether the module at this path (relative to the repository) has this role."""
        if relative in COMPOSITION_ROOTS:
            return False
        if self.top_level_of:
            return relative.rpartition("/")[0] == self.top_level_of
        return relative.startswith(self.folders)


def domains(root: Path = ROOT) -> frozenset[str]:
    """The domain packages of app/, as module names (`app.catalog`)."""
    return frozenset(
        f"app.{path.name}"
        for path in (root / "app").iterdir()
        if (path / "__init__.py").is_file() and path.name not in INFRASTRUCTURE
    )


def roles(root: Path = ROOT) -> list[Role]:
    """The rule of each role, for the app/ domains found under `root`."""
    domain_modules = domains(root)
    machinery = frozenset({"app.graphql", "app.web"})
    return [
        Role("types", ("schema/",), ROOT_MODULES),
        Role("use cases", ("resolvers/",), ROOT_MODULES | {"strawberry", "schema"}),
        Role(
            "domain persistence",
            tuple(f"{module.replace('.', '/')}/" for module in sorted(domain_modules)),
            ROOT_MODULES | GRAPHQL_LIBRARIES | LAYERS_ABOVE | machinery,
        ),
        Role("GraphQL machinery", ("app/graphql/",), ROOT_MODULES | LAYERS_ABOVE | domain_modules),
        Role(
            "infrastructure",
            ("app/db/", "app/live/", "app/persisted/", "app/web/"),
            ROOT_MODULES | GRAPHQL_LIBRARIES | LAYERS_ABOVE | domain_modules | {"app.graphql"},
        ),
        Role(
            "shared modules",
            (),
            ROOT_MODULES | GRAPHQL_LIBRARIES | LAYERS_ABOVE | domain_modules,
            top_level_of="app",
        ),
    ]


def _module_name(relative: str) -> str:
    parts = relative.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str, root: Path) -> bool:
    path = root / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path, root: Path = ROOT) -> set[str]:
    """The modules this file imports, by full name (`from app.db import registry` is `app.db.registry`)."""
    relative = path.relative_to(root).as_posix()
    package = _module_name(relative) if relative.endswith("__init__.py") else _module_name(relative).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}" if base else alias.name
                found.add(submodule if _is_module(submodule, root) else base)
    return found


def _forbidden_in(imported: set[str], forbidden: frozenset[str]) -> list[str]:
    return sorted(name for name in forbidden if any(m == name or m.startswith(f"{name}.") for m in imported))


def violations(root: Path = ROOT) -> list[str]:
    """Every import that breaks the rule of its module's role, one line per module."""
    problems = []
    for folder in ("app", "schema", "resolvers"):
        for path in sorted((root / folder).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            imported = _imports(path, root)
            for role in roles(root):
                bad = _forbidden_in(imported, role.forbidden) if role.holds(relative) else []
                if bad:
                    problems.append(f"{relative} ({role.name}) imports {bad}")
    return problems


def test_every_module_keeps_to_its_role():
    assert violations() == []


def test_every_module_has_exactly_one_role_or_is_a_composition_root():
    unplaced = {}
    for folder in ("app", "schema", "resolvers"):
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            held = [role.name for role in roles() if role.holds(relative)]
            if len(held) != 1 and relative not in COMPOSITION_ROOTS:
                unplaced[relative] = held
    assert unplaced == {}


def test_the_catalog_and_accounts_are_domains_and_infrastructure_is_not():
    assert domains() == {"app.accounts", "app.cart", "app.catalog", "app.orders"}


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


CASES = [
    # (path, source, expected violation or None)
    (
        "schema/bad.py",
        "import strawberry\nfrom app.asgi import create_app\n",
        "schema/bad.py (types) imports ['app.asgi']",
    ),
    (
        "resolvers/bad.py",
        "import strawberry\nfrom schema import x\n",
        "resolvers/bad.py (use cases) imports ['schema', 'strawberry']",
    ),
    (
        "app/catalog/bad.py",
        "import strawberry\nfrom graphql import parse\nfrom resolvers import catalog\nfrom schema.relay import Node\n"
        "from app.web.metrics import Metrics\n",
        "app/catalog/bad.py (domain persistence) imports ['app.web', 'graphql', 'resolvers', 'schema', 'strawberry']",
    ),
    (
        "app/cart/bad.py",
        "from strawberry import field\n",
        "app/cart/bad.py (domain persistence) imports ['strawberry']",
    ),
    (
        "app/graphql/bad.py",
        "import strawberry\nfrom app.catalog.loaders import ProductByIdLoader\nfrom resolvers import catalog\n",
        "app/graphql/bad.py (GraphQL machinery) imports ['app.catalog', 'resolvers']",
    ),
    (
        "app/db/bad.py",
        "import strawberry\nfrom app.catalog import sql\n",
        "app/db/bad.py (infrastructure) imports ['app.catalog', 'strawberry']",
    ),
    (
        "app/live/bad.py",
        "from app.orders import sql\nfrom resolvers import events\n",
        "app/live/bad.py (infrastructure) imports ['app.orders', 'resolvers']",
    ),
    (
        "app/web/bad.py",
        "from ..catalog import models\nfrom ..graphql import pipeline\n",
        "app/web/bad.py (infrastructure) imports ['app.catalog', 'app.graphql']",
    ),
    (
        "app/bad.py",
        "from app import catalog\nimport strawberry.types\n",
        "app/bad.py (shared modules) imports ['app.catalog', 'strawberry']",
    ),
    ("app/asgi.py", "import strawberry\nfrom app.catalog import sql\nfrom schema.root import schema\n", None),
    ("app/graphql/fine.py", "import strawberry\nfrom graphql import parse\nfrom app.db.database import x\n", None),
    ("app/catalog/fine.py", "from app.db.loaders import BaseLoader\nfrom . import sql\n", None),
]


def _layout(root: Path) -> None:
    packages = ("app", "app/db", "app/graphql", "app/web", "app/live", "app/catalog", "app/cart", "app/orders")
    for package in (*packages, "schema", "resolvers"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    modules = ("app/asgi.py", "app/catalog/sql.py", "app/catalog/models.py", "app/catalog/loaders.py")
    for module in (*modules, "app/orders/sql.py", "resolvers/events.py"):
        (root / module).write_text("")


@pytest.mark.parametrize(("path", "source", "expected"), CASES, ids=[case[0] for case in CASES])
def test_the_checker_sees_a_violation(tmp_path, path, source, expected):
    # given: a layout with the module under test
    _layout(tmp_path)
    (tmp_path / path).write_text(source)
    # then
    assert violations(root=tmp_path) == ([expected] if expected else [])


def test_the_checker_resolves_imports_to_full_module_names(tmp_path):
    # given
    _layout(tmp_path)
    (tmp_path / "app/catalog/seed.py").write_text(
        "import app.db\nfrom app.catalog import sql\nfrom app.catalog.models import Product\nfrom . import loaders\n"
        "from .models import Review\nfrom .. import db\n"
    )
    # then
    assert _imports(tmp_path / "app/catalog/seed.py", tmp_path) == {
        "app.db",
        "app.catalog.sql",
        "app.catalog.models",
        "app.catalog.loaders",
    }


def test_the_node_registry_and_global_ids_know_no_domain():
    # Domains register their node types; the registry and the IDs that consult it import none of them.
    assert {m for m in _imports(ROOT / "app/db/registry.py") if m.startswith("app")} == set()
    assert {m for m in _imports(ROOT / "app/db/ids.py") if m.startswith("app")} == {"app.db.registry", "app.errors"}
