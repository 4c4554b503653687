"""`python -m app_instrumentation.serve ... --tls-cert CERT --tls-key KEY` serves HTTPS.

Real processes: the launcher, socket-activated as systemd starts it, with two Sanic workers; the
client verifies the certificate against the CA that signed it, as Prometheus does.
"""

import datetime
import http.client
import ipaddress
import socket
import ssl
import subprocess
import tempfile
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sanic_testkit import http_probe
from sanic_testkit.service import (
    INSTRUMENTED_FACTORY,
    launcher_command,
    service_environment,
    socket_activated,
)

WORKERS = 2
TIMEOUT = 30


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _signed(subject: str, public_key, issuer: str, signing_key, extensions) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A CA, and a server certificate it signed for 127.0.0.1, with the server's key."""
    directory = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _signed(
        "test CA", ca_key.public_key(), "test CA", ca_key,
        [(x509.BasicConstraints(ca=True, path_length=0), True)],
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    names = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    server = _signed("127.0.0.1", key.public_key(), "test CA", ca_key, [(names, False)])
    files = {name: directory / f"{name}.pem" for name in ("ca", "cert", "key")}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def get(connection: http.client.HTTPConnection, path: str) -> tuple[int, str]:
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_the_launcher_serves_https_with_every_worker_and_refuses_plain_http(tls_files):
    trusted = ssl.create_default_context(cafile=str(tls_files["ca"]))
    tls = ["--tls-cert", str(tls_files["cert"]), "--tls-key", str(tls_files["key"])]
    command = [*launcher_command(INSTRUMENTED_FACTORY, WORKERS, port=None), *tls]
    with (
        socket.create_server(("127.0.0.1", 0)) as listener,
        tempfile.TemporaryDirectory(dir="/dev/shm") as multiprocess_dir,
        subprocess.Popen(
            socket_activated(command),
            env=service_environment(multiprocess_dir),
            stdin=listener.fileno(),
            start_new_session=True,
        ) as launcher,
    ):
        port = listener.getsockname()[1]
        try:
            deadline = time.monotonic() + TIMEOUT
            body = ""
            while f"sanic_workers_live {WORKERS}.0" not in body:
                assert launcher.poll() is None, "the launcher exited"
                assert time.monotonic() < deadline, f"no {WORKERS} live workers over HTTPS"
                time.sleep(0.2)
                secure = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=trusted)
                try:
                    status, body = get(secure, "/metrics")
                except (OSError, http.client.HTTPException):
                    continue
                assert status == 200
            assert (
                http_probe.scrape("127.0.0.1", port, "/metrics", 5, https=True)["workers_live"]
                == WORKERS
            )
            plain = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            with pytest.raises((OSError, http.client.HTTPException)):
                get(plain, "/metrics")
        finally:
            launcher.terminate()
            launcher.wait(timeout=15)


@pytest.mark.parametrize("given", [["--tls-cert", "c.pem"], ["--tls-key", "k.pem"]])
def test_a_certificate_without_its_key_or_a_key_without_its_certificate_is_refused(given):
    result = subprocess.run(
        [*launcher_command(INSTRUMENTED_FACTORY, 1, port=8000), *given],
        env=service_environment(None),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 2
    assert "--tls-cert and --tls-key go together" in result.stderr
