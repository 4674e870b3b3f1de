"""The consent question and how answers are read (the transport is covered by integration)."""

from __future__ import annotations

from mcp_types import ElicitResult

from wfm_mcp.consent import CONFIRMATION_SCHEMA, _decide, _state, consent_message
from wfm_mcp.server import request_state_key


def test_message_carries_summary_and_impact() -> None:
    message = consent_message("Delete config cfg_1", "Everything goes.")
    assert message == (
        "Delete config cfg_1\nImpact: Everything goes.\nAllow this WG Free Mesh write operation?"
    )


def test_only_an_explicit_yes_is_consent() -> None:
    assert _decide(ElicitResult(action="accept", content={"confirmed": True})) == "accepted"
    for answer in (
        ElicitResult(action="accept", content={"confirmed": False}),
        ElicitResult(action="accept", content={"confirmed": "true"}),
        ElicitResult(action="accept", content={}),
        ElicitResult(action="accept"),
        ElicitResult(action="decline"),
        ElicitResult(action="cancel"),
        None,
    ):
        assert _decide(answer) == "rejected", answer


def test_state_names_the_question() -> None:
    assert _state("a") == _state("a") != _state("b")
    assert CONFIRMATION_SCHEMA["required"] == ["confirmed"]


def test_request_state_key_is_derived() -> None:
    key = request_state_key("secret")
    assert len(key) == 32 and key == request_state_key("secret") != request_state_key("other")
    assert b"secret" not in key
