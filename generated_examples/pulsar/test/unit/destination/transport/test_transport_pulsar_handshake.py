"""The Pulsar token handshake against scripted brokers: what each kind of answer turns into,
over pulsar:// and over pulsar+ssl:// with the throwaway CA and certificates of the TLS tests."""

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import certifi
import pytest
from pytest_mock import MockerFixture
from test_transport_tls import CA, LOCALHOST_CERTIFICATE, LOCALHOST_KEY, WRONG_NAME_CERTIFICATE, WRONG_NAME_KEY, written

from tracardi.process_engine.destination.transport import pulsar_handshake
from tracardi.process_engine.destination.transport.pulsar_handshake import (
    DEFAULT_MAX_MESSAGE_SIZE,
    BrokerUnreachable,
    CertificateRefused,
    TokenRefused,
    broker_addresses,
    check_broker_accepts,
    trust_file,
)
from tracardi.process_engine.destination.transport.tls import CertificateFileError

# CONNECTED with server_version "x", written out byte by byte from PulsarApi.proto, so that
# the handshake's own encoder is not what checks it: frame size 11, command size 7, then
# BaseCommand type (1) = 3 and connected (3) = {server_version (1) = "x"}.
CONNECTED = bytes.fromhex("0000000b" + "00000007" + "0803" + "1a03" + "0a0178")
# The same, with max_message_size (3) = 1 MiB, the varint 80 80 40.
CONNECTED_WITH_LIMIT = bytes.fromhex("0000000f" + "0000000b" + "0803" + "1a07" + "0a0178" + "18808040")
# ERROR refusing the token: frame size 54, command size 50, BaseCommand type (1) = 14 and
# error (14, key 0x72) = 46 bytes of CommandError {request_id (1) = 0, error (2) =
# AuthenticationError (3), message (3) = the broker's 40 characters}.
AUTHENTICATION_ERROR = bytes.fromhex("00000036" + "00000032" + "080e" + "722e" + "0800" + "1003" + "1a28") + (
    b"Failed to authenticate with secret-token"
)
# ERROR with MetadataError (1) and a 26-character message: 40, 36, type 14, error of 32 bytes.
METADATA_ERROR = bytes.fromhex("00000028" + "00000024" + "080e" + "7220" + "0800" + "1001" + "1a1a") + (
    b"metadata store unavailable"
)
# AUTH_CHALLENGE as a broker sends it to refresh a token: frame size 42, command size 38,
# BaseCommand type (1) = 36 and authChallenge (36, key a2 02) = 33 bytes of
# CommandAuthChallenge {server_version (1) = "x", challenge (2) = AuthData {auth_method_name
# (1) = "token", auth_data (2) = "PulsarAuthRefresh"}, protocol_version (3) = 20}.
AUTH_CHALLENGE = (
    bytes.fromhex("0000002a" + "00000026" + "0824" + "a20221" + "0a0178" + "121a" + "0a05")
    + b"token"
    + bytes.fromhex("1211")
    + b"PulsarAuthRefresh"
    + bytes.fromhex("1814")
)


class ScriptedBroker:
    """A loopback server: for each answer, reads one frame and sends the answer; then holds
    the connection until released. Keeps every frame it read. With `tls`, a context with its
    certificate, it speaks TLS on pulsar+ssl://."""

    def __init__(self, answers: list[bytes], tls: ssl.SSLContext | None = None) -> None:
        self.answers = answers
        self.frames: list[bytes] = []
        self.release = threading.Event()
        self.tls = tls
        self.server = socket.create_server(("127.0.0.1", 0))
        port = self.server.getsockname()[1]
        self.service_url = f"pulsar{'+ssl' if tls else ''}://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        connection, _ = self.server.accept()
        if self.tls is not None:
            try:
                connection = self.tls.wrap_socket(connection, server_side=True)
            except (ssl.SSLError, OSError):
                # The client refused the certificate: what the tests look for.
                connection.close()
                return
        with connection:
            for answer in self.answers:
                self.frames.append(self.read_frame(connection))
                connection.sendall(answer)
            self.release.wait(5)

    @staticmethod
    def read_frame(connection: socket.socket) -> bytes:
        size = int.from_bytes(connection.recv(4), "big")
        frame = b""
        while len(frame) < size:
            frame += connection.recv(size - len(frame))
        return frame

    def stop(self) -> None:
        self.release.set()
        self.server.close()
        self.thread.join(timeout=5)


