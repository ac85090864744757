"""The rules of the reference service, grouped like the contract's areas; no gRPC, no SQL.

- ``common/``: SPEC section 2 for every kind (``resources.Resources``), the kind registry
  (``kinds``), names, ``google.api.field_behavior``, well-formed values, message filters;
- ``data/``, ``pipelines/``, ``tracking/``, ``models/``, ``lifecycle/``, ``logging/``,
  ``monitoring/``: the rules of each area, beside each other;
- ``kind_rules``: the per-kind rules table, the one place that says which kinds have
  rules of their own and where they are;
- ``clock``: the service's time.

The domain speaks to storage only through ``mlspec.store.api``.
"""
