"""Property-based checks of the whole API against its own OpenAPI document (schemathesis):
no 5xx for any generated input, and every response matches the document.

The operations are checked in groups, one file each (test_fuzz_<group>.py), so that the
test processes share them out (a file stays in one process); together the files check
every operation of the document but ``DELETE /api/auth/token`` (see :func:`operations`),
each file with the tests :func:`group_tests` makes: the same settings and checks. Each file
starts from its own app with the demo CRM (conftest.py).

Every check of schemathesis runs on every operation (none is switched off). Operations that
declare configuration-dependent properties (x-configuration-dependent) keep positive data
acceptance with one documented exception: a 422 problem whose errors name only those
properties (a role, stage, field or entity type that does not exist) conforms. Likewise a
query parameter whose values the server gives out (x-issued-by-server: a list's ?after=
cursor) may be a 400 naming only it. Request bodies of text/csv and application/zip are
generated as CSV rows and config packs (csv_bodies, pack_zips), not as random bytes.
"""

from __future__ import annotations

import io
import itertools
import re
import zipfile
from collections.abc import Callable
from typing import Any

import csv_bodies
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import positive_data_acceptance

from trellis.api.blueprint import CONFIGURATION_DEPENDENT, ISSUED_BY_SERVER, is_declared

# an import's text/csv body is generated as CSV naming the entity type's columns
csv_bodies.register()

# -- config packs: the zip bodies of POST /api/packs (raw, and the multipart file part, which
# the document encodes as application/zip) are generated as packs, not as random bytes

_PACKS = itertools.count(1)
_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_LABEL = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -",
    min_size=1,
    max_size=40,
).filter(str.strip)


