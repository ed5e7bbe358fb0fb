"""TLS for every transport that speaks it: whom to trust and how a refusal reads.

A destination trusts the certificate authorities of its `ssl_ca_file`, a PEM file (a company's
private CA, say), or the system's when that is empty; host names are always checked. A file
that is missing or holds no certificate is refused before any connection, naming its path, and
a certificate that does not verify fails at once with OpenSSL's reason and what was trusted.
"""

import functools
import os
import ssl


class CertificateFileError(ValueError):
    """An ssl_ca_file that is missing, unreadable or not a PEM file of certificates."""


def client_context(ca_file: str) -> ssl.SSLContext:
    """A client context that verifies certificates and host names against `ca_file` (or the system's).

    Made once per file and version of it, and shared: loading a CA file parses every certificate.
    """
    if not ca_file:
        return _system_context()
    try:
        status = os.stat(ca_file)
    except OSError as error:
        raise CertificateFileError(f"ssl_ca_file {ca_file!r} cannot be read ({error.strerror})") from None
    return _file_context(ca_file, status.st_mtime_ns, status.st_size)


@functools.lru_cache(maxsize=1)
def _system_context() -> ssl.SSLContext:
    return ssl.create_default_context()


@functools.lru_cache(maxsize=32)
def _file_context(ca_file: str, modified_ns: int, size: int) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        reason = (
            getattr(error, "reason", None) or getattr(error, "strerror", None) or str(error) or type(error).__name__
        )
        raise CertificateFileError(
            f"ssl_ca_file {ca_file!r} is not a readable PEM file of certificates ({reason})"
        ) from None


def trusted(ca_file: str) -> str:
    """What a certificate was checked against, for an error saying it did not verify."""
    if ca_file:
        return f"the certificate authorities of ssl_ca_file {ca_file!r}"
    return "the system's certificate authorities (set ssl_ca_file to trust a private CA)"


def verification_failure(error: BaseException | None) -> ssl.SSLCertVerificationError | None:
    """The certificate verification error behind `error`, however deep a client library wrapped it."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, ssl.SSLCertVerificationError):
            return error
        error = error.__cause__ or error.__context__
        seen += 1
    return None


def refusal(where: str, error: ssl.SSLCertVerificationError, ca_file: str) -> str:
    """How a certificate that did not verify reads in an error, naming the endpoint and its reason."""
    reason = error.verify_message or error.reason or "verification failed"
    return f"{where} presented a TLS certificate that could not be verified ({reason}) against {trusted(ca_file)}"
