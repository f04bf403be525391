"""The trellis command: init (with the demo), user create, and serve's first start."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from trellis.accounts import User
from trellis.metamodel.models import EntityType


def test_init_demo_loads_the_demo_crm_and_prints_an_admin_login_once(runner, runtime) -> None:  # type: ignore[no-untyped-def]
    first = runner.invoke(args=["init", "--demo"])
    assert first.exit_code == 0, first.output
    assert "username: admin" in first.output
    password = re.search(r"password: (\S+)", first.output).group(1)
    with runtime.transaction() as session:
        model = runtime.model(session)
        admin = session.scalar(select(User).where(User.username == "admin"))
        assert admin.check_password(password)
        assert admin.role_keys == {"admin"}
    assert set(model.entities) == {"lead", "contact", "company", "deal", "vacation"}
    # the demo's people: each login printed once, and it works
    logins = dict(re.findall(r"user (\w+) \([^)]*\) with the password (\S+)", first.output))
    assert set(logins) == {"hanna", "ivan", "jonas", "mila", "dora", "emma"}
    with runtime.transaction() as session:
        hanna = session.scalar(select(User).where(User.username == "hanna"))
        assert hanna.check_password(logins["hanna"]) and "board" in hanna.role_keys
        for key in ("deal_approval", "vacation_approval"):
            assert runtime.flows(session).flow(key).live_version_id is not None
    assert "2 flows" in first.output
    leads = model.entities["lead"].pipelines["leads"]
    kinds = {s.key: s.kind for s in leads.stages.values()}
    assert kinds["converted"] == "success" and kinds["junk"] == "failure"
    assert set(model.entities["deal"].pipelines) == {"sales", "wholesale"}
    users_of_source = {
        e.key
        for e in model.entities.values()
        for f in e.fields.values()
        if f.settings.get("list") == "source"
    }
    assert users_of_source == {"lead", "contact", "deal"}
    assert model.entities["company"].fields["tin"].required is True

    second = runner.invoke(args=["init", "--demo"])
    assert second.exit_code == 0
    assert "password:" not in second.output
    assert "not loaded over them" in second.output
    with runtime.transaction() as session:
        assert len(session.scalars(select(EntityType)).all()) == 5


def test_user_create_reads_the_password_from_stdin(runner, runtime) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(
        args=["user", "create", "sam", "--role", "user", "--password-stdin"],
        input="a-long-password\n",
    )
    assert result.exit_code == 0, result.output
    with runtime.transaction() as session:
        sam = session.scalar(select(User).where(User.username == "sam"))
        assert sam.check_password("a-long-password") and sam.role_keys == {"user"}
        assert "a-long-password" not in sam.password_hash


def test_user_create_reports_bad_input_and_fails(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(
        args=["user", "create", "sam", "--role", "boss", "--password-stdin"], input="short\n"
    )
    assert result.exit_code != 0
    assert "Use at least 10 characters" in result.output and "Unknown role: boss" in result.output
    runner.invoke(args=["user", "create", "sam", "--password-stdin"], input="a-long-password\n")
    again = runner.invoke(
        args=["user", "create", "sam", "--password-stdin"], input="a-long-password\n"
    )
    assert again.exit_code != 0 and "already exists" in again.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: how long a first start (migrations and the demo) may take on a loaded machine: a bound
#: for a server that hangs, not a speed test (the test goes on as soon as it is ready)
FIRST_START_S = 600
SERVING = "Trellis is serving on "


@pytest.mark.slow
def test_serve_on_a_new_database_sets_up_the_demo_and_serves(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "TRELLIS_INSTANCE_PATH": str(tmp_path / "instance")}
    env["PYTHONUNBUFFERED"] = "1"  # each line as it is written (the readiness signal)
    env.pop("TRELLIS_DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "trellis.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    serving = threading.Event()

    def read_output() -> None:  # until the process ends (its pipe closes)
        assert server.stdout is not None
        for line in server.stdout:
            lines.append(line)
            if line.startswith(SERVING):
                serving.set()
        serving.set()  # ended without serving: the wait below need not last its bound

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    try:
        # the readiness signal: the command says it serves once the database is set up,
        # right before it opens its socket (or it ends, having failed)
        assert serving.wait(FIRST_START_S), "no word from the server: " + "".join(lines)
        assert server.poll() is None, "the server ended: " + "".join(lines)
        assert f"{SERVING}http://127.0.0.1:{port}/" in "".join(lines)
        for _attempt in range(100):  # the socket opens right after the line (well within 30 s)
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/healthz", timeout=30
                ) as response:
                    assert response.status == 200
                    break
            except urllib.error.URLError as error:
                if not isinstance(error.reason, ConnectionRefusedError):
                    raise
                time.sleep(0.3)
        else:
            pytest.fail("the server said it serves but took no connection: " + "".join(lines))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=30) as response:
            assert b"Sign in" in response.read()
    finally:
        server.terminate()
        server.wait(timeout=60)
        reader.join(timeout=60)
        server.stdout.close()  # type: ignore[union-attr]
    output = "".join(lines)
    assert "username: admin" in output and "Demo CRM loaded" in output
    assert (tmp_path / "instance" / "trellis.db").exists()


def test_settings_come_from_a_config_file_and_the_environment(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from trellis.settings import load_settings

    config = tmp_path / "trellis.toml"
    config.write_text('database_url = "sqlite:////tmp/from-file.db"\nport = 9001\nthreads = 2\n')
    monkeypatch.setenv("TRELLIS_CONFIG", str(config))
    monkeypatch.setenv("TRELLIS_INSTANCE_PATH", str(tmp_path / "inst"))
    monkeypatch.delenv("TRELLIS_DATABASE_URL", raising=False)
    monkeypatch.setenv("TRELLIS_PORT", "9002")
    settings = load_settings()
    assert settings["DATABASE_URL"] == "sqlite:////tmp/from-file.db"
    assert (settings["PORT"], settings["THREADS"]) == (9002, 2)  # the environment wins
    secret = settings["SECRET_KEY"]
    assert len(secret) == 64 and load_settings()["SECRET_KEY"] == secret  # kept in the instance


def test_import_checks_every_row_reports_progress_and_is_all_or_nothing(  # type: ignore[no-untyped-def]
    runner, runtime, factory, tmp_path: Path
) -> None:
    factory.entity("contact", {"name": ("text", {"required": True}), "email": "email"})
    good = tmp_path / "good.csv"
    good.write_text("Name,Email\n" + "".join(f"P{i},p{i}@x.example\n" for i in range(1200)))
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email\nAnn,ann@x.example\n,nobody\n")
    refused = runner.invoke(args=["import", "contact", str(bad)])
    assert refused.exit_code == 1
    assert (
        "row 3, name:" in refused.output and "row 3, email: Not a valid e-mail." in refused.output
    )
    assert "1 of 2 rows cannot be imported; nothing was imported." in refused.output
    checked = runner.invoke(args=["import", "contact", str(good), "--dry-run"])
    assert checked.exit_code == 0 and "(dry run, nothing written)" in checked.output, checked.output
    assert "500 / 1,200 rows checked" in checked.output
    assert factory.records("list", "contact").total == 0
    done = runner.invoke(args=["import", "contact", str(good)])
    assert done.exit_code == 0 and "1200 contact records imported." in done.output
    assert factory.records("list", "contact", exact_total=True).total == 1200
    nobody = runner.invoke(args=["import", "contact", str(good), "--as", "ghost"])
    assert nobody.exit_code == 1 and "No user named 'ghost'" in nobody.output


def test_user_create_refuses_a_common_password_naming_the_field(runner, runtime) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(
        args=["user", "create", "sam", "--password-stdin"], input="password1234\n"
    )
    assert result.exit_code != 0
    assert "password: This password is too common" in result.output
    with runtime.transaction() as session:
        assert session.scalar(select(User).where(User.username == "sam")) is None


def test_user_password_sets_a_new_password_and_revokes_tokens(runner, runtime) -> None:  # type: ignore[no-untyped-def]
    from trellis.access.tokens import issue_token, user_for_token

    runner.invoke(args=["user", "create", "sam", "--password-stdin"], input="a-long-password\n")
    with runtime.transaction() as session:
        sam = session.scalar(select(User).where(User.username == "sam"))
        token, _ = issue_token(session, sam)
        stamp = sam.session_stamp
    weak = runner.invoke(args=["user", "password", "sam", "--password-stdin"], input="123456789\n")
    assert weak.exit_code != 0 and "password: Use at least 10 characters" in weak.output
    done = runner.invoke(
        args=["user", "password", "sam", "--password-stdin"], input="another-long-one\n"
    )
    assert done.exit_code == 0, done.output
    with runtime.transaction() as session:
        sam = session.scalar(select(User).where(User.username == "sam"))
        assert sam.check_password("another-long-one") and sam.session_stamp != stamp
        assert user_for_token(session, token) is None
    unknown = runner.invoke(
        args=["user", "password", "nobody", "--password-stdin"], input="another-long-one\n"
    )
    assert unknown.exit_code != 0 and "No user named 'nobody'" in unknown.output
