"""Configured templates: fixtures whose database work is done once per test session.

Building entity types through the metamodel costs tenths of a second each, and many fixtures
build the same configuration for every test of a file. A fixture written as ``@configured``
does its work once per session (per xdist worker) into a template database, and each test
that uses it starts from its own copy of that template (``database_url`` in conftest.py):
the same rows and ids as if the fixture had run in the test, in an isolated database that
nothing else touches.

    @configured
    def crm(factory):
        factory.entity("company", {"name": "text"})
        return factory.record("company", name="ACME")["id"]
"""

from __future__ import annotations

import copy
import inspect
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from trellis.runtime import Runtime


class Builder:
    """A ``@configured`` fixture's work: ``func`` runs on a template database with what it
    asks for: ``runtime``, ``factory``, ``app`` and ``client`` (made on that database, as the
    tests' fixtures of those names are), ``demo_crm`` (the demo CRM is loaded first) and other
    ``@configured`` fixtures (their work is done first; the argument is their result)."""

    AT_BUILD = ("runtime", "factory", "app", "client")

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.name = func.__name__
        self.args = list(inspect.signature(func).parameters)
        #: fixtures the per-test fixture depends on (``demo_crm`` and other configured ones)
        self.needs = [arg for arg in self.args if arg not in self.AT_BUILD]


class BuildTime:
    """A builder's result that was one of the objects made for the build (by fixture name)."""

    def __init__(self, name: str) -> None:
        self.name = name


def configured(func: Callable[..., Any]) -> Any:
    """A fixture whose database work is done once into a template that each test copies.

    ``func`` must only change the database (and return what tests need: ids, keys, tokens;
    each test gets its own deep copy of the result; a builder that returns the ``factory``,
    ``runtime``, ``app`` or ``client`` it was given gives each test that test's own). What
    must be per test (callers bound to the test's client, signed-in browsers) belongs in an
    ordinary fixture that uses this one.
    """
    builder = Builder(func)

    def fixture(request: pytest.FixtureRequest, database_url: str, **needs: Any) -> Any:
        result = request.node.stash[RESULTS][builder.name]
        if isinstance(result, BuildTime):  # the test's own ``factory`` (or ...)
            return request.getfixturevalue(result.name)
        return copy.deepcopy(result)

    fixture.__name__ = builder.name
    fixture.__doc__ = func.__doc__
    fixture.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for name in ("request", "database_url", *builder.needs)
        ]
    )
    fixture.trellis_builder = builder  # type: ignore[attr-defined]
    return pytest.fixture(name=builder.name)(fixture)


RESULTS = pytest.StashKey[dict[str, Any]]()


def builders_of(item: pytest.Item) -> tuple[bool, tuple[Builder, ...]]:
    """Whether ``item`` starts from the demo CRM, and the configured fixtures whose work its
    database needs, each after those it builds on."""
    definitions = item._fixtureinfo.name2fixturedefs  # type: ignore[attr-defined]
    found: dict[str, Builder] = {}
    for name in item.fixturenames:  # type: ignore[attr-defined]
        if name in definitions:
            builder = getattr(definitions[name][-1].func, "trellis_builder", None)
            if builder is not None:
                found[name] = builder
    ordered: list[Builder] = []

    def visit(name: str) -> None:
        builder = found[name]
        if builder not in ordered:
            for need in builder.needs:
                if need in found:
                    visit(need)
            ordered.append(builder)

    for name in sorted(found):
        visit(name)
    return "demo_crm" in item.fixturenames, tuple(ordered)  # type: ignore[attr-defined]


class Templates:
    """The configured templates of this session, by the demo and the builders they hold."""

    def __init__(
        self,
        request: pytest.FixtureRequest,
        folder: Path,
        pg_url: str,
        copies: Callable[[], Any],
        factory: Callable[[Runtime], Any],
    ) -> None:
        self.request = request
        self.folder = folder
        self.pg_url = pg_url
        self.copies = copies  # PostgreSQL: conftest's ``_Copies``
        self.factory = factory
        self.made: dict[tuple[bool, tuple[Builder, ...]], tuple[str, dict[str, Any]]] = {}

    def get(self, demo: bool, builders: tuple[Builder, ...]) -> tuple[str, dict[str, Any]]:
        """The template for ``demo`` and ``builders`` (made on first use) and their results."""
        key = (demo, builders)
        if key not in self.made:
            base = self.request.getfixturevalue("demo_template" if demo else "database_template")
            self.made[key] = self._make(base, builders) if builders else (base, {})
        return self.made[key]

    def _make(self, base: str, builders: tuple[Builder, ...]) -> tuple[str, dict[str, Any]]:
        from trellis.app import create_app

        folder = self.folder / f"t{len(self.made)}"
        folder.mkdir()
        if self.pg_url:
            name = f"trellis_cfg_{uuid.uuid4().hex[:8]}"
            self.copies()._run(f'CREATE DATABASE "{name}" TEMPLATE "{base}"')
            url = make_url(self.pg_url).set(database=name).render_as_string(hide_password=False)
        else:
            name = str(folder / "configured.db")
            shutil.copy(base, name)
            url = f"sqlite:///{name}"
        settings = {
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(folder / "instance"),
            "SECRET_KEY": "test-secret",
        }
        runtime = Runtime.from_settings(settings)
        app = None
        if any(arg in ("app", "client") for builder in builders for arg in builder.args):
            app = create_app(settings)
            app.config["TESTING"] = True
        made = {
            "runtime": runtime,
            "factory": self.factory(runtime),
            "app": app,
            "client": app and app.test_client(),
            "demo_crm": None,
        }
        results: dict[str, Any] = {}
        try:
            for builder in builders:
                result = builder.func(**{arg: made[arg] for arg in builder.args})
                made[builder.name] = result  # for the builders that build on this one
                for fixture_name in Builder.AT_BUILD:
                    if result is not None and result is made[fixture_name]:
                        result = BuildTime(fixture_name)
                results[builder.name] = result
        finally:
            if app is not None:
                app.extensions["trellis"].dispose()
            runtime.dispose()  # SQLite: the last connection closed checkpoints the WAL
        return name, results

    def close(self) -> None:
        if not self.pg_url:
            return
        copies = self.copies()
        for name, _results in self.made.values():
            if name.startswith("trellis_cfg_"):
                copies.forget(name)
                copies._run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
