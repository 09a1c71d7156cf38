"""The node registry: each type that `node(id:)` can fetch registers its global-ID name, loader and view once.

A domain registers its node types when its schema module is imported (`schema.relay.node_type`); global IDs
(`app.db.ids`) and the `node`/`nodes` resolvers read this registry, so a new domain is added by adding its files.
This module knows no domain and no GraphQL library: the loader class and the view are opaque to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["NODE_TYPES", "NodeType", "node_type", "register_node"]


@dataclass(frozen=True)
class NodeType:
    """A fetchable type: its global-ID name, the loader class that loads a row by primary key
    (`ctx.loaders.get(loader).load(pk)`), and `view(context, row)`, which presents a row as the type."""

    name: str
    loader: type[Any]
    view: Callable[[Any, Any], Any]
    # `visible(context, row)`: whether the request may fetch this row by ID (a private type's rows are
    # its owner's); None for a public type. A row it may not see is fetched as if it did not exist.
    visible: Callable[[Any, Any], bool] | None = None


NODE_TYPES: dict[str, NodeType] = {}


def register_node(node: NodeType) -> NodeType:
    """Make a type fetchable by global ID; registering one name twice is an error, whatever the loader."""
    if node.name in NODE_TYPES:
        raise ValueError(f"The node type {node.name!r} is already registered")
    NODE_TYPES[node.name] = node
    return node


def node_type(name: str) -> NodeType | None:
    """The registered type of this global-ID name, or None."""
    if not NODE_TYPES:
        raise RuntimeError("No node type is registered yet: import the schema (schema.root) before decoding IDs")
    return NODE_TYPES.get(name)
