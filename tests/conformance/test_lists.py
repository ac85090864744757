"""List methods (issue 3 item 6): page tokens, filters, order, and bad input that must
never become INTERNAL."""

from __future__ import annotations

import base64
import json
import string
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .builders import (
    K_DATASET,
    T0,
    archive,
    dataset,
    deprecate,
    experiment,
    model,
    model_version,
    report,
    run,
)
from .engine import Absent as NoToken
from .engine import Case, Client, Ids, Len, Present, Step, fails, ok, run_case

LIST = "DataService.ListDatasets"


def three_datasets() -> list[Step]:
    return [
        dataset("churn", save="a", labels={"team": "risk", "tier": "gold"}),
        dataset("fraud", save="b", labels={"team": "ops"}),
        dataset("sales", save="c"),
    ]


A, B, C = "$a.dataset.meta.id", "$b.dataset.meta.id", "$c.dataset.meta.id"


def filtered(case_id: str, expr: str, ids: list[str]) -> Case:
    return Case(
        case_id,
        [*three_datasets(), ok(LIST, {"filter": expr}, expect={"datasets": Ids(ids)})],
    )


def bad_filter(case_id: str, expr: str) -> Case:
    return Case(
        case_id,
        [dataset("churn"), fails(LIST, {"filter": expr}, "INVALID_ARGUMENT", field="filter")],
    )


PAGES = [
    Case(
        "three pages of two walk every dataset once and the last page has no token",
        [
            *three_datasets(),
            dataset("d4", save="d"),
            dataset("d5", save="e"),
            ok(
                LIST,
                {"page_size": 2},
                save="p1",
                expect={"datasets": Len(2), "next_page_token": Present()},
            ),
            ok(
                LIST,
                {"page_size": 2, "page_token": "$p1.next_page_token"},
                save="p2",
                expect={"datasets": Len(2), "next_page_token": Present()},
            ),
            ok(
                LIST,
                {"page_size": 2, "page_token": "$p2.next_page_token"},
                expect={"datasets": Len(1), "next_page_token": NoToken()},
            ),
        ],
    ),
    Case(
        "a page size of 0 returns everything up to the default size",
        [
            *three_datasets(),
            ok(LIST, {}, expect={"datasets": Ids([A, B, C]), "next_page_token": NoToken()}),
        ],
    ),
    Case(
        "a page size above 1000 is treated as 1000",
        [*three_datasets(), ok(LIST, {"page_size": 5000}, expect={"datasets": Len(3)})],
    ),
    Case(
        "a negative page size is rejected",
        [fails(LIST, {"page_size": -1}, "INVALID_ARGUMENT", field="page_size")],
    ),
    Case(
        "a page token the server did not issue is rejected",
        [fails(LIST, {"page_token": "not-a-token"}, "INVALID_ARGUMENT", field="page_token")],
    ),
    Case(
        "a page token reused with a different filter is rejected",
        [
            *three_datasets(),
            ok(LIST, {"page_size": 1}, save="p1"),
            fails(
                LIST,
                {"page_size": 1, "page_token": "$p1.next_page_token", "filter": 'name = "churn"'},
                "INVALID_ARGUMENT",
                field="page_token",
            ),
        ],
    ),
    Case(
        "a page token reused with a different order is rejected",
        [
            *three_datasets(),
            ok(LIST, {"page_size": 1}, save="p1"),
            fails(
                LIST,
                {"page_size": 1, "page_token": "$p1.next_page_token", "order_by": "name desc"},
                "INVALID_ARGUMENT",
                field="page_token",
            ),
        ],
    ),
    Case(
        "a page token of one list method is rejected by another",
        [
            *three_datasets(),
            ok(LIST, {"page_size": 1}, save="p1"),
            fails(
                "ModelsService.ListModels",
                {"page_size": 1, "page_token": "$p1.next_page_token"},
                "INVALID_ARGUMENT",
                field="page_token",
            ),
        ],
    ),
]

