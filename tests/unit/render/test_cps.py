"""CPS grammar and decoy packet chains (reference §3.4, §3.5)."""

from __future__ import annotations

import random
import re
import struct

import pytest

from wfm_core.errors import WfmError
from wfm_core.render.cps import CPS_DIRECTIONS, packet_chain, validate_cps


@pytest.mark.parametrize(
    "expr",
    [
        "<t>",
        "<r 1>",
        "<r 1000>",
        "<rc 1000>",
        "<rd 1000>",
        "<r 0>",
        "<b 0x00>",
        "<b 0xDEADbeef>",
        "<b 0x0102><t><r 10><rc 5><rd 7>",
        "<r 2><b 0x01000001000000000000><rc 8><b 0x07696e76616c696400>",
        "<b 0x" + "ab" * 1200 + ">",  # a whole QUIC Initial: no length cap on <b>
    ],
)
def test_valid_cps_expressions(expr: str) -> None:
    validate_cps(expr)


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "hello",
        "<r 1001>",
        "<rc 1001>",
        "<rd 1001>",
        "<r 10000>",
        "<b 0xabc>",  # odd hex length
        "<b 0x>",
        "<b abcd>",
        "<b 0xzz>",
        "<t><t>",
        "<t><r 5><t>",
        "<r 10> <r 5>",  # stray space between tags
        "<r 10>x",
        "x<r 10>",
        "<r>",
        "<r -1>",
        "<r  10>",
        "<x 10>",
        "<T>",
        "<r 10",
        "<b 0x0102 >",
    ],
)
def test_invalid_cps_expressions(expr: str) -> None:
    with pytest.raises(WfmError) as exc:
        validate_cps(expr, field="awg_i2")
    assert exc.value.code == "INVALID_AWG_PARAMETER"
    assert exc.value.status == 400
    assert exc.value.detail == {"field": "awg_i2"}


def test_generic_chain() -> None:
    rng = random.Random(1)
    for _ in range(200):
        (packet,) = packet_chain("generic", 1, rng)
        match = re.fullmatch(r"<r (\d+)>", packet)
        assert match is not None
        assert 32 <= int(match.group(1)) <= 256


def test_dns_chain_is_a_query_for_a_random_invalid_name() -> None:
    rng = random.Random(2)
    lengths, qtypes = set(), set()
    for packet in packet_chain("dns", 5, rng) + packet_chain("dns", 300, rng):
        match = re.fullmatch(
            r"<r 2><b 0x01000001000000000000([0-9a-f]{2})><rc (\d+)>"
            r"<b 0x07696e76616c696400(0001|001c)0001>",
            packet,
        )
        assert match is not None, packet
        length = int(match.group(2))
        assert int(match.group(1), 16) == length  # label length byte matches the label
        assert 6 <= length <= 15
        lengths.add(length)
        qtypes.add(match.group(3))
        validate_cps(packet)
    assert lengths == set(range(6, 16))
    assert qtypes == {"0001", "001c"}
    assert bytes.fromhex("07696e76616c696400")[1:8] == b"invalid"


def test_stun_chain_is_a_binding_request_with_software() -> None:
    rng = random.Random(3)
    seen = set()
    for packet in packet_chain("stun", 200, rng):
        match = re.fullmatch(
            r"<b 0x0001([0-9a-f]{4})2112a442><r 12><b 0x8022([0-9a-f]{4})><rc (\d+)>", packet
        )
        assert match is not None, packet
        software = int(match.group(3))
        assert int(match.group(2), 16) == software
        assert int(match.group(1), 16) == software + 4  # message length = attr header + value
        seen.add(software)
        validate_cps(packet)
    assert seen == {4, 8, 12, 16}


def test_rtp_chain_is_correlated() -> None:
    packets = packet_chain("rtp", 5, random.Random(4))
    assert len(packets) == 5
    headers = []
    for packet in packets:
        match = re.fullmatch(r"<b 0x([0-9a-f]{24})><r 160>", packet)
        assert match is not None, packet
        headers.append(struct.unpack("!BBHII", bytes.fromhex(match.group(1))))
        validate_cps(packet)
    first = headers[0]
    for i, (vpxcc, mpt, seq, ts, ssrc) in enumerate(headers):
        assert vpxcc == 0x80  # RTP version 2
        assert mpt == 0  # PCMU
        assert seq == (first[2] + i) & 0xFFFF
        assert ts == (first[3] + 160 * i) & 0xFFFFFFFF
        assert ssrc == first[4]


def test_quic_chain_is_one_initial_packet() -> None:
    for count in (1, 3, 5):
        packets = packet_chain("quic", count, random.Random(count))
        assert len(packets) == 1
        match = re.fullmatch(r"<b 0x([0-9a-f]+)>", packets[0])
        assert match is not None
        assert len(match.group(1)) == 2400
        raw = bytes.fromhex(match.group(1))
        assert raw[0] & 0xF0 == 0xC0  # long header, Initial
        assert raw[1:5] == b"\x00\x00\x00\x01"
        validate_cps(packets[0])


@pytest.mark.parametrize("direction", [d for d in CPS_DIRECTIONS if d != "quic"])
@pytest.mark.parametrize("count", [1, 3, 5])
def test_chain_lengths(direction: str, count: int) -> None:
    packets = packet_chain(direction, count, random.Random(5))
    assert len(packets) == count
    for packet in packets:
        validate_cps(packet)


def test_chains_are_deterministic_for_a_seed() -> None:
    for direction in CPS_DIRECTIONS:
        assert packet_chain(direction, 3, random.Random(9)) == packet_chain(
            direction, 3, random.Random(9)
        )


def test_default_rng_works() -> None:
    assert len(packet_chain("generic", 2)) == 2


def test_bad_direction_and_count() -> None:
    with pytest.raises(WfmError) as exc:
        packet_chain("http", 1)
    assert exc.value.code == "INVALID_AWG_PARAMETER"
    assert exc.value.detail == {"field": "direction"}
    with pytest.raises(WfmError) as exc:
        packet_chain("generic", 0)
    assert exc.value.code == "INVALID_AWG_PARAMETER"
