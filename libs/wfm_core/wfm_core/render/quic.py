"""A genuine QUIC v1 client Initial (RFC 9000/9001) used as an AmneziaWG CPS decoy packet."""

from __future__ import annotations

import hashlib
import hmac
import random
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

QUIC_V1 = 0x00000001
QUIC_V1_INITIAL_SALT = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
# RFC 9000 §14.1: a client must pad every datagram carrying an Initial to at least 1200 bytes.
QUIC_INITIAL_SIZE = 1200

_CID_LEN = 8
_PN_LEN = 1  # the first Initial carries packet number 0; one byte is enough
_AEAD_TAG_LEN = 16
_SAMPLE_LEN = 16

# TLS code points (RFC 8446, RFC 7301, RFC 9001).
_TLS_HANDSHAKE_CLIENT_HELLO = 1
_EXT_SERVER_NAME = 0
_EXT_SUPPORTED_GROUPS = 10
_EXT_SIGNATURE_ALGORITHMS = 13
_EXT_ALPN = 16
_EXT_SUPPORTED_VERSIONS = 43
_EXT_PSK_KEY_EXCHANGE_MODES = 45
_EXT_KEY_SHARE = 51
_EXT_QUIC_TRANSPORT_PARAMETERS = 57
_GROUP_X25519 = 0x001D
_GROUPS = (_GROUP_X25519, 0x0017, 0x0018)  # x25519, secp256r1, secp384r1
_CIPHER_SUITES = (0x1301, 0x1302, 0x1303)  # TLS_AES_128_GCM, TLS_AES_256_GCM, CHACHA20_POLY1305
_SIGNATURE_SCHEMES = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0807)
_TLS13 = 0x0304
_FRAME_CRYPTO = 0x06


def _u8(value: int) -> bytes:
    return struct.pack("!B", value)


def _u16(value: int) -> bytes:
    return struct.pack("!H", value)


def _u24(value: int) -> bytes:
    return value.to_bytes(3, "big")


def encode_varint(value: int) -> bytes:
    """QUIC variable-length integer (RFC 9000 §16), shortest encoding."""
    if value < 0:
        raise ValueError("varint must be non-negative")
    if value < 1 << 6:
        return _u8(value)
    if value < 1 << 14:
        return _u16(value | 0x4000)
    if value < 1 << 30:
        return struct.pack("!I", value | 0x80000000)
    if value < 1 << 62:
        return struct.pack("!Q", value | 0xC000000000000000)
    raise ValueError("varint too large")


def _varint2(value: int) -> bytes:
    """Two-byte varint: the Length field is written before its value is final, so fix its size."""
    return _u16(value | 0x4000)


def hkdf_expand_label(secret: bytes, label: str, length: int) -> bytes:
    """TLS 1.3 HKDF-Expand-Label with SHA-256 and an empty context (RFC 8446 §7.1)."""
    full_label = b"tls13 " + label.encode("ascii")
    info = _u16(length) + _u8(len(full_label)) + full_label + _u8(0)
    return HKDFExpand(algorithm=hashes.SHA256(), length=length, info=info).derive(secret)


def initial_client_keys(dcid: bytes) -> tuple[bytes, bytes, bytes]:
    """Client Initial (key, iv, hp) for a Destination Connection ID (RFC 9001 §5.2)."""
    initial_secret = hmac.new(QUIC_V1_INITIAL_SALT, dcid, hashlib.sha256).digest()
    client_secret = hkdf_expand_label(initial_secret, "client in", 32)
    return (
        hkdf_expand_label(client_secret, "quic key", 16),
        hkdf_expand_label(client_secret, "quic iv", 12),
        hkdf_expand_label(client_secret, "quic hp", 16),
    )


def _extension(kind: int, body: bytes) -> bytes:
    return _u16(kind) + _u16(len(body)) + body


def _transport_parameters(scid: bytes) -> bytes:
    def param(param_id: int, value: bytes) -> bytes:
        return encode_varint(param_id) + encode_varint(len(value)) + value

    def int_param(param_id: int, value: int) -> bytes:
        return param(param_id, encode_varint(value))

    return b"".join(
        (
            int_param(0x01, 30_000),  # max_idle_timeout (ms)
            int_param(0x03, 1472),  # max_udp_payload_size
            int_param(0x04, 15_728_640),  # initial_max_data
            int_param(0x05, 6_291_456),  # initial_max_stream_data_bidi_local
            int_param(0x06, 6_291_456),  # initial_max_stream_data_bidi_remote
            int_param(0x07, 6_291_456),  # initial_max_stream_data_uni
            int_param(0x08, 100),  # initial_max_streams_bidi
            int_param(0x09, 103),  # initial_max_streams_uni
            int_param(0x0E, 4),  # active_connection_id_limit
            param(0x0F, scid),  # initial_source_connection_id (mandatory for clients)
        )
    )