@pytest.fixture
def broker() -> Iterator[Callable[[list[bytes]], ScriptedBroker]]:
    started: list[ScriptedBroker] = []

    def start(answers: list[bytes]) -> ScriptedBroker:
        started.append(ScriptedBroker(answers))
        return started[-1]

    yield start
    for scripted in started:
        scripted.stop()


Broker = Callable[[list[bytes]], ScriptedBroker]


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Callable[[str, str, list[bytes]], ScriptedBroker]]:
    started: list[ScriptedBroker] = []

    def start(certificate: str, key: str, answers: list[bytes]) -> ScriptedBroker:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(written(tmp_path, "broker.pem", certificate), written(tmp_path, "broker.key", key))
        started.append(ScriptedBroker(answers, context))
        return started[-1]

    yield start
    for scripted in started:
        scripted.stop()


TlsBroker = Callable[[str, str, list[bytes]], ScriptedBroker]


def test_a_connected_answer_accepts_and_the_token_was_sent(broker: Broker) -> None:
    scripted = broker([CONNECTED])
    max_message_size = check_broker_accepts(scripted.service_url, "secret-token", 2)
    (connect,) = scripted.frames
    assert b"secret-token" in connect
    assert b"token" in connect.replace(b"secret-token", b"")
    assert max_message_size == DEFAULT_MAX_MESSAGE_SIZE


def test_the_broker_says_the_largest_message_it_accepts(broker: Broker) -> None:
    scripted = broker([CONNECTED_WITH_LIMIT])
    assert check_broker_accepts(scripted.service_url, None, 2) == 1024 * 1024


def test_an_authentication_error_is_a_refusal_that_hides_the_token(
    broker: Broker,
) -> None:
    scripted = broker([AUTHENTICATION_ERROR])
    with pytest.raises(TokenRefused) as refused:
        check_broker_accepts(scripted.service_url, "secret-token", 2)
    assert refused.value.error_name == "AuthenticationError"
    assert "secret-token" not in str(refused.value)
    assert "<token>" in str(refused.value)


def test_an_auth_challenge_is_answered_with_the_token(broker: Broker) -> None:
    scripted = broker([AUTH_CHALLENGE, CONNECTED])
    check_broker_accepts(scripted.service_url, "secret-token", 2)
    # After the command size: BaseCommand type (1) = AUTH_RESPONSE (37).
    assert scripted.frames[1][4:6] == bytes.fromhex("0825")
    assert b"secret-token" in scripted.frames[1]


def test_other_server_errors_are_left_to_the_client(broker: Broker) -> None:
    scripted = broker([METADATA_ERROR])
    max_message_size = check_broker_accepts(scripted.service_url, None, 2)
    assert max_message_size == DEFAULT_MAX_MESSAGE_SIZE


def test_a_server_that_does_not_speak_pulsar_is_unreachable(broker: Broker) -> None:
    scripted = broker([b"HTTP/1.1 400 Bad Request\r\n\r\n"])
    with pytest.raises(BrokerUnreachable, match="did not answer as Pulsar does"):
        check_broker_accepts(scripted.service_url, None, 2)


def test_a_silent_server_is_unreachable_after_the_timeout(broker: Broker) -> None:
    scripted = broker([])
    with pytest.raises(BrokerUnreachable, match=r"did not answer within 0\.3 s"):
        check_broker_accepts(scripted.service_url, None, 0.3)


def test_a_closed_port_is_unreachable_at_once() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(BrokerUnreachable, match=f"127.0.0.1:{port}"):
        check_broker_accepts(f"pulsar://127.0.0.1:{port}", None, 2)


@pytest.mark.parametrize(
    ("service_url", "addresses"),
    [
        ("pulsar://broker", [("broker", 6650)]),
        ("pulsar+ssl://broker", [("broker", 6651)]),
        ("pulsar://a:6650,b:6660", [("a", 6650), ("b", 6660)]),
        ("pulsar://[::1]:6650/", [("::1", 6650)]),
    ],
)
def test_service_urls_name_their_brokers(service_url: str, addresses: list[tuple[str, int]]) -> None:
    assert broker_addresses(service_url) == addresses


