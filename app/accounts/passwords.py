"""Passwords: the policy a new password must meet, and Argon2id hashes (argon2-cffi).

A sign-in with an unknown email verifies the password against a dummy hash, so it costs what a wrong
password costs and the two cannot be told apart by timing. Hashing takes about 0.1 s of CPU by design, so
it runs in a worker thread (argon2-cffi releases the GIL) and never stalls the event loop.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "Passwords",
    "Verification",
    "password_weakness",
]

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256  # hashing is deliberately slow; a megabyte of password must not be
COMMON_PASSWORDS = Path(__file__).with_name("common_passwords.txt")


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def password_weakness(password: str, email: str) -> str | None:
    """Why the password may not be used for this email, or None when it may."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password must be at least {MIN_PASSWORD_LENGTH} characters long"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password must be at most {MAX_PASSWORD_LENGTH} characters long"
    lowered = password.lower()
    local_part = email.partition("@")[0].lower()
    if len(local_part) >= 3 and local_part in lowered:
        return "The password must not contain the email address"
    if lowered in _common_passwords():
        return "The password is too common; choose one that is harder to guess"
    return None


class Verification:
    """The outcome of checking a password: whether it matched and whether its hash should be replaced."""

    __slots__ = ("matched", "needs_rehash")

    def __init__(self, matched: bool, needs_rehash: bool = False) -> None:
        self.matched = matched
        self.needs_rehash = needs_rehash


class Passwords:
    """Hashes and verifies passwords with Argon2id; the parameters are argon2-cffi's unless given."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)
        self._dummy_hash = self.hasher.hash("a password no account has, to spend the time of a check")
        self.verifications = 0  # how many hashes were checked, dummy ones included (tests read it)

    @classmethod
    def cheapest(cls) -> Passwords:
        """Argon2id at its smallest cost, for the test environment only: the suite signs in hundreds of times."""
        return cls(PasswordHasher.from_parameters(profiles.CHEAPEST))

    async def hash(self, password: str) -> str:
        """An Argon2id hash of the password, with a fresh salt."""
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> Verification:
        """Check a password against a stored hash; with no hash (unknown account) against the dummy one."""
        if stored_hash is None:
            await asyncio.to_thread(self._matches, self._dummy_hash, password)
            return Verification(False)
        if not await asyncio.to_thread(self._matches, stored_hash, password):
            return Verification(False)
        return Verification(True, self.hasher.check_needs_rehash(stored_hash))

    def _matches(self, stored_hash: str, password: str) -> bool:
        self.verifications += 1
        try:
            return self.hasher.verify(stored_hash, password)
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError):  # a corrupt stored hash never signs anyone in
            return False
