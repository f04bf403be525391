"""Fixtures: a fresh, migrated database per test, on SQLite (default) or PostgreSQL.

Set ``TRELLIS_TEST_DATABASE_URL`` to a PostgreSQL URL (``postgresql+psycopg://...``) to run
the suite there: each test gets its own database cloned from a migrated template. Without it,
each test gets its own SQLite file copied from a migrated template file.
"""

from __future__ import annotations

import itertools
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from configured_fixtures import RESULTS, Templates, builders_of
from jinja2 import BytecodeCache
from shared_statements import statements_compiled_once  # noqa: F401  (a session fixture)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.security import generate_password_hash

from trellis.accounts import SYSTEM, Actor
from trellis.runtime import Runtime

PG_URL = os.environ.get("TRELLIS_TEST_DATABASE_URL", "")
_counter = itertools.count()


def pytest_report_header(config: pytest.Config) -> str:
    return f"trellis database: {'postgresql' if PG_URL else 'sqlite'}"


# ``--dist loadfile`` hands whole files to the workers in the order they are queued, and by
# default xdist queues the files with the most tests first. A file whose cost is not its count
# of tests then comes last and runs alone at the end: a schemathesis file is two or four test
# items (one runs every operation of its group as subtests) but among the longest files of
# the suite, and a browser test costs several ordinary ones. The files are queued by their
# estimated cost instead, longest first, and the short files fill in behind them.
#: estimated cost of a file in ordinary tests, where its number of tests says too little
#: (from ``--durations``: a whole run, 2 workers, 1 December; the schemathesis files from
#: their share of one run of tests/api_fuzz, 2 December)
FILE_COST = {
    "tests/api_fuzz/test_fuzz_record_lists.py": 37,
    "tests/api_fuzz/test_fuzz_lead_and_deal_records.py": 59,
    "tests/api_fuzz/test_fuzz_other_records.py": 18,
    "tests/api_fuzz/test_fuzz_configuration_and_work.py": 38,
    "tests/api/test_permission_leaks.py": 32,
    "tests/test_metamodel_scale.py": 25,
    "tests/api/test_flows_api.py": 24,
    "tests/api/test_openapi_contract.py": 21,
    "tests/flows/test_sandbox.py": 19,
    "tests/flows/test_routes.py": 15,
    "tests/api/test_generated_client.py": 10,
}
#: estimated cost of one test in a folder, in ordinary tests (others: 1)
TEST_COST = {"tests/browser/": 6}


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False  # keep the order made below