def test_a_service_url_without_a_host_is_refused() -> None:
    with pytest.raises(ValueError, match="is not host:port"):
        broker_addresses("pulsar://:6650")


@pytest.mark.parametrize("timeout_seconds", [0, -1])
def test_no_connection_is_opened_with_no_time_left(timeout_seconds: float) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        service_url = f"pulsar://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(BrokerUnreachable, match=rf"did not answer within {timeout_seconds} s"):
            check_broker_accepts(service_url, None, timeout_seconds)
        # A connection the handshake opened would wait here, accepted by the kernel.
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()


def test_an_answer_is_not_read_once_the_deadline_has_passed(broker: Broker, mocker: MockerFixture) -> None:
    scripted = broker([CONNECTED])
    readings = iter([0.0, 0.0])

    def clock() -> float:
        # The deadline and the connection come in time; by the first read the deadline has
        # passed, though the answer is already there to read.
        reading = next(readings, None)
        if reading is None:
            time.sleep(0.2)
            return 100.0
        return reading

    mocker.patch.object(pulsar_handshake, "time", SimpleNamespace(monotonic=clock))
    with pytest.raises(BrokerUnreachable, match=r"did not answer within 2 s"):
        check_broker_accepts(scripted.service_url, None, 2)


def test_over_tls_a_certificate_the_ca_file_vouches_for_is_accepted(tls_broker: TlsBroker, tmp_path: Path) -> None:
    scripted = tls_broker(LOCALHOST_CERTIFICATE, LOCALHOST_KEY, [CONNECTED_WITH_LIMIT])
    ca_file = written(tmp_path, "ca.pem", CA)
    assert check_broker_accepts(scripted.service_url, "secret-token", 2, ca_file) == 1024 * 1024
    assert b"secret-token" in scripted.frames[0]


def test_over_tls_without_the_ca_file_a_private_certificate_is_refused_at_once(tls_broker: TlsBroker) -> None:
    scripted = tls_broker(LOCALHOST_CERTIFICATE, LOCALHOST_KEY, [CONNECTED])
    started = time.monotonic()
    with pytest.raises(CertificateRefused) as refused:
        check_broker_accepts(scripted.service_url, "secret-token", 10)
    assert time.monotonic() - started < 2
    assert refused.value.broker == scripted.service_url.removeprefix("pulsar+ssl://")
    assert "local issuer" in refused.value.error.verify_message
    # Nothing was sent: the token never left over a connection that did not verify.
    assert scripted.frames == []


def test_over_tls_a_certificate_for_another_name_is_refused_at_once(tls_broker: TlsBroker, tmp_path: Path) -> None:
    scripted = tls_broker(WRONG_NAME_CERTIFICATE, WRONG_NAME_KEY, [CONNECTED])
    started = time.monotonic()
    with pytest.raises(CertificateRefused) as refused:
        check_broker_accepts(scripted.service_url, None, 10, written(tmp_path, "ca.pem", CA))
    assert time.monotonic() - started < 2
    assert "mismatch" in refused.value.error.verify_message.lower()
    assert scripted.frames == []


def test_over_tls_a_ca_file_that_cannot_be_used_is_refused_before_connecting(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        service_url = f"pulsar+ssl://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(CertificateFileError, match=r"ssl_ca_file .* cannot be read"):
            check_broker_accepts(service_url, None, 2, str(tmp_path / "missing.pem"))
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()


def test_the_trusted_file_is_the_ca_file_else_the_systems_else_certifis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Pulsar client takes only a file; the handshake verifies against the same one.
    assert trust_file("/etc/pulsar/ca.pem") == "/etc/pulsar/ca.pem"
    system_bundle = written(tmp_path, "system.pem", CA)
    monkeypatch.setenv("SSL_CERT_FILE", system_bundle)
    assert trust_file("") == system_bundle
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))
    assert trust_file("") == certifi.where()


def test_over_tls_a_ca_installed_as_the_systems_is_trusted(
    tls_broker: TlsBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted = tls_broker(LOCALHOST_CERTIFICATE, LOCALHOST_KEY, [CONNECTED])
    monkeypatch.setenv("SSL_CERT_FILE", written(tmp_path, "system.pem", CA))
    assert check_broker_accepts(scripted.service_url, None, 2) == DEFAULT_MAX_MESSAGE_SIZE
