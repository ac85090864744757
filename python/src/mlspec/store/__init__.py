"""Storage of the reference service.

``mlspec.store.api`` is the interface the domain and the server speak (``Store``,
``UnitOfWork`` and the record types); ``mlspec.store.sql`` is its one implementation, on
SQLite or PostgreSQL, constructed only by the composition root (``mlspec.server.app``).
"""