def client_hello(*, server_name: str, key_share: bytes, scid: bytes, client_random: bytes) -> bytes:
    """A TLS 1.3 ClientHello handshake message for QUIC (ALPN h3, x25519 only key share)."""
    name = server_name.encode("ascii")
    server_name_list = _u8(0) + _u16(len(name)) + name
    alpn_list = _u8(2) + b"h3"
    groups = b"".join(_u16(group) for group in _GROUPS)
    schemes = b"".join(_u16(scheme) for scheme in _SIGNATURE_SCHEMES)
    share = _u16(_GROUP_X25519) + _u16(len(key_share)) + key_share
    extensions = b"".join(
        (
            _extension(_EXT_SERVER_NAME, _u16(len(server_name_list)) + server_name_list),
            _extension(_EXT_SUPPORTED_GROUPS, _u16(len(groups)) + groups),
            _extension(_EXT_SIGNATURE_ALGORITHMS, _u16(len(schemes)) + schemes),
            _extension(_EXT_ALPN, _u16(len(alpn_list)) + alpn_list),
            _extension(_EXT_SUPPORTED_VERSIONS, _u8(2) + _u16(_TLS13)),
            _extension(_EXT_PSK_KEY_EXCHANGE_MODES, _u8(1) + _u8(1)),  # psk_dhe_ke
            _extension(_EXT_KEY_SHARE, _u16(len(share)) + share),
            _extension(_EXT_QUIC_TRANSPORT_PARAMETERS, _transport_parameters(scid)),
        )
    )
    suites = b"".join(_u16(suite) for suite in _CIPHER_SUITES)
    body = b"".join(
        (
            _u16(0x0303),  # legacy_version
            client_random,
            _u8(0),  # legacy_session_id: empty, RFC 9001 §8.4
            _u16(len(suites)) + suites,
            _u8(1) + _u8(0),  # legacy_compression_methods: null only
            _u16(len(extensions)) + extensions,
        )
    )
    return _u8(_TLS_HANDSHAKE_CLIENT_HELLO) + _u24(len(body)) + body


def _protect(header: bytes, pn_offset: int, payload: bytes, dcid: bytes, pn: int) -> bytes:
    """Payload (AES-128-GCM) and header protection (AES-ECB mask) per RFC 9001 §5.3-5.4."""
    key, iv, hp = initial_client_keys(dcid)
    nonce = (int.from_bytes(iv, "big") ^ pn).to_bytes(len(iv), "big")
    ciphertext = AESGCM(key).encrypt(nonce, payload, header)
    packet = bytearray(header + ciphertext)
    sample_offset = pn_offset + 4  # sampled as if the packet number were 4 bytes long
    sample = bytes(packet[sample_offset : sample_offset + _SAMPLE_LEN])
    encryptor = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = encryptor.update(sample) + encryptor.finalize()
    packet[0] ^= mask[0] & 0x0F  # long header: only the low four bits are protected
    for i in range(_PN_LEN):
        packet[pn_offset + i] ^= mask[1 + i]
    return bytes(packet)


def quic_initial(rng: random.Random | None = None) -> bytes:
    """A protected 1200-byte QUIC v1 client Initial carrying a full ClientHello."""
    rng = rng or random.SystemRandom()
    dcid = rng.randbytes(_CID_LEN)
    scid = rng.randbytes(_CID_LEN)
    server_name = f"{rng.randbytes(6).hex()}.invalid"
    private_key = X25519PrivateKey.from_private_bytes(rng.randbytes(32))
    hello = client_hello(
        server_name=server_name,
        key_share=private_key.public_key().public_bytes_raw(),
        scid=scid,
        client_random=rng.randbytes(32),
    )
    crypto_frame = encode_varint(_FRAME_CRYPTO) + encode_varint(0) + encode_varint(len(hello))
    crypto_frame += hello

    pn = 0
    first_byte = 0xC0 | (_PN_LEN - 1)  # long header, fixed bit, type Initial (0)
    prefix = b"".join(
        (
            _u8(first_byte),
            struct.pack("!I", QUIC_V1),
            _u8(len(dcid)) + dcid,
            _u8(len(scid)) + scid,
            encode_varint(0),  # token length: no token
        )
    )
    length_field_len = 2
    pn_offset = len(prefix) + length_field_len
    payload_len = QUIC_INITIAL_SIZE - pn_offset - _PN_LEN - _AEAD_TAG_LEN
    if len(crypto_frame) > payload_len:
        raise ValueError("ClientHello does not fit into one Initial")
    payload = crypto_frame + bytes(payload_len - len(crypto_frame))  # PADDING frames are 0x00
    header = prefix + _varint2(_PN_LEN + payload_len + _AEAD_TAG_LEN) + pn.to_bytes(_PN_LEN, "big")
    return _protect(header, pn_offset, payload, dcid, pn)
