"""A seekable temporary file for decrypted snapshot content whose bytes on disk stay encrypted.

Restore needs random access to the decrypted content (a zip keeps its directory at the end)
without holding it all in memory, and without writing private keys and MQTT passwords to disk in
clear. The spool encrypts with AES-256-CTR under a random key that lives only in this object
(CTR can start at any offset, so reads seek freely). Integrity is not its job: the content was
authenticated (GCM) on its way in, and the file is private to this process (unlinked at once).
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

_BLOCK = 16
_COUNTER_SPACE = 1 << 128


class SealedSpool(io.RawIOBase):
    """Append-only writes, reads and seeks anywhere; wrap it in io.BufferedReader to read."""

    def __init__(self, directory: str | None = None) -> None:
        super().__init__()
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed in close()
        self._key = os.urandom(32)
        self._counter0 = int.from_bytes(os.urandom(_BLOCK), "big")
        self._size = 0
        self._pos = 0

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _keystream_xor(self, data: bytes, offset: int) -> bytes:
        block, skip = divmod(offset, _BLOCK)
        counter = ((self._counter0 + block) % _COUNTER_SPACE).to_bytes(_BLOCK, "big")
        cipher = Cipher(algorithms.AES(self._key), modes.CTR(counter)).encryptor()
        if skip:
            cipher.update(bytes(skip))
        return cipher.update(data)

    def write(self, data: ReadableBuffer, /) -> int:
        if self.closed:
            raise ValueError("write to a closed spool")
        if self._pos != self._size:
            raise io.UnsupportedOperation("the spool is append-only")
        plain = bytes(data)
        self._file.seek(self._size)
        self._file.write(self._keystream_xor(plain, self._size))
        self._size += len(plain)
        self._pos = self._size
        return len(plain)

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        if self.closed:
            raise ValueError("read from a closed spool")
        target = memoryview(buffer).cast("B")
        count = min(len(target), self._size - self._pos)
        if count <= 0:
            return 0
        self._file.seek(self._pos)
        sealed = self._file.read(count)
        plain = self._keystream_xor(sealed, self._pos)
        target[: len(plain)] = plain
        self._pos += len(plain)
        return len(plain)

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._pos + offset
        elif whence == io.SEEK_END:
            position = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise ValueError("negative seek position")
        self._pos = position
        return position

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._file.close()
            self._key = b""
        super().close()
