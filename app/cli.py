"""The `storefront` command: serve, migrate, seed, export-schema, create-staff and persisted-queries."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.settings import Settings, SettingsError, load_settings

__all__ = ["main"]

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"storefront: configuration error: {exc}", file=sys.stderr)
        return 2
    return int(args.run(settings, args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storefront", description="Storefront BFF: a GraphQL storefront API.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="upgrade the database schema to the newest migration")
    migrate.set_defaults(run=_migrate)

    seed = commands.add_parser("seed", help="fill the catalog with deterministic demo data")
    seed.add_argument("--products", type=int, default=1000, help="number of products (default 1000)")
    seed.add_argument("--seed", type=int, default=1, help="random seed; the same seed gives the same data")
    seed.add_argument("--reset", action="store_true", help="delete the existing catalog first")
    seed.add_argument("--if-empty", action="store_true", help="do nothing when the catalog already has products")
    seed.set_defaults(run=_seed)

    export = commands.add_parser("export-schema", help="write the GraphQL schema (SDL) to schema/schema.graphql")
    export.add_argument("--check", action="store_true", help="fail when the committed schema differs from the code")
    export.add_argument("--output", type=Path, default=SCHEMA_FILE, help="where to write the SDL")
    export.set_defaults(run=_export_schema)

    staff = commands.add_parser("create-staff", help="make a staff account (it signs in with customerLogin)")
    staff.add_argument("--email", required=True, help="the account's email")
    staff.add_argument("--display-name", default="Staff", help='the name shown (default "Staff")')
    staff.add_argument("--password-stdin", action="store_true", help="read the password from stdin, not a prompt")
    staff.add_argument("--promote", action="store_true", help="make an existing account staff (password unchanged)")
    staff.set_defaults(run=_create_staff)

    persisted = commands.add_parser("persisted-queries", help="manage trusted documents (persisted queries)")
    persisted_commands = persisted.add_subparsers(dest="persisted_command", required=True)
    imports = persisted_commands.add_parser(
        "import", help="import a client's operation manifest (Apollo, Relay or GraphQL Code Generator JSON)"
    )
    imports.add_argument("file", type=Path, help="the manifest; - reads standard input")
    imports.add_argument("--client", default=None, help="the client's name, kept with its documents")
    imports.set_defaults(run=_import_persisted_queries)
    return parser


WEBSOCKET_MAX_BYTES = 1_048_576  # a larger frame is refused by uvicorn before it is read whole


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers < 1:
        print("storefront: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1 and settings.redis_url is None:
        print(
            f"storefront: warning: {args.workers} workers without REDIS_URL: a live update reaches only the "
            "subscribers of the worker that made it, and throttles count per worker; set REDIS_URL",
            file=sys.stderr,
        )
    uvicorn.run(
        "app.asgi:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level.lower(),
        proxy_headers=False,  # the app believes X-Forwarded-For from TRUSTED_PROXIES only (app.web.client_address)
        server_header=False,
        ws_max_size=WEBSOCKET_MAX_BYTES,
    )
    return 0


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from app.db import migrate

    migrate.upgrade(settings.database_url)
    print(f"storefront: database is at migration {migrate.head_revision()}")
    return 0


def _seed(settings: Settings, args: argparse.Namespace) -> int:
    from app.catalog.seed import SeedError

    if args.products < 0:
        print("storefront: --products must not be negative", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(_run_seed(settings, args.products, args.seed, args.reset, args.if_empty))
    except SeedError as exc:
        print(f"storefront: {exc}", file=sys.stderr)
        return 1
    if report is None:
        print("storefront: the catalog already has products; left as it is")
        return 0
    print(
        f"storefront: seeded {report.products} products, {report.variants} variants, {report.images} images, "
        f"{report.reviews} reviews, {report.customers} customers and {report.categories} categories "
        f"in {report.seconds:.1f} s"
    )
    return 0


async def _run_seed(settings: Settings, products: int, seed: int, reset: bool, if_empty: bool) -> Any:
    from app.catalog.seed import catalog_counts, seed_catalog
    from app.db.database import create_engine

    engine = create_engine(settings)
    try:
        if if_empty and not reset and (await catalog_counts(engine))["products"] > 0:
            return None
        return await seed_catalog(engine, products=products, seed=seed, reset=reset)
    finally:
        await engine.dispose()


def _export_schema(_settings: Settings, args: argparse.Namespace) -> int:
    from schema.root import schema_sdl

    sdl = schema_sdl()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != sdl:
            print(
                f"storefront: {args.output} is out of date; run `storefront export-schema` and commit it",
                file=sys.stderr,
            )
            return 1
        print(f"storefront: {args.output} matches the code")
        return 0
    args.output.write_text(sdl)
    print(f"storefront: wrote {args.output}")
    return 0


def _create_staff(settings: Settings, args: argparse.Namespace) -> int:
    from app.accounts.admin import StaffError, create_staff
    from app.db.database import create_engine

    password = None
    if not args.promote:
        password = _read_password(args.password_stdin)
        if password is None:
            return 2

    async def run() -> str:
        engine = create_engine(settings)
        try:
            return await create_staff(engine, args.email, password, args.display_name, promote=args.promote)
        finally:
            await engine.dispose()

    try:
        print(f"storefront: {asyncio.run(run())}")
    except StaffError as exc:
        print(f"storefront: {exc}", file=sys.stderr)
        return 1
    return 0


def _import_persisted_queries(settings: Settings, args: argparse.Namespace) -> int:
    from app.db.database import create_engine
    from app.persisted.manifest import ManifestError, import_documents, read_manifest

    try:
        data = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
        entries = read_manifest(data)
    except OSError as exc:
        print(f"storefront: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    except ManifestError as exc:
        print(f"storefront: {args.file}: {exc}", file=sys.stderr)
        return 1

    async def run() -> Any:
        engine = create_engine(settings)
        try:
            return await import_documents(engine, entries, _schema_errors(settings), args.client)
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(run())
    except ManifestError as exc:
        print(f"storefront: {args.file}: {exc}; nothing was imported", file=sys.stderr)
        return 1
    print(f"storefront: imported {report.added} trusted documents ({report.unchanged} already there)")
    return 0


def _schema_errors(settings: Settings) -> Any:
    """A document's text -> why the server would refuse it whatever its variables: parse and validation
    errors under this server's limits, or a cost over MAX_QUERY_COST (priced with its variables' defaults)."""
    from graphql import OperationDefinitionNode, specified_rules

    from app.asgi import cost_analysis, shape_rules
    from app.graphql.documents import DocumentCache
    from schema.root import build_schema

    schema = build_schema()._schema
    rules, pricing = shape_rules(settings), cost_analysis(settings, schema)
    # the server's own parsing and validation (the shape limits first), as its pipeline makes them
    documents = DocumentCache(schema, (*specified_rules, *rules), max_tokens=settings.max_tokens, first=rules)

    def errors(text: str) -> list[str]:
        prepared = documents.parse(text)
        if prepared.document is None:
            return [error.message for error in prepared.syntax_errors]
        refused = documents.validate(prepared)
        if refused:
            return [error.message for error in refused]
        costs = [
            pricing.plan(prepared.document, operation).requested(None)
            for operation in prepared.document.definitions
            if isinstance(operation, OperationDefinitionNode)
        ]
        limit = settings.max_query_cost
        return [f"it costs {cost} points; at most {limit} are allowed" for cost in costs if cost > limit]

    return errors


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        print("storefront: the passwords differ", file=sys.stderr)
        return None
    return first


if __name__ == "__main__":
    sys.exit(main())
