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
    from trellis.demo import load_demo
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
            counts = load_demo(runtime, progress=lambda t: click.echo(f"  {t}"))
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
    from trellis.serving import configure_logging, make_server, settle_start_up

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
    settle_start_up(runtime)
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


@click.group("pack")
def pack_group() -> None:
    """Config packs: versioned folders of configuration (see README, "Config packs")."""


def _load_pack(folder: str):  # type: ignore[no-untyped-def]
    """The pack in ``folder`` (or a zip), checked against this installation (what it needs
    from here may be here); a click error listing every problem if it is broken."""
    from trellis.accounts import User
    from trellis.packs.loading import load_pack
    from trellis.packs.problems import PackInvalid
    from trellis.packs.snapshot import snapshot

    try:
        with _runtime().transaction(read_only=True) as session:
            live = snapshot(session)
            users = set(session.scalars(select(User.username)))
        return load_pack(folder, live, users)
    except PackInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(
            f"The pack is not valid ({len(exc.problems)} problems); nothing was changed."
        ) from exc


def _takes(values: tuple[str, ...]) -> dict[str, str]:
    takes: dict[str, str] = {}
    for value in values:
        name, _, side = value.rpartition("=")
        if not name or side not in ("pack", "local"):
            raise click.BadParameter(f"{value!r}: use KEY=pack or KEY=local", param_hint="--take")
        takes[name] = side
    return takes


TAKE_OPTION = click.option(
    "--take",
    "take",
    multiple=True,
    metavar="KEY=pack|local",
    help="Decide the conflicts of one object (kind:key, or its key): the pack's or ours.",
)


@pack_group.command("diff")
@click.argument("folder", type=click.Path(exists=True))
@TAKE_OPTION
@with_appcontext
def pack_diff_command(folder: str, take: tuple[str, ...]) -> None:
    """What applying the pack in FOLDER would create, change and archive here, per property,
    with the conflicts and what each change does to stored data."""
    from trellis.packs.apply import plan_for
    from trellis.packs.impact import impact_of

    content = _load_pack(folder)
    runtime = _runtime()
    with runtime.transaction(read_only=True) as session:
        plan, installed = plan_for(session, content, _takes(take))
        impact = impact_of(runtime, session, plan)
    was = f" (installed: {installed.version})" if installed else " (not installed)"
    click.echo(f"{content.manifest.name} {content.manifest.version}{was}")
    _print_plan(plan, impact)


def _print_plan(plan, impact: dict[str, list[str]]) -> None:  # type: ignore[no-untyped-def]
    from trellis.packs.plan import MISSING

    def shown(value) -> str:  # type: ignore[no-untyped-def]
        return "(absent)" if value is MISSING else json.dumps(value, sort_keys=True)

    for obj in plan.objects:
        if obj.action == "unchanged" and not obj.conflicts:
            continue
        click.echo(f"{obj.action} {obj.name}")
        if obj.action == "change":
            for change in obj.changes:
                click.echo(f"  {change.path}: {shown(change.before)} -> {shown(change.after)}")
        for conflict in obj.conflicts:
            state = f"taken: {conflict.taken}" if conflict.taken else "CONFLICT"
            click.echo(
                f"  {state} {conflict.path or '(the object)'}: installed version "
                f"{shown(conflict.base)}, pack {shown(conflict.pack)}, here {shown(conflict.local)}"
            )
        for note in impact.get(obj.name, []):
            click.echo(f"  data: {note}")
    unchanged = len(plan.by_action("unchanged"))
    counts = {a: len(plan.by_action(a)) for a in ("create", "change", "archive")}
    click.echo(
        f"{counts['create']} to create, {counts['change']} to change, {counts['archive']} to "
        f"archive, {unchanged} unchanged, {len(plan.conflicts)} open conflicts."
    )


