"""What users type for a kind and a reference: every spelling of every kind, any REF text.

Parsers of user input get properties: every way of writing a kind names it, any other
word is refused with the list of kinds, and any text is either a reference that reads
back as itself or a ``BadReference`` (never another exception).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlspec.cli.model_versions import canonical, model_version_ref, split_model_version
from mlspec.client.kinds import KINDS, UnknownKind, kind_names, parse_kind
from mlspec.client.names import BadReference, Ref, is_id, parse_ref
from mlspec.common.v1.reference_pb2 import ResourceKind

NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True)
VERSIONS = st.from_regex(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,12}", fullmatch=True)


def test_every_resource_kind_of_the_contract_has_a_spelling() -> None:
    numbers = {kind.number for kind in KINDS}
    assert numbers == set(ResourceKind.values()) - {ResourceKind.RESOURCE_KIND_UNSPECIFIED}
    assert "dataset-version" in kind_names() and "stage-report" in kind_names()


def spellings(name: str, plural: str, enum_name: str) -> list[str]:
    words = name.split("-")
    return [
        name,
        plural,
        name.upper(),
        "_".join(words),
        "".join(w.capitalize() for w in words),
        " ".join(words).title(),
        enum_name,
        enum_name.lower(),
        plural.replace("-", "_").upper(),
    ]


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_each_kind_is_named_by_every_usual_spelling(kind: object) -> None:
    assert hasattr(kind, "name")
    for word in spellings(kind.name, kind.plural, kind.enum_name):  # type: ignore[attr-defined]
        assert parse_kind(word) is kind, word


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_any_other_word_is_refused_with_the_list_of_kinds(word: str) -> None:
    try:
        kind = parse_kind(word)
    except UnknownKind as exc:
        message = str(exc)
        assert "\n" not in message
        assert message.startswith(f"unknown kind {word!r}")
        assert message.endswith(", ".join(kind_names()))
        return
    squashed = re.sub(r"[\s_-]", "", word.lower())  # case and separators do not matter
    assert squashed.removeprefix("resourcekind") in {
        re.sub(r"[\s_-]", "", w.lower()) for w in (kind.name, kind.plural, kind.label)
    }


def test_a_near_miss_gets_a_suggestion() -> None:
    with pytest.raises(UnknownKind, match=r"did you mean 'dataset-version'\?"):
        parse_kind("dataset-verison")


@st.composite
def refs(draw: st.DrawFn) -> Ref:
    depth = draw(st.integers(1, 3))
    ref: Ref | None = None
    for level in range(depth):
        version = draw(VERSIONS) if level == depth - 1 and draw(st.booleans()) else ""
        ref = Ref(draw(NAMES), version, ref)
    assert ref is not None
    return ref


@settings(max_examples=300, deadline=None)
@given(refs())
def test_a_reference_reads_back_as_itself(ref: Ref) -> None:
    assert parse_ref(str(ref)) == ref
    assert str(parse_ref(str(ref))) == str(ref)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab1-_/@.+ :é\n\x00"), max_size=25))
def test_any_text_is_a_reference_or_a_bad_reference(text: str) -> None:
    try:
        ref = parse_ref(text)
    except BadReference as exc:
        assert "\n" not in str(exc).replace(repr(text), "")
        return
    assert str(ref) == text


def test_the_forms_of_a_reference() -> None:
    assert parse_ref("churn") == Ref("churn")
    assert parse_ref("churn/train-7") == Ref("train-7", "", Ref("churn"))
    assert parse_ref("churn-xgb@7.0.0") == Ref("churn-xgb", "7.0.0")
    assert is_id("4c8e1f2a-7b3d-4a9e-8f10-2d6c5b9a1e07") and not is_id("churn")
    for bad in ["", "/x", "x/", "-x", "x@", "x@@1", "a b", "a/b/c/d/e"]:
        with pytest.raises(BadReference):
            parse_ref(bad)


@settings(max_examples=200, deadline=None)
@given(NAMES, VERSIONS)
def test_a_model_version_is_the_same_by_either_spelling(name: str, version: str) -> None:
    at, colon = f"{name}@{version}", f"{name}:{version}"
    assert split_model_version(at) == split_model_version(colon) == (name, version)
    assert canonical(colon) == canonical(at) == at
    assert model_version_ref(colon) == model_version_ref(at)
    assert model_version_ref(at).kind == ResourceKind.RESOURCE_KIND_MODEL
    assert parse_ref(canonical(colon)) == Ref(name, version)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab1-_/@.+ :é\n\x00"), max_size=25))
def test_any_text_is_a_model_version_an_id_or_a_bad_reference(text: str) -> None:
    try:
        split = split_model_version(text)
    except BadReference as exc:
        assert "not a model version" in str(exc) and ("@" in text or ":" in text)
        return
    if split is None:
        assert model_version_ref(text).id == text and canonical(text) == text
    else:
        assert canonical(text) == "@".join(split) and parse_ref(canonical(text)).version


def test_the_forms_of_a_model_version() -> None:
    ident = "4c8e1f2a-7b3d-4a9e-8f10-2d6c5b9a1e07"
    assert model_version_ref(ident).kind == ResourceKind.RESOURCE_KIND_MODEL_VERSION
    assert model_version_ref("churn-xgb:7.0.0").version == "7.0.0"
    for bad in ["churn@", ":7", "a@b:c", "a:b:c", "a b@1"]:
        with pytest.raises(BadReference, match="NAME@VERSION"):
            model_version_ref(bad)
