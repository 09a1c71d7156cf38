"""A schema whose private fields are guarded by permission classes (sync and async, on fields with and
without resolvers, on lists and nested objects) and whose fields carry field extensions: both executors
must run every guard. The viewer is `context["viewer"]`; an account's fields are visible to its owner."""

from __future__ import annotations

import asyncio
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission

__all__ = ["GUARDED"]


class IsOwner(BasePermission):
    message = "Not allowed"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return source.owner == info.context["viewer"]


class IsOwnerAsync(BasePermission):
    message = "Not allowed (async)"

    async def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        await asyncio.sleep(0)
        return source.owner == info.context["viewer"]


class Upper(FieldExtension):
    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        return next_(source, info, **kwargs).upper()

    async def resolve_async(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        return (await next_(source, info, **kwargs)).upper()


@strawberry.type
class Address:
    owner: str
    city: str = strawberry.field(permission_classes=[IsOwner])


@strawberry.type
class Account:
    owner: str
    name: str
    email: str = strawberry.field(permission_classes=[IsOwner])
    phone: str | None = strawberry.field(default=None, permission_classes=[IsOwnerAsync])
    shout: str = strawberry.field(extensions=[Upper()])
    tags: list[str] | None = strawberry.field(default=None, permission_classes=[IsOwner])
    address: Address | None = strawberry.field(default=None, permission_classes=[IsOwner])

    @strawberry.field(permission_classes=[IsOwner])
    async def secret(self) -> str:
        return f"secret of {self.owner}"

    @strawberry.field(permission_classes=[IsOwnerAsync])
    def note(self) -> str | None:
        return f"note of {self.owner}"

    @strawberry.field(extensions=[Upper()])
    async def loud_name(self) -> str:
        return self.name

    @strawberry.field(permission_classes=[IsOwnerAsync])
    def friends(self) -> list[Account] | None:
        return [_account(name) for name in ("ada", "bob") if name != self.owner]


def _account(owner: str) -> Account:
    return Account(
        owner=owner,
        name=f"{owner}'s account",
        email=f"{owner}@example.com",
        phone="555",
        shout="hi",
        tags=["a", "b"],
        address=Address(owner=owner, city="Oslo"),
    )


@strawberry.type
class GuardedQuery:
    @strawberry.field
    def me(self) -> Account:
        return _account("ada")

    @strawberry.field
    def accounts(self) -> list[Account]:
        return [_account("ada"), _account("bob")]


GUARDED = strawberry.Schema(query=GuardedQuery)._schema
