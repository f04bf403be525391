"""The ``trellis`` command (also reachable as ``flask --app trellis.app <command>``)."""

from __future__ import annotations

import json
import secrets
import sys

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from trellis.errors import TrellisError
from trellis.runtime import get_runtime


def _runtime():  # type: ignore[no-untyped-def]
    return get_runtime()


@click.command("init")
@click.option(
    "--demo", is_flag=True, help="Also load the demo CRM (leads, contacts, companies, deals)."
)
@with_appcontext
def init_command(demo: bool) -> None:
    """Create or upgrade the database (and print an admin login if there is none yet)."""
    try:
        initialise(_runtime(), demo=demo)
    except TrellisError as exc:
        raise _click_error(exc) from exc


def _click_error(exc: TrellisError) -> click.ClickException:
    errors = getattr(exc, "errors", {})
    details = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in errors.items())
    return click.ClickException(f"{exc.detail}{' - ' + details if details else ''}")


def initialise(runtime, demo: bool) -> None:  # type: ignore[no-untyped-def]
    """What ``trellis init [--demo]`` does."""
    from trellis.demo import demo_file, load_definition
    from trellis.metamodel.models import EntityType

    click.echo(f"Database: {runtime.engine.url.render_as_string(hide_password=True)}")
    runtime.initialise()
    click.echo("Platform tables are up to date.")
    if demo:
        with runtime.transaction() as session:
            has_entities = session.scalar(select(EntityType.id).limit(1)) is not None
        if has_entities:
            click.echo("Entity types exist already: the demo is not loaded over them.")
        else:
            counts = load_definition(runtime, demo_file(), progress=lambda t: click.echo(f"  {t}"))
            click.echo(
                f"Demo CRM loaded: {counts['entities']} entity types, {counts['records']} records, "
                f"{counts['users']} users, {counts['flows']} flows."
            )
            if counts["users"]:
                click.echo("The demo users' passwords above are shown only once.")
    _ensure_admin(runtime)


def _ensure_admin(runtime) -> None:  # type: ignore[no-untyped-def]
    from trellis.accounts import Role, User, create_user, user_roles

    with runtime.transaction() as session:
        admin_exists = session.scalar(
            select(User.id).join(user_roles).join(Role).where(Role.key == "admin").limit(1)
        )
        if admin_exists:
            return
        password = secrets.token_urlsafe(12)
        create_user(session, "admin", password, ["admin"], display_name="Administrator")
    click.echo("")
    click.echo("An administrator was created. This login is shown only once:")
    click.echo("  username: admin")
    click.echo(f"  password: {password}")
    click.echo("")


@click.command("serve")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default 8000).")
@with_appcontext
def serve_command(host: str | None, port: int | None) -> None:
    """Run the web app with a production server; a new database gets the demo first."""
    from flask import current_app

    from trellis.installation import is_initialised
    from trellis.serving import configure_logging, make_server

    runtime = _runtime()
    if not is_initialised(runtime.engine):
        try:
            initialise(runtime, demo=True)
        except TrellisError as exc:
            raise _click_error(exc) from exc
    settings = runtime.settings
    host = host or settings["HOST"]
    port = port or settings["PORT"]
    configure_logging()
    stop = None
    if settings["WORKER"]:
        from trellis.flows.worker import start_in_thread

        _, stop = start_in_thread(runtime)
        click.echo("The background worker runs in this process (TRELLIS_WORKER=0 turns it off).")
    click.echo(f"Trellis is serving on http://{host}:{port}/ (Ctrl+C stops it)")
    try:
        make_server(current_app._get_current_object(), host, port).run()
    finally:
        if stop is not None:
            stop.set()


@click.command("worker")
@click.option("--once", is_flag=True, help="Run every job once, until nothing is due, and stop.")
@click.option("--job", "jobs", multiple=True, help="Run only this job (repeatable).")
@click.option(
    "--idle", default=2.0, show_default=True, help="Seconds to wait when nothing was due."
)
@with_appcontext
def worker_command(once: bool, jobs: tuple[str, ...], idle: float) -> None:
    """Process due background work: outbox deliveries (webhooks), flow timers."""
    import signal
    import threading

    from trellis.flows.worker import Worker, load_jobs
    from trellis.serving import configure_logging

    unknown = [j for j in jobs if j not in load_jobs()]
    if unknown:
        raise click.BadParameter(
            f"unknown job {', '.join(unknown)}; known: {', '.join(load_jobs())}",
            param_hint="--job",
        )
    worker = Worker(_runtime(), list(jobs) or None)
    if once:
        done = worker.run_until_idle()
        click.echo(f"{done} item{'s' if done != 1 else ''} of due work processed.")
        return
    configure_logging()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(f"Worker running: {', '.join(j.name for j in worker.jobs)} (Ctrl+C stops it)")
    try:
        worker.run_forever(stop, idle)
    except KeyboardInterrupt:
        stop.set()


