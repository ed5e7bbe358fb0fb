"""One round trip that tells whether an Apache Pulsar broker accepts a token.

The Pulsar client never reports a refused token: it retries until its operation timeout and
then raises Timeout. So before a producer is created, check_broker_accepts() opens its own
connection, sends the CONNECT command the client would send, and reads the broker's answer.
Over pulsar+ssl:// it checks the broker's certificate and host name as the client does, and,
unlike the client, can say why one did not verify.

Frames carry protocol buffers of Apache Pulsar's proto/PulsarApi.proto, encoded here by hand
for the few fields the handshake needs rather than adding a protobuf dependency.
"""

import enum
import socket
import ssl
import struct
import time
import urllib.parse

import certifi

from tracardi.process_engine.destination.transport.tls import client_context

# The broker answers with the lower of its own protocol version and this one.
PROTOCOL_VERSION = 20
CLIENT_VERSION = "tracardi-pulsar-handshake"
TLS_SCHEME = "pulsar+ssl://"
# Handshake answers are tiny; a larger frame means the server is not a Pulsar broker.
MAX_FRAME_BYTES = 1024 * 1024
# What brokers accept when they do not say (CommandConnected.max_message_size).
DEFAULT_MAX_MESSAGE_SIZE = 5 * 1024 * 1024


class _Command(enum.IntEnum):
    """BaseCommand.Type values; each command's BaseCommand field number equals its type."""

    CONNECT = 2
    CONNECTED = 3
    ERROR = 14
    PING = 18
    PONG = 19
    AUTH_CHALLENGE = 36
    AUTH_RESPONSE = 37


# The ServerError values that mean the broker will not let this token in.
REFUSALS = {3: "AuthenticationError", 4: "AuthorizationError"}

_Fields = dict[int, list[int | bytes]]


class TokenRefused(Exception):
    """The broker refused the token, or the missing token."""

    def __init__(self, error_name: str, reason: str) -> None:
        super().__init__(f"{error_name}: {reason}")
        self.error_name = error_name


class BrokerUnreachable(Exception):
    """No broker of the service URL answered the handshake; says why for each."""


class CertificateRefused(Exception):
    """A broker's TLS certificate did not verify: an answer, not an outage."""

    def __init__(self, broker: str, error: ssl.SSLCertVerificationError) -> None:
        super().__init__(f"{broker}: {error}")
        self.broker = broker
        self.error = error


class _NotPulsarError(Exception):
    """The server did not answer the handshake as a Pulsar broker does."""


def _encode_varint(value: int) -> bytes:
    encoded = bytearray()
    while value > 0x7F:
        encoded.append(value & 0x7F | 0x80)
        value >>= 7
    encoded.append(value)
    return bytes(encoded)


def _encode_field(number: int, value: int | str | bytes) -> bytes:
    """One protobuf field: an int as a varint, text and bytes length-delimited."""
    if isinstance(value, int):
        return _encode_varint(number << 3) + _encode_varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _encode_varint(number << 3 | 2) + _encode_varint(len(data)) + data


def _decode_varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while position < len(data):
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
    raise _NotPulsarError("a truncated command")


def _decode_fields(data: bytes) -> _Fields:
    """Every field of one protobuf message by number; nested messages stay bytes."""
    fields: _Fields = {}
    position = 0
    while position < len(data):
        key, position = _decode_varint(data, position)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == 0:
            value, position = _decode_varint(data, position)
        elif wire_type in (1, 2, 5):
            if wire_type == 2:
                size, position = _decode_varint(data, position)
            else:
                size = 8 if wire_type == 1 else 4
            value, position = data[position : position + size], position + size
        else:
            raise _NotPulsarError(f"a field of unknown wire type {wire_type}")
        if position > len(data):
            raise _NotPulsarError("a truncated command")
        fields.setdefault(number, []).append(value)
    return fields


def _first_int(fields: _Fields, number: int) -> int | None:
    value = fields.get(number, [None])[0]
    return value if isinstance(value, int) else None


def _first_bytes(fields: _Fields, number: int) -> bytes:
    value = fields.get(number, [b""])[0]
    return value if isinstance(value, bytes) else b""


def _encode_frame(command: _Command, body: bytes) -> bytes:
    """A frame without payload: total size, command size, BaseCommand."""
    base_command = _encode_field(1, command) + _encode_field(command, body)
    return struct.pack(">II", len(base_command) + 4, len(base_command)) + base_command


def _time_left(deadline: float) -> float:
    """The seconds left before the deadline; none left is a timeout.

    Never a wait of 0 or less: a socket takes 0 to mean "do not wait" and less as an error.
    """
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the deadline passed")
    return left


def _receive_exactly(connection: socket.socket, size: int, deadline: float) -> bytes:
    received = bytearray()
    while len(received) < size:
        connection.settimeout(_time_left(deadline))
        chunk = connection.recv(size - len(received))
        if not chunk:
            raise _NotPulsarError("the connection closed before an answer")
        received += chunk
    return bytes(received)


def _receive_command(connection: socket.socket, deadline: float) -> tuple[int, _Fields]:
    """The next command's type and BaseCommand fields."""
    (frame_size,) = struct.unpack(">I", _receive_exactly(connection, 4, deadline))
    if not 4 <= frame_size <= MAX_FRAME_BYTES:
        raise _NotPulsarError(f"a frame of {frame_size} bytes")
    frame = _receive_exactly(connection, frame_size, deadline)
    (command_size,) = struct.unpack(">I", frame[:4])
    fields = _decode_fields(frame[4 : 4 + command_size])
    command = _first_int(fields, 1)
    if command is None:
        raise _NotPulsarError("a command without a type")
    return command, fields


