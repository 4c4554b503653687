"""The one check of a certificate and its key the bundle makes before installing them: the
Prometheus web UI's (prometheus_server) and each Sanic service's (sanic_service)."""

from cryptography import x509
from cryptography.hazmat.primitives import serialization


def public_key_bytes(public_key):
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def certificate_problems(
    cert_file,
    key_file,
    cert_pem,
    key_pem,
    cert_variable="prometheus_server_web_tls_cert_file",
    key_variable="prometheus_server_web_tls_key_file",
):
    """Both or neither, readable, PEM, the certificate matches the key; each problem names the
    variables the caller gives (prometheus_server's by default)."""
    if bool(cert_file) != bool(key_file):
        return [f"{cert_variable} and {key_variable} go together: set both or neither."]
    if not cert_file:
        return []
    missing = [
        f"{variable} {path} is not a readable file on the control node."
        for variable, path, pem in (
            (cert_variable, cert_file, cert_pem),
            (key_variable, key_file, key_pem),
        )
        if not pem
    ]
    if missing:
        return missing
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError as error:
        return [f"{cert_variable} {cert_file} is no PEM certificate: {error}"]
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError) as error:
        return [f"{key_variable} {key_file} is no unencrypted PEM key: {error}"]
    if public_key_bytes(certificate.public_key()) != public_key_bytes(key.public_key()):
        return [f"{cert_variable} {cert_file} does not match its key {key_variable} {key_file}."]
    return []