@click.group("user")
def user_group() -> None:
    """Manage users."""


@user_group.command("create")
@click.argument("name")
@click.option("--role", "roles", multiple=True, default=["user"], show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--display-name", default="")
@with_appcontext
def user_create_command(
    name: str, roles: tuple[str, ...], password_stdin: bool, display_name: str
) -> None:
    """Create a user NAME with the given roles."""
    from trellis.accounts import create_user

    password = _read_password(password_stdin)
    runtime = _runtime()
    try:
        with runtime.transaction() as session:
            create_user(session, name, password, list(roles), display_name=display_name)
    except TrellisError as exc:
        raise _click_error(exc) from exc
    click.echo(f"User {name!r} created with roles: {', '.join(roles)}.")


@user_group.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def user_password_command(name: str, password_stdin: bool) -> None:
    """Give user NAME a new password (their sessions and API tokens end)."""
    from trellis.access.credentials import change_password
    from trellis.accounts import get_user

    password = _read_password(password_stdin)
    try:
        with _runtime().transaction() as session:
            change_password(session, get_user(session, name), password)
    except TrellisError as exc:
        raise _click_error(exc) from exc
    click.echo(f"User {name!r} has a new password; their sessions and API tokens ended.")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@click.command("import")
@click.argument("entity")
@click.argument("file", type=click.File("rb"))
@click.option("--dry-run", is_flag=True, help="Check every row; write nothing.")
@click.option("--as", "username", default=None, help="Import as this user (their rights apply).")
@click.option("--match", default=None, help="A unique field: matching rows update records.")
@with_appcontext
def import_command(
    entity: str, file, dry_run: bool, username: str | None, match: str | None
) -> None:  # type: ignore[no-untyped-def]
    """Create ENTITY records from a CSV FILE, all or nothing (columns: field keys or labels)."""
    from trellis.accounts import SYSTEM, Actor, get_user
    from trellis.records.importer import import_csv

    runtime = _runtime()

    def progress(done: int, total: int) -> None:
        click.echo(f"\r  {done:,} / {total:,} rows checked", nl=False, err=True)

    try:
        with runtime.transaction() as session:
            actor = Actor.of(get_user(session, username)) if username else SYSTEM
            service = runtime.records(session, actor)
            report = import_csv(
                service, entity, file.read(), dry_run=dry_run, match=match, progress=progress
            )
    except TrellisError as exc:
        raise _click_error(exc) from exc
    click.echo("", err=True)
    if report.ignored_columns:
        click.echo(f"Ignored (computed by Trellis): {', '.join(report.ignored_columns)}")
    for where, problems in report.errors.items():
        for name, messages in problems.items():
            click.echo(f"{where}, {name}: {' '.join(map(str, messages))}", err=True)
    if not report.ok:
        shown = "" if len(report.errors) >= report.failed_rows else " (the first are listed)"
        raise click.ClickException(
            f"{report.failed_rows} of {report.total} rows cannot be imported{shown}; "
            "nothing was imported."
            if "header" not in report.errors
            else "The header does not match the fields; nothing was imported."
        )
    verb = "could be imported (dry run, nothing written)" if dry_run else "imported"
    updates = f" ({len(report.updated)} updated, {len(report.created)} new)" if match else ""
    click.echo(f"{report.total} {entity} records {verb}{updates}.")


@click.command("openapi")
@click.option(
    "--as",
    "username",
    metavar="USER",
    default=None,
    help="Print the document as this user sees it (default: an administrator's view).",
)
@with_appcontext
def openapi_command(username: str | None) -> None:
    """Print the API's OpenAPI document (JSON), e.g. to generate a client from it:
    ``trellis openapi > openapi.json``."""
    from trellis.accounts import SYSTEM, Actor, User
    from trellis.api.openapi import document_for

    runtime = _runtime()
    with runtime.transaction(read_only=True) as session:
        actor = SYSTEM
        if username is not None:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise click.ClickException(f"No user {username!r}.")
            actor = Actor.of(user)
        document = document_for(runtime, session, actor)
    click.echo(json.dumps(document, indent=2, sort_keys=True))


def register_commands(app: Flask) -> None:
    """Make the commands reachable as ``flask`` commands too."""
    for command in (
        init_command,
        serve_command,
        worker_command,
        user_group,
        import_command,
        openapi_command,
    ):
        app.cli.add_command(command)


def _create_app():  # type: ignore[no-untyped-def]
    from trellis.app import create_app

    return create_app()


main = FlaskGroup(
    name="trellis",
    create_app=_create_app,
    add_default_commands=False,
    add_version_option=False,
    help="Trellis: CRM, documents and processes as configuration.",
)


if __name__ == "__main__":  # python -m trellis.cli
    main()
