"""The lab's own certificate authority and a server certificate per host, made once.

  scripts/lab_tls.py DIR HOST...   writes DIR/ca.crt (+ ca.key) and DIR/HOST.crt (+ HOST.key),
                                   each only if missing; prints the files it wrote

Production brings its own certificates (prometheus_server_web_tls_cert_file); the lab and the
tests make theirs here. Each server certificate names its host, localhost and 127.0.0.1.
"""

import argparse
import datetime
import ipaddress
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALIDITY = datetime.timedelta(days=825)


def write_key(path, key):
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def certificate(subject, issuer, public_key, signing_key, extensions):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


def ensure_ca(directory):
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), key, []
    key = ec.generate_private_key(ec.SECP256R1())
    name = "sanic-prometheus lab CA"
    ca = certificate(
        name, name, key.public_key(), key, [(x509.BasicConstraints(ca=True, path_length=0), True)]
    )
    write_key(key_path, key)
    cert_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return ca, key, [cert_path]


def ensure_server(directory, host, ca, ca_key):
    cert_path, key_path = directory / f"{host}.crt", directory / f"{host}.key"
    if cert_path.exists() and key_path.exists():
        return []
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(host), x509.DNSName("localhost")]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    server = certificate(
        host,
        ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value,
        key.public_key(),
        ca_key,
        [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.SubjectAlternativeName(names), False),
            (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False),
        ],
    )
    write_key(key_path, key)
    cert_path.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    return [cert_path]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("hosts", nargs="+")
    args = parser.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key, written = ensure_ca(args.directory)
    for host in args.hosts:
        written += ensure_server(args.directory, host, ca, ca_key)
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
