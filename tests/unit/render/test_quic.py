"""QUIC v1 Initial builder, checked by an independent RFC 9001 receiver written here."""

from __future__ import annotations

import hashlib
import hmac
import random
import re

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wfm_core.render.quic import initial_client_keys, quic_initial

SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")


# --- an independent receiver: RFC 5869 HKDF by hand, RFC 9001 §5 ---------------------------


def _hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def _expand_label(secret: bytes, label: str, length: int) -> bytes:
    full = b"tls13 " + label.encode()
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    return _hkdf_expand(secret, info, length)


def _client_keys(dcid: bytes) -> tuple[bytes, bytes, bytes]:
    initial = hmac.new(SALT_V1, dcid, hashlib.sha256).digest()  # HKDF-Extract
    client = _expand_label(initial, "client in", 32)
    return (
        _expand_label(client, "quic key", 16),
        _expand_label(client, "quic iv", 12),
        _expand_label(client, "quic hp", 16),
    )


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    size = 1 << (data[pos] >> 6)
    value = data[pos] & 0x3F
    for byte in data[pos + 1 : pos + size]:
        value = (value << 8) | byte
    return value, pos + size


def _open_initial(packet: bytes) -> dict[str, object]:
    """Parse, unprotect and decrypt a client Initial; returns header fields and plaintext."""
    assert packet[0] & 0x80, "long header"
    assert packet[0] & 0x40, "fixed bit"
    assert (packet[0] >> 4) & 0x03 == 0, "Initial type"
    assert int.from_bytes(packet[1:5], "big") == 1, "QUIC v1"
    pos = 5
    dcid = packet[pos + 1 : pos + 1 + packet[pos]]
    pos += 1 + packet[pos]
    scid = packet[pos + 1 : pos + 1 + packet[pos]]
    pos += 1 + packet[pos]
    token_len, pos = _read_varint(packet, pos)
    pos += token_len
    length, pn_offset = _read_varint(packet, pos)

    key, iv, hp = _client_keys(dcid)
    sample = packet[pn_offset + 4 : pn_offset + 20]
    encryptor = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = encryptor.update(sample) + encryptor.finalize()
    header = bytearray(packet[: pn_offset + 4])
    header[0] ^= mask[0] & 0x0F
    pn_len = (header[0] & 0x03) + 1
    for i in range(pn_len):
        header[pn_offset + i] ^= mask[1 + i]
    header = header[: pn_offset + pn_len]
    pn = int.from_bytes(header[pn_offset:], "big")
    nonce = (int.from_bytes(iv, "big") ^ pn).to_bytes(12, "big")
    end = pn_offset + length
    plaintext = AESGCM(key).decrypt(nonce, packet[pn_offset + pn_len : end], bytes(header))
    return {
        "dcid": dcid,
        "scid": scid,
        "pn": pn,
        "end": end,
        "reserved_bits": header[0] & 0x0C,
        "plaintext": plaintext,
    }


def _crypto_data(plaintext: bytes) -> bytes:
    pos = 0
    frame_type, pos = _read_varint(plaintext, pos)
    assert frame_type == 0x06, "first frame is CRYPTO"
    offset, pos = _read_varint(plaintext, pos)
    assert offset == 0
    length, pos = _read_varint(plaintext, pos)
    data = plaintext[pos : pos + length]
    assert set(plaintext[pos + length :]) <= {0}, "rest is PADDING"
    return data


