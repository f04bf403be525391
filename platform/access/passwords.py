"""The password policy: long enough, not a well-known password, not the user name.

``common-passwords.txt`` beside this module holds about 20,000 common passwords, lowercased
(the list Django ships for its CommonPasswordValidator, compiled by Royce Williams from
leaked password sets); it is read once, from the package, never downloaded.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
COMMON_PASSWORDS = Path(__file__).with_name("common-passwords.txt")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lowercased."""
    with COMMON_PASSWORDS.open(encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def password_problems(password: str, username: str = "") -> list[str]:
    """What is wrong with ``password`` as a new password (empty when it is acceptable)."""
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        return [f"Use at least {MIN_PASSWORD_LENGTH} characters."]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [f"Use at most {MAX_PASSWORD_LENGTH} characters."]
    folded = password.strip().lower()
    if username and folded == username.lower():
        return ["Do not use the user name as the password."]
    if folded in common_passwords() or len(set(folded)) == 1:
        return ["This password is too common; choose one that is harder to guess."]
    return []
