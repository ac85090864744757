"""The routing tables: every RPC of the contract has exactly one route, found by its name."""

from __future__ import annotations

import inspect
import re

import pytest

from mlspec.endpoints import Component
from mlspec.server import app, routes, standard_methods
from mlspec.server.config import ServerConfig
from mlspec.server.services import AREA_SERVICES, area_routes, component


def full_table() -> dict[str, routes.Route]:
    table = area_routes()
    names = [s.full_name for s in app.SERVICES]
    table.update(routes.qualify(component.SERVICE, component.routes(Component("test", "0"), names)))
    return table


def test_every_rpc_of_the_contract_has_a_route() -> None:
    routes.check_complete(app.SERVICES, full_table())


def test_each_rpc_is_named_in_its_service_module_table() -> None:
    """Grepping an RPC name lands on its route: the table spells every method out."""
    modules = {m.SERVICE: m for m in (*AREA_SERVICES, component)}
    for service in app.SERVICES:
        source = inspect.getsource(modules[service.full_name])
        for method in service.methods:
            assert re.search(rf'^\s+"{method.name}": ', source, re.M), (
                f"{service.full_name}/{method.name} is not spelled out in its ROUTES table"
            )


def test_a_missing_route_stops_the_server_from_starting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    table = area_routes()
    del table["mlspec.lifecycle.v1.LifecycleService/ReportStage"]
    monkeypatch.setattr(app, "area_routes", lambda: table)
    with pytest.raises(routes.IncompleteRoutes, match="LifecycleService/ReportStage"):
        app.build_server(ServerConfig(port=0, store_url=f"sqlite:///{tmp_path}/never.db"))


def test_a_route_of_no_rpc_is_refused() -> None:
    table = full_table()
    table["mlspec.data.v1.DataService/DeleteDataset"] = routes.GET
    with pytest.raises(routes.IncompleteRoutes, match=r"routes of no RPC: .*DeleteDataset"):
        routes.check_complete(app.SERVICES, table)


def test_a_standard_route_on_a_method_of_another_shape_fails_when_bound() -> None:
    service = next(s for s in app.SERVICES if s.name == "LifecycleService")
    with pytest.raises(standard_methods.NotStandard, match="GetLineage"):
        routes.GET.bind(service.methods_by_name["GetLineage"])


def test_standard_reads_do_not_write_and_standard_writes_do() -> None:
    for name, route in full_table().items():
        method = name.rsplit("/", 1)[1]
        if route in (routes.GET, routes.LIST):
            assert not route.writes and method.startswith(("Get", "List")), name
        if route in (routes.CREATE, routes.BATCH_CREATE, routes.UPDATE):
            assert route.writes, name