FILTERS = [
    filtered("a filter on name finds that dataset", 'name = "fraud"', [B]),
    filtered("a filter on name matches case-insensitively", 'name = "FRAUD"', [B]),
    filtered("a filter on a label value finds the labelled datasets", 'labels.team = "risk"', [A]),
    filtered("a label presence filter finds every dataset with the label", "labels:team", [A, B]),
    filtered("a negated label presence filter finds the others", "NOT labels:team", [C]),
    filtered("OR joins two conditions", 'labels.team = "risk" OR labels.team = "ops"', [A, B]),
    filtered("AND needs both conditions", 'labels.team = "risk" AND labels.tier = "gold"', [A]),
    filtered(
        "parentheses group conditions",
        '(name = "sales" OR name = "fraud") AND NOT labels:team',
        [C],
    ),
    filtered("a label filter with != excludes that value", 'labels.team != "risk"', [B, C]),
    filtered(
        "create_time after an old RFC 3339 time finds everything",
        'create_time > "2000-01-01T00:00:00Z"',
        [A, B, C],
    ),
    filtered(
        "create_time after a future time finds nothing", 'create_time > "2999-01-01T00:00:00Z"', []
    ),
    filtered("a status filter on ACTIVE finds active datasets", "status = ACTIVE", [A, B, C]),
    filtered(
        "the filter example of the contract on meta.labels works",
        'meta.labels.team = "risk"',
        [A],
    ),
    Case(
        "a status filter with show_deprecated finds only the deprecated dataset",
        [
            *three_datasets(),
            deprecate(K_DATASET, A),
            ok(
                LIST,
                {"filter": "status = DEPRECATED", "show_deprecated": True},
                expect={"datasets": Ids([A])},
            ),
        ],
    ),
    Case(
        "show_archived and show_deprecated together list every status",
        [
            *three_datasets(),
            deprecate(K_DATASET, A),
            archive(K_DATASET, B),
            ok(
                LIST,
                {"show_archived": True, "show_deprecated": True},
                expect={"datasets": Ids([A, B, C])},
            ),
        ],
    ),
    bad_filter("a filter with a dangling operator is a syntax error", "name ="),
    bad_filter("a filter with an unclosed parenthesis is a syntax error", '(name = "a"'),
    bad_filter("a filter with a doubled operator is a syntax error", 'name == "a"'),
    bad_filter("a filter of a lone keyword is a syntax error", "AND"),
    bad_filter("a filter with an unterminated string is a syntax error", 'name = "churn'),
    bad_filter("a filter on an unknown field is rejected", 'colour = "red"'),
    bad_filter(
        "a filter comparing create_time with a non-time is rejected", 'create_time > "yesterday"'
    ),
    bad_filter("a filter on an unknown status is rejected", "status = LOST"),
    Case(
        "ordering by name descending reverses the names",
        [
            *three_datasets(),
            ok(
                LIST,
                {"order_by": "name desc"},
                expect={"datasets.0.meta.name": "sales", "datasets.2.meta.name": "churn"},
            ),
        ],
    ),
    Case(
        "ordering by the contract's example meta.create_time desc works",
        [
            *three_datasets(),
            ok(LIST, {"order_by": "meta.create_time desc"}, expect={"datasets.0.meta.id": C}),
        ],
    ),
    Case(
        "ordering by an unknown field is rejected",
        [fails(LIST, {"order_by": "colour"}, "INVALID_ARGUMENT", field="order_by")],
    ),
]

RUN_ID = "$run.run.meta.id"
PER_KIND = [
    Case(
        "stage reports are listed by the stage field of the request",
        [
            experiment(),
            run(),
            model(),
            model_version(),
            report(save="r1"),
            ok(
                "LifecycleService.ReportStage",
                {
                    "stage_report": {
                        "stage": "LIFECYCLE_STAGE_DATA_INGESTION",
                        "run_id": RUN_ID,
                        "start_time": T0,
                        # A skipped stage carries what is known: no Required payload fields.
                        "status": "STAGE_REPORT_STATUS_SKIPPED",
                        "data_ingestion": {},
                    }
                },
                save="r2",
            ),
            ok(
                "LifecycleService.ListStageReports",
                {"stage": "LIFECYCLE_STAGE_MODEL_TRAINING"},
                expect={"stage_reports": Ids(["$r1.stage_report.meta.id"])},
            ),
            ok(
                "LifecycleService.ListStageReports",
                {"filter": "stage = LIFECYCLE_STAGE_DATA_INGESTION"},
                expect={"stage_reports": Ids(["$r2.stage_report.meta.id"])},
            ),
        ],
    ),
    Case(
        "stage reports are listed by run through run_id and through a filter",
        [
            experiment(),
            run(),
            model(),
            model_version(),
            run(save="run2"),
            report(save="r1"),
            report(save="r2", run_id="$run2.run.meta.id"),
            ok(
                "LifecycleService.ListStageReports",
                {"run_id": RUN_ID},
                expect={"stage_reports": Ids(["$r1.stage_report.meta.id"])},
            ),
            ok(
                "LifecycleService.ListStageReports",
                {"filter": 'run_id = "${run2.run.meta.id}"'},
                expect={"stage_reports": Ids(["$r2.stage_report.meta.id"])},
            ),
        ],
    ),
    Case(
        "runs are listed by experiment",
        [
            experiment(),
            experiment("other", save="exp2"),
            run(),
            run(save="run2", experiment_id="$exp2.experiment.meta.id"),
            ok(
                "TrackingService.ListRuns",
                {"experiment_ids": ["$exp.experiment.meta.id"]},
                expect={"runs": Ids([RUN_ID])},
            ),
        ],
    ),
]

CASES = PAGES + FILTERS + PER_KIND


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_list(client: Client, case: Case) -> None:
    run_case(client, case)


