"""The base error types: what went wrong, in terms a caller can act on.

The domain and the store raise these (both may import this module); exactly one place (``mlspec.server.errors``) turns them into gRPC
status codes with ``google.rpc`` details. Each error carries a stable machine-readable
``reason`` (for ``ErrorInfo``), and, where it applies, the resource it is about (for
``ResourceInfo``) and per-field violations (for ``BadRequest``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: its path (``dataset.meta.name``) and what is wrong."""

    field: str
    description: str


@dataclass
class DomainError(Exception):
    """Base of every error the domain reports to callers."""

    message: str
    reason: str = "ERROR"
    resource_type: str = ""
    resource_name: str = ""
    violations: list[FieldViolation] = field(default_factory=list)

    def __str__(self) -> str:
        """Returns the human-readable message."""
        return self.message


class InvalidArgument(DomainError):
    """The request is malformed or breaks a rule of the contract (INVALID_ARGUMENT)."""


class NotFound(DomainError):
    """The referenced resource does not exist or is not visible (NOT_FOUND)."""


class AlreadyExists(DomainError):
    """A resource with the same identity already exists (ALREADY_EXISTS)."""


class FailedPrecondition(DomainError):
    """The system is not in a state that allows the operation (FAILED_PRECONDITION)."""


class Aborted(DomainError):
    """A concurrency conflict, such as an etag mismatch (ABORTED)."""


class ResourceExhausted(DomainError):
    """A limit of the server is reached; try again later (RESOURCE_EXHAUSTED)."""


class Unauthenticated(DomainError):
    """The call carries no valid credentials (UNAUTHENTICATED)."""


class PermissionDenied(DomainError):
    """The caller is known but may not do this (PERMISSION_DENIED)."""


def invalid(field_path: str, description: str, reason: str = "INVALID_FIELD") -> InvalidArgument:
    """Builds an InvalidArgument for a single bad field."""
    return InvalidArgument(
        f"{field_path}: {description}",
        reason=reason,
        violations=[FieldViolation(field_path, description)],
    )


def too_many(path: str, count: int, limit: int) -> InvalidArgument:
    """INVALID_ARGUMENT for a list over the size the contract allows in one call."""
    return InvalidArgument(
        f"{path} holds {count} items; at most {limit} are accepted in one call",
        reason="BATCH_TOO_LARGE",
        violations=[FieldViolation(path, f"holds {count} items; at most {limit}")],
    )


def not_valid(what: str, violations: list[FieldViolation], reason: str) -> InvalidArgument:
    """INVALID_ARGUMENT for several field violations at once, all named in the message."""
    return InvalidArgument(
        f"{what}: " + "; ".join(f"{v.field} {v.description}" for v in violations),
        reason=reason,
        violations=violations,
    )