def broker_addresses(service_url: str) -> list[tuple[str, int]]:
    """Host and port of each broker the service URL lists (pulsar://a:6650,b:6650)."""
    tls = service_url.startswith(TLS_SCHEME)
    scheme, default_port = (TLS_SCHEME, 6651) if tls else ("pulsar://", 6650)
    authority = service_url[len(scheme) :].split("/", 1)[0]
    addresses = []
    for host_and_port in authority.split(","):
        try:
            parts = urllib.parse.urlsplit(f"//{host_and_port}")
            host, port = parts.hostname, parts.port or default_port
        except ValueError:
            host = None
        if not host:
            raise ValueError(f"{host_and_port!r} is not host:port")
        addresses.append((host, port))
    return addresses


def trust_file(ca_file: str) -> str:
    """The PEM file whose certificate authorities pulsar+ssl:// trusts, the same for the handshake
    and the client: ca_file, or else the system's bundle (SSL_CERT_FILE, or OpenSSL's default,
    where a company's CA may have been installed), or else certifi's, which the Pulsar client
    itself falls back to. The client takes only a file, not the system's store as such."""
    return ca_file or ssl.get_default_verify_paths().cafile or certifi.where()


def _open_connection(service_url: str, host: str, port: int, deadline: float, ca_file: str) -> socket.socket:
    if not service_url.startswith(TLS_SCHEME):
        return socket.create_connection((host, port), timeout=_time_left(deadline))
    # Before connecting: a CA file that cannot be used is no reason to knock on the broker.
    context = client_context(trust_file(ca_file))
    connection = socket.create_connection((host, port), timeout=_time_left(deadline))
    try:
        return context.wrap_socket(connection, server_hostname=host)
    except BaseException:
        connection.close()
        raise


def _handshake(connection: socket.socket, token_text: str | None, deadline: float) -> int:
    """CONNECT as the client does; raise TokenRefused if the broker refuses the token.

    Returns the largest message the broker accepts.
    """
    token = token_text.encode() if token_text else b""
    connect = _encode_field(1, CLIENT_VERSION) + _encode_field(4, PROTOCOL_VERSION)
    if token:
        connect += _encode_field(5, "token") + _encode_field(3, token)
    connection.sendall(_encode_frame(_Command.CONNECT, connect))
    while True:
        command, fields = _receive_command(connection, deadline)
        if command == _Command.CONNECTED:
            connected = _decode_fields(_first_bytes(fields, _Command.CONNECTED))
            return _first_int(connected, 3) or DEFAULT_MAX_MESSAGE_SIZE
        if command == _Command.ERROR:
            error = _decode_fields(_first_bytes(fields, _Command.ERROR))
            error_name = REFUSALS.get(_first_int(error, 2) or 0)
            if error_name is None:
                # Not about the token: the client retries such errors or reports them.
                return DEFAULT_MAX_MESSAGE_SIZE
            reason = _first_bytes(error, 3).decode(errors="replace")[:200]
            if token_text:
                reason = reason.replace(token_text, "<token>")
            raise TokenRefused(error_name, reason)
        if command == _Command.AUTH_CHALLENGE:
            auth_data = _encode_field(1, "token" if token else "none")
            auth_data += _encode_field(2, token)
            response = _encode_field(1, CLIENT_VERSION) + _encode_field(2, auth_data)
            response += _encode_field(3, PROTOCOL_VERSION)
            connection.sendall(_encode_frame(_Command.AUTH_RESPONSE, response))
        elif command == _Command.PING:
            connection.sendall(_encode_frame(_Command.PONG, b""))


def check_broker_accepts(service_url: str, token: str | None, timeout_seconds: float, ca_file: str = "") -> int:
    """Fail in milliseconds where a refused token or certificate would leave the client waiting
    or saying no more than ConnectError.

    Over pulsar+ssl:// the certificate must verify against trust_file(ca_file), for the host
    name of the service URL. Returns the largest message the broker accepts. Raises
    TokenRefused, CertificateRefused (when no broker accepted and one's certificate did not
    verify), BrokerUnreachable, CertificateFileError for a CA file that cannot be used, or
    ValueError for a malformed service URL.
    """
    failures = []
    refused: CertificateRefused | None = None
    for host, port in broker_addresses(service_url):
        # Each broker gets the whole timeout, as the client gives each connection.
        deadline = time.monotonic() + timeout_seconds
        try:
            with _open_connection(service_url, host, port, deadline, ca_file) as connection:
                return _handshake(connection, token, deadline)
        except ssl.SSLCertVerificationError as error:
            # Another broker of the URL may still serve; if none does, this is the answer.
            refused = refused or CertificateRefused(f"{host}:{port}", error)
        except TimeoutError:
            failures.append(f"{host}:{port} did not answer within {timeout_seconds} s")
        except _NotPulsarError as error:
            failures.append(f"{host}:{port} did not answer as Pulsar does ({error})")
        except OSError as error:
            failures.append(f"{host}:{port}: {error}")
    if refused is not None:
        raise refused
    raise BrokerUnreachable("; ".join(failures))