def test_pages_stay_correct_while_rows_are_inserted(client: Client) -> None:
    """Every dataset that existed before the walk is seen exactly once."""
    before = {
        client.ok("DataService.CreateDataset", {"dataset": {"meta": {"name": f"d{i}"}}})["dataset"][
            "meta"
        ]["id"]
        for i in range(7)
    }
    seen: list[str] = []
    token = ""
    for page in range(10):
        body = {"page_size": 2, "page_token": token}
        listed = client.ok(LIST, body)
        seen.extend(d["meta"]["id"] for d in listed.get("datasets", []))
        client.ok("DataService.CreateDataset", {"dataset": {"meta": {"name": f"new{page}"}}})
        token = listed.get("next_page_token", "")
        if not token:
            break
    assert before <= set(seen), f"missed {before - set(seen)}"
    assert len(seen) == len(set(seen)), "a dataset was returned twice"


def _tampered(token: str) -> list[str]:
    """Variants of a real token a careless or hostile client could send."""
    variants = [token[:-2], token + "AA", token[::-1], "A" * len(token)]
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        return variants
    if isinstance(payload, dict):
        for key in list(payload):
            values: list[Any] = ["x", None, [], {"a": 1}, 1e308, -1]
            for value in values:
                changed = {**payload, key: value}
                variants.append(base64.urlsafe_b64encode(json.dumps(changed).encode()).decode())
    return variants


def test_a_tampered_page_token_is_invalid_argument(client: Client) -> None:
    for i in range(3):
        client.ok("DataService.CreateDataset", {"dataset": {"meta": {"name": f"d{i}"}}})
    token = client.ok(LIST, {"page_size": 1})["next_page_token"]
    codes = {}
    for variant in _tampered(token):
        outcome = client.call(LIST, {"page_size": 1, "page_token": variant})
        codes[variant] = outcome.code.name
    bad = {v: c for v, c in codes.items() if c not in ("OK", "INVALID_ARGUMENT")}
    assert not bad, f"tampered page tokens answered {bad}"


FILTER_WORDS = [
    "name",
    "labels",
    "labels.team",
    "create_time",
    "status",
    "meta",
    "AND",
    "OR",
    "NOT",
    "-",
    "=",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    ":",
    "(",
    ")",
    '"x"',
    "'y'",
    "*",
    "1",
    "1e999",
    '"2020-01-01T00:00:00Z"',
    "ACTIVE",
    "stage",
    "run_id",
    ".",
    '"',
    "\\",
    "%",
    "_",
]
garbage = st.text(max_size=80) | st.text(alphabet=string.printable, max_size=80)
filters = garbage | st.lists(st.sampled_from(FILTER_WORDS), max_size=12).map(" ".join)
never = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _assert_not_internal(client: Client, method: str, body: dict[str, Any]) -> None:
    outcome = client.call(method, body)
    assert outcome.code not in never, f"{method} {body!r} -> {outcome.code.name}: {outcome.message}"


@FUZZ
@given(expr=filters, order=st.sampled_from(["", "name", "create_time desc"]) | garbage)
def test_garbage_filters_are_never_internal(client: Client, expr: str, order: str) -> None:
    _assert_not_internal(client, LIST, {"filter": expr, "order_by": order})
    _assert_not_internal(client, "LifecycleService.ListStageReports", {"filter": expr})


@FUZZ
@given(name=garbage)
def test_garbage_names_are_never_internal(client: Client, name: str) -> None:
    _assert_not_internal(client, "DataService.CreateDataset", {"dataset": {"meta": {"name": name}}})
    _assert_not_internal(client, "DataService.GetDataset", {"name": name})
    _assert_not_internal(
        client,
        "ModelsService.CreateModel",
        {"model": {"meta": {"name": name, "labels": {name: name}}}},
    )


@FUZZ
@given(token=garbage | st.binary(max_size=60).map(lambda b: base64.urlsafe_b64encode(b).decode()))
def test_garbage_page_tokens_are_never_internal(client: Client, token: str) -> None:
    _assert_not_internal(client, LIST, {"page_token": token})
    _assert_not_internal(client, "TrackingService.ListRuns", {"page_token": token, "page_size": 3})


@FUZZ
@given(resource_id=garbage, kind=st.integers(min_value=0, max_value=25))
def test_garbage_ids_are_never_internal(client: Client, resource_id: str, kind: int) -> None:
    _assert_not_internal(client, "DataService.GetDataset", {"id": resource_id})
    _assert_not_internal(
        client, "ResourceService.ArchiveResource", {"resource": {"kind": kind, "id": resource_id}}
    )
    _assert_not_internal(
        client, "LifecycleService.GetLineage", {"start": {"kind": kind, "id": resource_id}}
    )
    _assert_not_internal(
        client,
        "DataService.CreateDatasetVersion",
        {"dataset_version": {"dataset_id": resource_id, "definition": {"data_path": {}}}},
    )
