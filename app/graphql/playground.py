"""GraphiQL for browsers at /graphql, with every asset served by the app itself.

The assets (React, ReactDOM and GraphiQL's prebuilt browser bundles, plus a
first-party ``bootstrap.js``) are copied from npm packages into
``app/static/graphiql/`` at install time by ``playground/build.mjs``; that folder
is generated and not committed. Nothing is loaded from a CDN, so the page works
offline and under a strict Content-Security-Policy (no inline script).

Pure infrastructure: imports only Starlette and the standard library. The
GraphQL HTTP endpoint calls :func:`playground_response` for a browser's GET, and
the app factory mounts :func:`playground_routes`.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = [
    "ASSET_PREFIX",
    "CONTENT_SECURITY_POLICY",
    "DEFAULT_QUERY",
    "PLAYGROUND_DIR",
    "REQUIRED_ASSETS",
    "graphiql_html",
    "playground_available",
    "playground_response",
    "playground_routes",
]

PLAYGROUND_DIR = Path(__file__).parent.parent / "static" / "graphiql"  # app/static/graphiql
ASSET_PREFIX = "/graphql/assets"
MANIFEST_NAME = "manifest.json"

# Loaded by the page in this order: GraphiQL's UMD bundle expects the React and
# ReactDOM globals; bootstrap.js renders <GraphiQL/> into #graphiql.
SCRIPTS = ("react.production.min.js", "react-dom.production.min.js", "graphiql.min.js", "bootstrap.js")
STYLESHEETS = ("graphiql.min.css",)
REQUIRED_ASSETS = (*SCRIPTS, *STYLESHEETS, MANIFEST_NAME)

# GraphiQL's CSS embeds its fonts as data: URLs, hence font-src; its editors set
# inline styles, hence style-src 'unsafe-inline'. Scripts come only from 'self'.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:"
)

DEFAULT_QUERY = """\
# Storefront BFF: the first products with their lowest price.
{
  products(first: 5) {
    nodes {
      id
      title
      priceRange {
        minVariantPrice {
          amount
          currencyCode
        }
      }
    }
  }
}
"""

_IMMUTABLE = "public, max-age=31536000, immutable"
_NOT_BUILT_MESSAGE = "GraphiQL assets are not built; run `make install`"


def playground_available() -> bool:
    """Whether ``playground/build.mjs`` has put every asset the page needs in place."""
    return all((PLAYGROUND_DIR / name).is_file() for name in REQUIRED_ASSETS)


def _asset_versions() -> dict[str, str]:
    """File name -> short content hash from the manifest, for cache-busting URLs."""
    try:
        manifest = json.loads((PLAYGROUND_DIR / MANIFEST_NAME).read_text(encoding="utf-8"))
        return {str(f["name"]): str(f["sha256"])[:16] for f in manifest["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def graphiql_html(
    endpoint: str = "/graphql",
    asset_prefix: str = ASSET_PREFIX,
    *,
    default_query: str = DEFAULT_QUERY,
) -> str:
    """A complete GraphiQL page whose scripts and styles all come from ``asset_prefix``.

    ``endpoint`` is resolved by the browser against the page's own origin, so a
    path such as ``/graphql`` is what to pass. There is no inline script: the
    first-party ``bootstrap.js`` reads its settings from data-* attributes.
    Subscriptions run over a WebSocket to the same endpoint (the bundled graphql-ws client).
    """
    prefix = asset_prefix.rstrip("/")
    versions = _asset_versions()

    def url(name: str) -> str:
        version = versions.get(name)
        return html.escape(f"{prefix}/{name}" + (f"?v={version}" if version else ""), quote=True)

    styles = "\n".join(f'    <link rel="stylesheet" href="{url(name)}">' for name in STYLESHEETS)
    scripts = "\n".join(f'    <script src="{url(name)}"></script>' for name in SCRIPTS)
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="robots" content="noindex">
    <title>GraphiQL · Storefront BFF</title>
    <link rel="icon" href="data:,">
{styles}
    <style>
      html, body {{ height: 100%; margin: 0; }}
      #graphiql {{ height: 100vh; }}
    </style>
  </head>
  <body>
    <div id="graphiql" data-endpoint="{html.escape(endpoint, quote=True)}"
         data-default-query="{html.escape(default_query, quote=True)}">Loading GraphiQL…</div>
    <noscript>GraphiQL needs JavaScript. The API itself answers POST {html.escape(endpoint)}.</noscript>
{scripts}
  </body>
</html>
"""


def _not_built_html(endpoint: str) -> str:
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>GraphiQL · Storefront BFF</title>
    <link rel="icon" href="data:,">
  </head>
  <body>
    <h1>GraphiQL is not available</h1>
    <p>{html.escape(_NOT_BUILT_MESSAGE)}.</p>
    <p>The GraphQL API itself works: send a POST to <code>{html.escape(endpoint)}</code>.</p>
  </body>
</html>
"""


def playground_response(endpoint: str = "/graphql", asset_prefix: str = ASSET_PREFIX) -> Response:
    """The GraphiQL page for a browser's GET, or a short note if the assets were not built."""
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if not playground_available():
        return HTMLResponse(_not_built_html(endpoint), status_code=200, headers=headers)
    return HTMLResponse(graphiql_html(endpoint, asset_prefix), headers=headers)


class _PlaygroundAssets(StaticFiles):
    """StaticFiles that 404s (not 500s) while the assets are not built, with cache headers.

    A URL carrying ``?v=<content hash>`` (as the page writes them) is cached for a
    year; any other URL is revalidated with its ETag on every use.
    """

    async def check_config(self) -> None:
        if self.directory is not None and not Path(self.directory).is_dir():
            raise HTTPException(status_code=404, detail=_NOT_BUILT_MESSAGE)
        await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            response.headers["Cache-Control"] = _IMMUTABLE if query.get("v") else "no-cache"
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def playground_routes(asset_prefix: str = ASSET_PREFIX) -> list[BaseRoute]:
    """Routes that serve the built GraphiQL assets under ``asset_prefix``."""
    return [
        Mount(
            asset_prefix,
            app=_PlaygroundAssets(directory=PLAYGROUND_DIR, check_dir=False),
            name="graphiql-assets",
        )
    ]