def _client_hello_extensions(hello: bytes) -> tuple[list[int], dict[int, bytes]]:
    assert hello[0] == 1, "ClientHello"
    assert int.from_bytes(hello[1:4], "big") == len(hello) - 4
    body = hello[4:]
    assert body[:2] == b"\x03\x03"
    pos = 2 + 32
    session_len = body[pos]
    assert session_len == 0  # RFC 9001 §8.4
    pos += 1
    suites_len = int.from_bytes(body[pos : pos + 2], "big")
    suites = [
        int.from_bytes(body[pos + 2 + i : pos + 4 + i], "big") for i in range(0, suites_len, 2)
    ]
    pos += 2 + suites_len
    assert body[pos : pos + 2] == b"\x01\x00"
    pos += 2
    ext_total = int.from_bytes(body[pos : pos + 2], "big")
    pos += 2
    assert pos + ext_total == len(body)
    extensions: dict[int, bytes] = {}
    while pos < len(body):
        kind = int.from_bytes(body[pos : pos + 2], "big")
        size = int.from_bytes(body[pos + 2 : pos + 4], "big")
        assert kind not in extensions
        extensions[kind] = body[pos + 4 : pos + 4 + size]
        pos += 4 + size
    return suites, extensions


def _transport_parameters(data: bytes) -> dict[int, bytes]:
    params, pos = {}, 0
    while pos < len(data):
        param_id, pos = _read_varint(data, pos)
        size, pos = _read_varint(data, pos)
        params[param_id] = data[pos : pos + size]
        pos += size
    return params


# --- tests ----------------------------------------------------------------------------------


def test_rfc9001_appendix_a1_client_keys() -> None:
    dcid = bytes.fromhex("8394c8f03e515708")
    expected = (
        bytes.fromhex("1f369613dd76d5467730efcbe3b1a22d"),
        bytes.fromhex("fa044b2f42a3fd3b46fb255c"),
        bytes.fromhex("9f50449e04a0e810283a1e9933adedd2"),
    )
    assert _client_keys(dcid) == expected  # the test's own derivation
    assert initial_client_keys(dcid) == expected  # the module's derivation


def test_initial_decrypts_to_a_client_hello() -> None:
    packet = quic_initial(random.Random(42))
    assert len(packet) == 1200
    opened = _open_initial(packet)
    assert opened["end"] == 1200  # Length covers the rest of the datagram
    assert opened["reserved_bits"] == 0
    assert opened["pn"] == 0
    assert len(opened["dcid"]) >= 8  # type: ignore[arg-type]
    plaintext = opened["plaintext"]
    assert isinstance(plaintext, bytes)
    suites, ext = _client_hello_extensions(_crypto_data(plaintext))
    assert 0x1301 in suites  # TLS_AES_128_GCM_SHA256 is mandatory for QUIC

    # SNI: one host_name entry "<12 hex>.invalid"
    sni = ext[0]
    assert int.from_bytes(sni[:2], "big") == len(sni) - 2
    assert sni[2] == 0
    name_len = int.from_bytes(sni[3:5], "big")
    assert re.fullmatch(rb"[0-9a-f]{12}\.invalid", sni[5 : 5 + name_len])

    assert ext[16] == b"\x00\x03\x02h3"  # ALPN: exactly h3
    assert ext[43] == b"\x02\x03\x04"  # supported_versions: TLS 1.3 only
    groups = ext[10]
    assert b"\x00\x1d" in [groups[i : i + 2] for i in range(2, len(groups), 2)]
    assert len(ext[13]) > 2  # signature_algorithms present and non-empty
    key_share = ext[51]
    assert key_share[2:4] == b"\x00\x1d"  # x25519
    assert int.from_bytes(key_share[4:6], "big") == 32
    assert len(key_share) == 6 + 32

    params = _transport_parameters(ext[57])
    assert params[0x0F] == opened["scid"]  # initial_source_connection_id


def test_header_protection_and_tag_are_real() -> None:
    packet = bytearray(quic_initial(random.Random(7)))
    packet[600] ^= 0x01
    with pytest.raises(InvalidTag):
        _open_initial(bytes(packet))


def test_packets_are_fresh_and_seeded() -> None:
    a = quic_initial(random.Random(1))
    assert a == quic_initial(random.Random(1))
    b = quic_initial(random.Random(2))
    assert a[6:14] != b[6:14]  # new DCID
    c, d = quic_initial(), quic_initial()  # SystemRandom default
    assert c != d
    for packet in (a, b, c, d):
        assert len(packet) == 1200
        _open_initial(packet)
