"""The standard endpoints of a pipeline component: /ok, /varz and /metrics.

Every component of an ML workflow answers the same three questions the same way: is it
healthy (``/ok``), what is it and how is it set up (``/varz``), and what has it measured
(``/metrics``, Prometheus text exposition). ``Component`` holds the answers;
``serve_http`` publishes them over HTTP; the metadata service also returns them through
``mlspec.monitoring.v1.ComponentService``. This package depends only on the contract and
``prometheus-client``, so the server and the client SDK both use it.
"""

from __future__ import annotations

from mlspec.endpoints.component import Component, Health, flatten
from mlspec.endpoints.http import EndpointServer, serve_http

__all__ = ["Component", "EndpointServer", "Health", "flatten", "serve_http"]
