"""Encryption at rest for the values services must keep secret (Secrets Manager's secrets, SSM's
SecureString parameters): AES-256-GCM (the ``cryptography`` library) under one key per home.

``Vault.seal(plain, context)`` returns text safe to store in a JSON document (``v1:`` + base64 of nonce
and ciphertext); ``Vault.open(sealed, context)`` gives the bytes back. ``context`` (the resource's ARN and
version, say) is authenticated with the value: a sealed value copied onto another resource does not open.
The key lives in ``MINECS_HOME/master.key`` (mode 0600), made the first time it is asked for; whoever can
read that file can read every secret of the home, as whoever holds a KMS key's grants can on AWS.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from orchestrator.errors import ServerException

_PREFIX = "v1:"
_NONCE = 12


class VaultError(ServerException):
    """A stored value cannot be opened: the home's key changed or the record was altered."""

    code = "InternalServiceError"


class Vault:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a vault key is 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def of_file(cls, path: Path) -> "Vault":
        return cls(load_or_create_key(path))

    def seal(self, plain: bytes, context: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, plain, context.encode())
        return _PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str, context: str) -> bytes:
        if not sealed.startswith(_PREFIX):
            raise VaultError("a stored value is not in the vault's format")
        raw = base64.b64decode(sealed[len(_PREFIX):])
        try:
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], context.encode())
        except InvalidTag:
            raise VaultError("a stored value cannot be decrypted with this home's key (master.key was "
                             "replaced, or the record was altered)") from None


def load_or_create_key(path: Path) -> bytes:
    """The 32-byte key in ``path``, written (0600, whole, by one process) if the file does not exist."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
            fh.write(secrets.token_bytes(32))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # of two processes making it at once, the first link wins
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        key = path.read_bytes()
    if len(key) != 32:
        raise VaultError(f"{path} is not a minecs key (expected 32 bytes, found {len(key)})")
    return key
