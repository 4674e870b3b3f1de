"""Key generation, X25519 derivation and key validation (reference.md §3.7)."""

from __future__ import annotations

import base64
import hashlib
import random

import pytest

from wfm_core.errors import WfmError
from wfm_core.render.keys import (
    generate_keypair,
    generate_private_key,
    generate_psk,
    public_key_from_private,
    validate_key,
)

VECTOR_PRIVATE = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
VECTOR_PUBLIC = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="


def test_x25519_vector() -> None:
    assert public_key_from_private(VECTOR_PRIVATE) == VECTOR_PUBLIC


def test_public_key_is_not_the_legacy_sha256_derivation() -> None:
    legacy = base64.b64encode(hashlib.sha256(VECTOR_PRIVATE.encode()).digest()).decode()
    assert public_key_from_private(VECTOR_PRIVATE) != legacy


def test_public_key_tolerates_surrounding_whitespace() -> None:
    assert public_key_from_private(f"  {VECTOR_PRIVATE}\n") == VECTOR_PUBLIC


def test_generated_private_key_is_32_random_bytes() -> None:
    keys = {generate_private_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert len(key) == 44
        assert len(base64.b64decode(key, validate=True)) == 32


def test_seeded_rng_is_deterministic() -> None:
    assert generate_private_key(random.Random(1)) == generate_private_key(random.Random(1))
    assert generate_psk(random.Random(2)) == generate_psk(random.Random(2))
    assert generate_private_key(random.Random(1)) != generate_private_key(random.Random(2))


def test_seeded_rng_uses_its_bytes() -> None:
    expected = base64.b64encode(random.Random(5).randbytes(32)).decode()
    assert generate_private_key(random.Random(5)) == expected


def test_keypair_matches_derivation() -> None:
    private_key, public_key = generate_keypair()
    assert public_key == public_key_from_private(private_key)
    assert len(base64.b64decode(public_key)) == 32


def test_psk_is_32_bytes_base64() -> None:
    psk = generate_psk()
    assert len(base64.b64decode(psk, validate=True)) == 32
    assert psk != generate_psk()


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not base64!",
        "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC",  # truncated
        base64.b64encode(b"x" * 31).decode(),
        base64.b64encode(b"x" * 33).decode(),
        "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo",  # missing padding
        "dwdtCnMYpX08FsFyUbJm Rd9ML4frwJkqsXf7pR25LCo=",  # inner space
        "ä" * 44,
    ],
)
def test_bad_private_key_is_invalid_key(bad: str) -> None:
    with pytest.raises(WfmError) as info:
        public_key_from_private(bad)
    assert info.value.code == "INVALID_KEY"
    assert info.value.status == 400
    assert info.value.detail == {"field": "private_key"}


def test_validate_key_strips_and_returns_key() -> None:
    assert validate_key(f" {VECTOR_PUBLIC} \n", "public_key") == VECTOR_PUBLIC


@pytest.mark.parametrize("bad", [None, "", "   ", "abc=", base64.b64encode(b"k" * 16).decode()])
def test_validate_key_rejects_with_field(bad: str | None) -> None:
    with pytest.raises(WfmError) as info:
        validate_key(bad, "preshared_key")
    assert info.value.code == "INVALID_KEY"
    assert info.value.detail == {"field": "preshared_key"}
