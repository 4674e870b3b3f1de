"""AmneziaWG CPS (custom packet signature) expressions: grammar check and decoy packet chains."""

from __future__ import annotations

import random
import re
import struct

from wfm_core.errors import WfmError
from wfm_core.render.quic import quic_initial

CPS_DIRECTIONS = ("generic", "dns", "stun", "rtp", "quic")
CPS_MAX_RANDOM_LEN = 1000

# One tag at a time: <b 0xHEX>, <t>, <r N>, <rc N>, <rd N>. Exactly one space, no stray text.
_TAG = re.compile(r"<(?:b 0x(?P<hex>[0-9A-Fa-f]*)|(?P<t>t)|(?P<kind>r|rc|rd) (?P<n>[0-9]{1,4}))>")


def _invalid(message: str, field: str | None) -> WfmError:
    detail = {"field": field} if field else {}
    return WfmError("INVALID_AWG_PARAMETER", message, detail=detail)


def validate_cps(expr: str, *, field: str | None = None) -> None:
    """Raise INVALID_AWG_PARAMETER unless `expr` is a non-empty concatenation of CPS tags."""
    label = field or "CPS expression"
    if not isinstance(expr, str) or not expr:
        raise _invalid(f"{label} must be a non-empty CPS expression", field)
    pos = 0
    seen_timestamp = False
    while pos < len(expr):
        match = _TAG.match(expr, pos)
        if match is None:
            raise _invalid(f"{label} has an invalid CPS tag at position {pos}", field)
        hex_digits = match.group("hex")
        if hex_digits is not None:
            if not hex_digits or len(hex_digits) % 2:
                raise _invalid(f"{label}: <b> needs a non-empty even-length hex string", field)
        elif match.group("t"):
            if seen_timestamp:
                raise _invalid(f"{label}: <t> may appear at most once", field)
            seen_timestamp = True
        elif int(match.group("n")) > CPS_MAX_RANDOM_LEN:
            kind = match.group("kind")
            raise _invalid(f"{label}: <{kind} N> needs N <= {CPS_MAX_RANDOM_LEN}", field)
        pos = match.end()


def _generic_packet(rng: random.Random) -> str:
    return f"<r {rng.randint(32, 256)}>"


def _dns_packet(rng: random.Random) -> str:
    # Query header (random id, RD, one question), one random label, ".invalid", type A/AAAA, IN.
    label_len = rng.randint(6, 15)
    qtype = rng.choice(("0001", "001c"))
    return (
        f"<r 2><b 0x01000001000000000000{label_len:02x}><rc {label_len}>"
        f"<b 0x07696e76616c696400{qtype}0001>"
    )


def _stun_packet(rng: random.Random) -> str:
    # Binding request with magic cookie, random transaction id and a SOFTWARE attribute.
    software_len = rng.choice((4, 8, 12, 16))
    return (
        f"<b 0x0001{software_len + 4:04x}2112a442><r 12>"
        f"<b 0x8022{software_len:04x}><rc {software_len}>"
    )


def _rtp_chain(count: int, rng: random.Random) -> list[str]:
    # RTP v2 / PCMU (PT 0) with sequence, timestamp and SSRC correlated across the chain.
    seq = rng.getrandbits(16)
    timestamp = rng.getrandbits(32)
    ssrc = rng.getrandbits(32)
    packets = []
    for i in range(count):
        header = struct.pack(
            "!BBHII", 0x80, 0, (seq + i) & 0xFFFF, (timestamp + 160 * i) & 0xFFFFFFFF, ssrc
        )
        packets.append(f"<b 0x{header.hex()}><r 160>")
    return packets


def packet_chain(direction: str, count: int, rng: random.Random | None = None) -> list[str]:
    """`count` CPS packets mimicking `direction`; quic always yields exactly one packet."""
    rng = rng or random.SystemRandom()
    if count < 1:
        raise WfmError("INVALID_AWG_PARAMETER", "packet count must be at least 1")
    if direction == "generic":
        return [_generic_packet(rng) for _ in range(count)]
    if direction == "dns":
        return [_dns_packet(rng) for _ in range(count)]
    if direction == "stun":
        return [_stun_packet(rng) for _ in range(count)]
    if direction == "rtp":
        return _rtp_chain(count, rng)
    if direction == "quic":
        # An authenticated Initial cannot hold random tags, and one per handshake is realistic.
        return [f"<b 0x{quic_initial(rng).hex()}>"]
    raise WfmError(
        "INVALID_AWG_PARAMETER",
        f"direction must be one of {', '.join(CPS_DIRECTIONS)}",
        detail={"field": "direction"},
    )