@pack_group.command("apply")
@click.argument("folder", type=click.Path(exists=True))
@click.option("--dry-run", is_flag=True, help="Do everything, then roll back: nothing changes.")
@TAKE_OPTION
@with_appcontext
def pack_apply_command(folder: str, dry_run: bool, take: tuple[str, ...]) -> None:
    """Apply the pack in FOLDER in one transaction (an upgrade if it is installed): all of it
    or, with every problem listed, nothing."""
    from trellis.packs.apply import PackRefused, apply_pack

    content = _load_pack(folder)
    takes = _takes(take)

    def progress(text: str) -> None:
        click.echo(f"  {text}")
        sys.stdout.flush()

    try:
        outcome = apply_pack(
            _runtime(),
            content,
            take=takes,
            dry_run=dry_run,
            progress=progress,  # type: ignore[arg-type]
        )
    except PackRefused as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(
            f"{content.manifest.name} {content.manifest.version} was not applied "
            f"({len(exc.problems)} problems); nothing was changed."
        ) from exc
    except TrellisError as exc:
        raise _click_error(exc) from exc
    for name, notes in outcome.impact.items():
        for note in notes:
            click.echo(f"  data: {name}: {note}")
    name = f"{content.manifest.name} {content.manifest.version}"
    if dry_run:
        click.echo(f"{name} can be applied (dry run: nothing was changed).")
    elif outcome.previous_version:
        click.echo(f"{name} applied (upgraded from {outcome.previous_version}).")
    else:
        click.echo(f"{name} applied.")


@pack_group.command("list")
@with_appcontext
def pack_list_command() -> None:
    """Installed packs, their versions, and the objects edited here since."""
    from trellis.packs.models import InstalledPack
    from trellis.packs.plan import edited_locally
    from trellis.packs.snapshot import snapshot

    runtime = _runtime()
    with runtime.transaction(read_only=True) as session:
        packs = session.scalars(select(InstalledPack).order_by(InstalledPack.name)).all()
        live = snapshot(session) if packs else {}
        if not packs:
            click.echo("No packs are installed.")
        for pack in packs:
            count = sum(len(v) for v in pack.base.values())
            when = pack.updated_at.strftime("%Y-%m-%d %H:%M")
            click.echo(f"{pack.name} {pack.version} ({count} objects, applied {when} UTC)")
            edited = edited_locally(pack.base, live)
            for name, paths in edited.items():
                what = ", ".join(p for p in paths if p) or "removed"
                click.echo(f"  edited here: {name} ({what})")


@pack_group.command("schema")
def pack_schema_command() -> None:
    """Print the pack format's JSON Schema."""
    from trellis.packs.schema import SCHEMA_FILE

    click.echo(SCHEMA_FILE.read_text(), nl=False)


@pack_group.command("validate")
@click.argument("path", type=click.Path(exists=True))
@with_appcontext
def pack_validate_command(path: str) -> None:
    """Check the pack in PATH (a folder or a zip): its files against the schema and what
    they name (in the pack, or in this installation if it has a database)."""
    from trellis.installation import is_initialised
    from trellis.packs import service

    runtime = _runtime()
    if is_initialised(runtime.engine):
        with runtime.transaction(read_only=True) as session:
            problems = service.validate(path, session)
    else:
        problems = service.validate(path)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        count = len(problems)
        raise click.ClickException(f"{count} problem{'s' if count != 1 else ''} in {path}.")
    click.echo(f"{path}: no problems.")


@pack_group.command("export")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--name", required=True, help="The pack's name.")
@click.option("--version", "version", required=True, help="The pack's version (e.g. 1.0.0).")
@click.option("--title", default="", help="A title for people.")
@click.option("--description", default="", help="What the pack is for.")
@click.option(
    "--only",
    default="",
    help="Comma-separated keys (or kind:key) to export; an entity type brings its "
    "pipelines, rules and duplicate rules.",
)
@with_appcontext
def pack_export_command(
    folder: str, name: str, version: str, title: str, description: str, only: str
) -> None:
    """Write the live configuration as a pack into FOLDER (the same configuration gives
    the same files, byte for byte)."""
    from trellis.packs import service
    from trellis.packs.content import Manifest

    manifest = Manifest(name, version, title, description, service.default_trellis_range())
    keys = [k.strip() for k in only.split(",") if k.strip()]
    runtime = _runtime()
    try:
        with runtime.transaction(read_only=True) as session:
            files = service.export(session, folder, manifest, keys or None)
    except TrellisError as exc:
        raise _click_error(exc) from exc
    click.echo(f"{len(files) - 1} objects written to {folder}.")


def register_commands(app: Flask) -> None:
    """Make the commands reachable as ``flask`` commands too."""
    for command in (
        init_command,
        serve_command,
        worker_command,
        user_group,
        import_command,
        openapi_command,
        pack_group,
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
