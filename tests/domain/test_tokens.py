"""Workspace names and token texts: what is accepted, on any input (hypothesis)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlspec import errors
from mlspec.domain.access.tokens import (
    check_workspace,
    issue_token,
    matches,
    parse_token,
)

ALLOWED = set(string.ascii_lowercase + string.digits + "-")


@given(st.text(max_size=80))
def test_a_workspace_name_is_a_dns_label(name: str) -> None:
    valid = 1 <= len(name) <= 63 and set(name) <= ALLOWED and name[0] != "-" and name[-1] != "-"
    if valid:
        assert check_workspace(name) == name
    else:
        with pytest.raises(errors.InvalidArgument) as raised:
            check_workspace(name)
        assert raised.value.reason == "INVALID_WORKSPACE"
        assert raised.value.violations[0].field == "workspace"


@pytest.mark.parametrize(
    "name", ["équipe", "\uff54\uff45\uff41\uff4d", "team\u200b", "team\n", "../x", ""]
)
def test_lookalikes_and_paths_are_not_workspaces(name: str) -> None:
    with pytest.raises(errors.InvalidArgument):
        check_workspace(name)


def test_an_issued_token_parses_and_only_its_secret_matches() -> None:
    issued = issue_token()
    parsed = parse_token(issued.text)
    assert parsed is not None and parsed[0] == issued.token_id
    assert matches(parsed[1], issued.secret_hash)
    other = parse_token(issue_token().text)
    assert other is not None and not matches(other[1], issued.secret_hash)
    assert issued.secret_hash not in issued.text  # the stored hash is not the secret


@given(st.text(max_size=100))
def test_random_text_is_never_a_token_unless_well_formed(text: str) -> None:
    parsed = parse_token(text)
    if parsed is not None:
        assert text == f"mlspec_{parsed[0]}_{parsed[1]}"