@st.composite
def pack_zips(draw: st.DrawFn) -> bytes:
    """A valid config pack: a manifest and an option list with generated labels and
    options. Each is a new pack with a new list, so applying it (without ``dry_run``)
    changes nothing the other cases use."""
    number = next(_PACKS)
    key = f"fuzz{number}_{draw(_WORD)}"
    options = draw(st.lists(st.tuples(_WORD, _LABEL), min_size=1, max_size=4, unique_by=_first))
    listed = {
        "key": key,
        "label": draw(_LABEL).strip(),
        "options": [{"key": f"o{k}", "label": label.strip()} for k, label in options],
    }
    manifest = {
        "name": f"fuzz{number}",
        "version": f"1.0.{draw(st.integers(0, 99))}",
        "title": draw(_LABEL).strip(),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pack.yaml", yaml.safe_dump(manifest))
        archive.writestr(f"lists/{key}.yaml", yaml.safe_dump(listed, sort_keys=False))
    return buffer.getvalue()


def _first(pair: tuple[str, str]) -> str:
    return pair[0]


schemathesis.openapi.media_type("application/zip", pack_zips())

# -- the groups of operations, one file each ------------------------------------------------

#: a record list: ``GET /api/records/<entity>``
_RECORD_LIST = re.compile(r"/api/records/[^/]+")
#: the record operations of the lead and the deal (the demo's largest entity types)
_LEAD_OR_DEAL = re.compile(r"/api/records/(lead|deal)(/|$)")

#: group -> what it holds (each operation is in exactly one: :func:`group_of`)
GROUPS = {
    "record_lists": "GET /api/records/<entity> of every entity type",
    "lead_and_deal_records": "the other record operations of leads and deals",
    "other_records": "the other record operations (contacts, companies, vacations)",
    "configuration_and_work": "everything else: auth, metamodel, packs, flows, tasks, ...",
}


def group_of(method: str, path: str) -> str:
    if path.startswith("/api/records/"):
        if method.upper() == "GET" and _RECORD_LIST.fullmatch(path):
            return "record_lists"
        if _LEAD_OR_DEAL.match(path):
            return "lead_and_deal_records"
        return "other_records"
    return "configuration_and_work"


def operations(group: str) -> Any:
    """The operations of ``group``, generated from the module's ``api_schema`` fixture."""
    assert group in GROUPS, group
    return (
        schemathesis.pytest.from_fixture("api_schema")
        # revoking the token in use would turn every later case into a 401
        .exclude(method="DELETE", path="/api/auth/token")
        .include(lambda ctx: group_of(ctx.operation.method, ctx.operation.path) == group)
    )


#: the settings of every operation's test
FUZZ_SETTINGS = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


def configuration_dependent(case) -> list[str]:  # type: ignore[no-untyped-def]
    """The body properties the operation documents as depending on the live configuration."""
    return list(case.operation.definition.raw.get(CONFIGURATION_DEPENDENT) or [])


def issued_by_server(case) -> list[str]:  # type: ignore[no-untyped-def]
    """The query parameters whose valid values the server gives out (a list's ``after``)."""
    parameters = case.operation.definition.raw.get("parameters") or []
    return [p["name"] for p in parameters if p.get(ISSUED_BY_SERVER)]


def is_unissued_value_problem(response, issued: list[str]) -> bool:  # type: ignore[no-untyped-def]
    """A 400 problem whose ``errors`` name only parameters whose values the server gives
    out: the documented answer to a well-formed cursor the list never gave out."""
    if response.status_code != 400 or not issued:
        return False
    if not response.headers.get("content-type", [""])[0].startswith("application/problem+json"):
        return False
    errors = (response.json() or {}).get("errors")
    return isinstance(errors, dict) and bool(errors) and set(errors) <= set(issued)


def is_configuration_problem(response, declared: list[str]) -> bool:  # type: ignore[no-untyped-def]
    """A 422 problem whose ``errors`` name only properties the operation declares
    configuration-dependent (``*`` is one list index or map key): the documented answer to
    well-typed data that names something the configuration does not have."""
    if response.status_code != 422:
        return False
    if not response.headers.get("content-type", [""])[0].startswith("application/problem+json"):
        return False
    errors = (response.json() or {}).get("errors")
    if not isinstance(errors, dict) or not errors:
        return False
    return all(is_declared(name, declared) for name in problem_paths(errors))


def problem_paths(errors: dict, prefix: str = "") -> list[str]:  # type: ignore[type-arg]
    """The dotted paths of a problem's ``errors``: nested objects (a conversion's errors by
    target and field, ``{"company": {"tin": [...]}}``) as ``company.tin``."""
    paths = []
    for name, value in errors.items():
        if isinstance(value, dict) and value:
            paths += problem_paths(value, f"{prefix}{name}.")
        else:
            paths.append(f"{prefix}{name}")
    return paths


def positive_data_acceptance_but_configuration(ctx, response, case):  # type: ignore[no-untyped-def]
    """schemathesis's positive data acceptance, except for the documented rule: a 422 that
    names only configuration-dependent properties of the operation conforms, and so does a
    400 naming only parameters whose values the server gives out."""
    if is_configuration_problem(response, configuration_dependent(case)):
        return None
    if is_unissued_value_problem(response, issued_by_server(case)):
        return None
    return positive_data_acceptance(ctx, response, case)


def group_tests(group: str) -> tuple[Callable[..., None], Callable[[], None]]:
    """The two tests of ``group``'s file: every operation of the group against the
    document, and the guard that its cases reached the API as the administrator. One
    function for every file, so every file's test has the same source, from which
    Hypothesis derives its derandomized examples."""
    schema = operations(group)
    reached: list[int] = []

    @schema.parametrize()
    @FUZZ_SETTINGS
    def test_api_matches_its_document(case, admin_headers) -> None:  # type: ignore[no-untyped-def]
        excluded, additional = [], []
        if configuration_dependent(case) or issued_by_server(case):
            excluded.append(positive_data_acceptance)
            additional.append(positive_data_acceptance_but_configuration)
        with csv_bodies.csv_body(case):
            response = case.call_and_validate(
                headers=admin_headers, excluded_checks=excluded, additional_checks=additional
            )
        reached.append(response.status_code)

    def test_the_cases_reached_the_api_as_the_administrator() -> None:
        """Guards the test above against passing vacuously (e.g. every case a 401)."""
        assert len(reached) > 100
        assert sum(status < 300 for status in reached) > 50

    return test_api_matches_its_document, test_the_cases_reached_the_api_as_the_administrator
