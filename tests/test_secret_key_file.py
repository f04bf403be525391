"""The secret key file is created private, never written first and made private after
(issue 9 item 16)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from trellis.settings import load_settings


def test_the_secret_key_file_is_private_from_its_creation(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for name in ("CONFIG", "SECRET_KEY", "DATABASE_URL"):
        monkeypatch.delenv(f"TRELLIS_{name}", raising=False)
    instance = tmp_path / "instance"
    modes: list[int] = []
    real_open = os.open

    def watching_chmod(*args, **kwargs):  # type: ignore[no-untyped-def]
        pytest.fail("the key file was made private after it was written")

    def watching_open(path, flags, mode=0o777, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).endswith("secret_key") and flags & os.O_CREAT:
            modes.append(mode)
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "chmod", watching_chmod)
    monkeypatch.setattr(os, "open", watching_open)
    old_umask = os.umask(0o022)
    try:
        key = load_settings({"INSTANCE_PATH": str(instance)})["SECRET_KEY"]
    finally:
        os.umask(old_umask)
    assert modes == [0o600]
    path = instance / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == key and len(key) == 64
    assert load_settings({"INSTANCE_PATH": str(instance)})["SECRET_KEY"] == key