_next_item: pytest.Item | None = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Notes the test that runs next (PostgreSQL copies its database ahead)."""
    global _next_item
    _next_item = nextitem
    return (yield)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::")[0], []).append(item)

    def cost(path: str) -> float:
        if path in FILE_COST:
            return FILE_COST[path]
        per_test = next((c for folder, c in TEST_COST.items() if path.startswith(folder)), 1)
        return per_test * len(files[path])

    order = sorted(files, key=lambda path: -cost(path))  # stable: ties keep their order
    items[:] = [item for path in order for item in files[path]]


# Werkzeug's default scrypt (N=2**15) costs a few tenths of a second per hash, and the suite
# hashes a password for every user it creates and every sign-in it checks. Tests hash with the
# same scrypt at a low work factor (the stored hash names its own parameters, so checking is as
# cheap); a test marked ``real_password_cost`` runs with the real default (the login timing
# test, and the test that stored hashes use it).
_REAL_HASH_DEFAULTS = generate_password_hash.__defaults__
_TEST_HASH_METHOD = "scrypt:128:8:1"


def _password_cost(defaults: tuple[Any, ...] | None) -> None:
    from trellis.access import credentials

    generate_password_hash.__defaults__ = defaults
    credentials._stand_in_hash.cache_clear()  # the unknown-user hash follows the cost


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    assert _REAL_HASH_DEFAULTS is not None and _REAL_HASH_DEFAULTS[0] == "scrypt"
    _password_cost((_TEST_HASH_METHOD, *_REAL_HASH_DEFAULTS[1:]))
    yield
    _password_cost(_REAL_HASH_DEFAULTS)


@pytest.fixture(autouse=True)
def real_password_cost(request: pytest.FixtureRequest) -> Iterator[None]:
    """The real hashing cost for a test marked ``real_password_cost``."""
    if request.node.get_closest_marker("real_password_cost") is None:
        yield
        return
    _password_cost(_REAL_HASH_DEFAULTS)
    yield
    _password_cost((_TEST_HASH_METHOD, *_REAL_HASH_DEFAULTS[1:]))


# Every test builds its own app, and werkzeug compiles two URL builders per route with ``ast``
# and ``compile()`` each time (about half of ``create_app``). A builder's code depends only on
# the rule's parsed parts, its defaults (as its converters render them) and whether it appends
# unknown arguments, so the suite compiles each distinct builder once per process and binds it
# to each rule as werkzeug does. (Werkzeug's own function, only memoised: same code, same URLs.)
@pytest.fixture(scope="session", autouse=True)
def url_builders_compiled_once() -> Iterator[None]:
    from werkzeug.routing.rules import Rule

    original = Rule._compile_builder
    compiled: dict[tuple[Any, ...], Any] = {}

    def compile_builder(self: Rule, append_unknown: bool = True) -> Any:
        defaults = self.defaults or {}
        key = (
            self.rule,
            tuple(self._trace),
            tuple(
                (name, type(self._converters.get(name)), repr(value))
                for name, value in sorted(defaults.items())
            ),
            tuple((name, type(converter)) for name, converter in self._converters.items()),
            append_unknown,
        )
        if key not in compiled:
            compiled[key] = original(self, append_unknown)
        return compiled[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Rule, "_compile_builder", compile_builder)
        yield


# Every app has its own Jinja environment, so each test compiled every template it rendered
# again (lex, parse, generate Python, ``compile()``: about a third of a web or admin test).
# The suite keeps each template's compiled code once per process in Jinja's own bytecode
# cache, which hands it out only for the same template name, file and source checksum, and
# here also only to an environment with the same compiling settings (every app comes from
# ``create_app``, so all have the same): the same code Jinja would compile, only not again.
class _CompiledTemplates(BytecodeCache):
    def __init__(self) -> None:
        self.codes: dict[tuple[Any, ...], Any] = {}

    @staticmethod
    def _key(bucket: Any) -> tuple[Any, ...]:
        env = bucket.environment
        settings = tuple(
            getattr(env, name)
            for name in (
                "block_start_string",
                "block_end_string",
                "variable_start_string",
                "variable_end_string",
                "comment_start_string",
                "comment_end_string",
                "line_statement_prefix",
                "line_comment_prefix",
                "trim_blocks",
                "lstrip_blocks",
                "newline_sequence",
                "keep_trailing_newline",
                "optimized",
                "is_async",
            )
        )
        autoescape = getattr(env.autoescape, "__func__", env.autoescape)  # Flask's: a method
        return (bucket.key, bucket.checksum, settings, autoescape, tuple(sorted(env.extensions)))

    def load_bytecode(self, bucket: Any) -> None:
        bucket.code = self.codes.get(self._key(bucket))

    def dump_bytecode(self, bucket: Any) -> None:
        if bucket.code is not None:
            self.codes[self._key(bucket)] = bucket.code


@pytest.fixture(scope="session", autouse=True)
def templates_compiled_once() -> Iterator[None]:
    from flask import Flask

    original = Flask.create_jinja_environment
    compiled = _CompiledTemplates()

    def create_jinja_environment(self: Flask) -> Any:
        environment = original(self)
        environment.bytecode_cache = compiled
        return environment

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Flask, "create_jinja_environment", create_jinja_environment)
        yield


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated empty database to copy: a file path (SQLite) or a database name (PG)."""
    if PG_URL:
        name = f"trellis_tpl_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        runtime = Runtime.from_settings({"DATABASE_URL": url, "SECRET_KEY": "t"})
        runtime.initialise()
        runtime.dispose()
        yield name
        if _copies is not None:
            _copies.forget(name)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        folder = tmp_path_factory.mktemp("template")
        path = folder / "template.db"
        runtime = Runtime.from_settings(
            {"DATABASE_URL": f"sqlite:///{path}", "INSTANCE_PATH": str(folder), "SECRET_KEY": "t"}
        )
        runtime.initialise()
        runtime.dispose()  # closing the last connection checkpoints the WAL into the file
        yield str(path)


class _Copies:
    """PostgreSQL: a test's database is copied from its template by a background thread while
    the test before it runs, and dropped by that thread after the test, so the server copies
    and drops while the tests run (CREATE DATABASE ... TEMPLATE took about half a second)."""

    def __init__(self) -> None:
        self.admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trellis-copies")
        self.ready: dict[str, Future[str]] = {}
        # PostgreSQL 15 copies a template block by block through the WAL by default; for a
        # template of a few MB copying its files costs the server about a third of the CPU
        # (create and drop: ~50 -> ~15 ms a test), the same database either way
        with self.admin.connect() as conn:
            version = int(conn.execute(text("SHOW server_version_num")).scalar_one())
        self.strategy = " STRATEGY FILE_COPY" if version >= 150000 else ""

    def _run(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(sql))

    def _copy(self, template: str) -> str:
        name = f"trellis_t_{os.getpid()}_{next(_counter)}"
        self._run(f'CREATE DATABASE "{name}" TEMPLATE "{template}"{self.strategy}')
        return name

    def take(self, template: str, following: str | None = None) -> str:
        """A new copy of ``template`` (made ahead if one was asked for before); a copy of
        ``following`` (the template of the next test; by default ``template`` again) is
        started at once."""
        ahead = self.ready.pop(template, None)
        name = ahead.result() if ahead is not None else self._copy(template)
        following = template if following is None else following
        if following and following not in self.ready:
            self.ready[following] = self.thread.submit(self._copy, following)
        return name

    def drop(self, name: str) -> None:
        self.thread.submit(self._run, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def forget(self, template: str) -> None:
        """Drop the copy made ahead of ``template`` (before the template itself goes)."""
        ahead = self.ready.pop(template, None)
        if ahead is not None:
            self._run(f'DROP DATABASE IF EXISTS "{ahead.result()}" WITH (FORCE)')

    def close(self) -> None:
        for template in list(self.ready):
            self.forget(template)
        self.thread.shutdown(wait=True)  # the last drops
        self.admin.dispose()


_copies: _Copies | None = None


def _postgres_copies() -> _Copies:
    global _copies
    if _copies is None:
        _copies = _Copies()
    return _copies


@pytest.fixture(scope="session", autouse=True)
def postgres_copies_closed() -> Iterator[None]:
    """Drops what ``_Copies`` left at the end of the session (it is made on first use)."""
    yield
    if _copies is not None:
        _copies.close()


@contextmanager
def fresh_database(template: str, folder: Path, following: str | None = None) -> Iterator[str]:
    """A new migrated database cloned from ``template``; dropped afterwards (PostgreSQL).
    ``following``: the template the next copy will be asked of ("": none is known)."""
    if PG_URL:
        copies = _postgres_copies()
        name = copies.take(template, following)
        try:
            yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            copies.drop(name)
    else:
        path = folder / "trellis.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"


# A test that uses ``demo_crm`` starts from a copy of a database where the demo CRM was
# loaded once per test session, instead of building the demo's tables again for every test.
@pytest.fixture(scope="session")
def demo_template(
    database_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database with the demo CRM loaded, to copy."""
    from trellis.app import create_app
    from trellis.cli import initialise

    folder = tmp_path_factory.mktemp("demo-template")
    if PG_URL:
        name = f"trellis_demo_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{database_template}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    else:
        name = str(folder / "demo.db")
        shutil.copy(database_template, name)
        url = f"sqlite:///{name}"
    app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(folder), "SECRET_KEY": "t"})
    with app.app_context():
        initialise(app.extensions["trellis"], demo=True)
    app.extensions["trellis"].dispose()
    yield name
    if PG_URL:
        if _copies is not None:
            _copies.forget(name)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def new_database(database_template: str, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """``with new_database(folder) as url``: a fresh migrated database outside a test's scope
    (for module-wide fixtures); ``new_database(folder, demo=True)`` has the demo CRM loaded."""

    def make(folder: Path, demo: bool = False):  # type: ignore[no-untyped-def]
        template = request.getfixturevalue("demo_template") if demo else database_template
        return fresh_database(template, folder)

    return make


# -- configured templates: see configured_fixtures.py ---------------------------------------


@pytest.fixture(scope="session")
def configured_templates(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Templates]:
    templates = Templates(
        request, tmp_path_factory.mktemp("configured"), PG_URL, _postgres_copies, Factory
    )
    yield templates
    templates.close()


@pytest.fixture
def database_url(
    configured_templates: Templates, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh, migrated database for one test: a copy of the template holding the demo CRM
    if the test uses ``demo_crm``, and the work of the ``@configured`` fixtures it uses."""
    template, results = configured_templates.get(*builders_of(request.node))
    request.node.stash[RESULTS] = results
    following = ""  # PostgreSQL copies ahead the template of the next test, if it is made
    if _next_item is not None and "database_url" in _next_item.fixturenames:  # type: ignore[attr-defined]
        following = configured_templates.made.get(builders_of(_next_item), ("", {}))[0]
    with fresh_database(template, tmp_path, following) as url:
        yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret",
    }


@pytest.fixture
def demo_crm(database_url: str) -> None:
    """The demo CRM (``trellis init --demo``): the test's database is a copy of one where
    ``initialise(demo=True)`` ran once per session (``demo_template``; see ``database_url``).
    (It is not run again per test: that it finds the demo and changes nothing is
    test_cli's ``test_init_demo_loads_the_demo_crm_and_prints_an_admin_login_once``.)"""


@pytest.fixture
def runtime(settings: dict[str, Any]) -> Iterator[Runtime]:
    rt = Runtime.from_settings(settings)
    yield rt
    rt.dispose()


@pytest.fixture
def app(settings: dict[str, Any]):  # type: ignore[no-untyped-def]
    from trellis.app import create_app

    application = create_app(settings)
    application.config["TESTING"] = True
    yield application
    application.extensions["trellis"].dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def runner(app):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


class Factory:
    """Builds entity types and records in one line each, through the real services."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def entity(
        self,
        key: str,
        fields: dict[str, Any],
        *,
        title: str = "",
        pipelines: dict[str, list[Any]] | None = None,
        lists: dict[str, list[str]] | None = None,
    ) -> None:
        """``fields`` maps key -> type name, or -> (type, {options}) with settings etc.

        ``pipelines`` maps key -> stages as "key" or "key:kind"; ``lists`` creates option lists
        (key -> option keys) first, unless they exist.
        """
        with self.runtime.transaction() as session:
            meta = self.runtime.metamodel(session)
            for list_key, options in (lists or {}).items():
                if list_key not in meta.model.option_lists:
                    meta.create_list(
                        list_key,
                        list_key.title(),
                        [{"key": o, "label": o.replace("_", " ").title()} for o in options],
                    )
            meta.create_entity(key, key.title())
            for field_key, spec in fields.items():
                type_name, options = (spec, {}) if isinstance(spec, str) else spec
                meta.add_field(
                    key, field_key, field_key.replace("_", " ").title(), type_name, **options
                )
            if title:
                meta.update_entity(key, title_template=title)
            for pipeline_key, stages in (pipelines or {}).items():
                meta.create_pipeline(
                    key,
                    pipeline_key,
                    pipeline_key.title(),
                    [
                        {
                            "key": s.split(":")[0],
                            "label": s.split(":")[0].title(),
                            "kind": [*s.split(":"), "open"][1],
                        }
                        for s in stages
                    ],
                )

    def record(self, entity: str, actor: Actor = SYSTEM, **values: Any):  # type: ignore[no-untyped-def]
        with self.runtime.transaction() as session:
            return self.runtime.records(session, actor).create(entity, values)

    def meta(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call one metamodel operation in its own transaction."""
        with self.runtime.transaction() as session:
            return getattr(self.runtime.metamodel(session), method)(*args, **kwargs)

    def records(self, method: str, *args: Any, actor: Actor = SYSTEM, **kwargs: Any) -> Any:
        """Call one record operation in its own transaction."""
        with self.runtime.transaction() as session:
            return getattr(self.runtime.records(session, actor), method)(*args, **kwargs)


@pytest.fixture
def factory(runtime: Runtime) -> Factory:
    return Factory(runtime)


# -- browser tests -------------------------------------------------------------------------

CHROMIUM = os.environ.get("TRELLIS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(os.environ.get("TRELLIS_ARTIFACTS", Path(__file__).parent.parent / "artifacts"))


@pytest.fixture
def live_server(app):  # type: ignore[no-untyped-def]
    """The app served over real HTTP on 127.0.0.1 (a free port) in a background thread.

    Stopping waits for the requests in flight to finish, and answers any later request on a
    kept-alive browser connection with 503 without touching the app, so no request still holds
    a database connection when the test's runtime is disposed (one that did was left to the
    garbage collector, which reported it open)."""
    from werkzeug.serving import make_server

    served = InFlight(app)
    server = make_server("127.0.0.1", 0, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()
    assert served.stop(timeout=10), "a request to the live server did not finish within 10 s"


class InFlight:
    """WSGI middleware that counts the requests in the app and, once stopped, refuses new ones."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.running = 0
        self.stopped = False
        self.changed = threading.Condition()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self.changed:
            if self.stopped:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"the test server is stopping"]
            self.running += 1
        try:
            # the body is read whole (and closed, which ends the request's context) here, so
            # the app's work and its transaction end in this call, before the count goes down
            body = self.app(environ, start_response)
            try:
                return list(body)
            finally:
                if hasattr(body, "close"):
                    body.close()
        finally:
            with self.changed:
                self.running -= 1
                self.changed.notify_all()

    def stop(self, timeout: float) -> bool:
        """Refuse new requests; True once none is running (False if one still runs after
        ``timeout`` seconds)."""
        with self.changed:
            self.stopped = True
            return self.changed.wait_for(lambda: self.running == 0, timeout=timeout)


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser, request):  # type: ignore[no-untyped-def]
    """A fresh browser tab at 1280x800; ``page.shot(name)`` saves a screenshot under
    ``artifacts/<test name>/``."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    expect.set_options(timeout=10_000)  # web-first assertions wait as long as actions do
    folder = ARTIFACTS / request.node.name.replace("/", "_")

    def shot(name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        return path

    tab.shot = shot  # type: ignore[attr-defined]
    yield tab
    context.close()
