"""TLS verification is on for https hosts, and there is no switch that turns it off quietly."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_provider_feishu_workplace.exceptions import FeishuApiError
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook


def self_signed_certificate(directory) -> tuple[str, str]:
    """Write a certificate for 127.0.0.1 signed by nobody anyone trusts; return (cert, key) paths."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


class _TokenHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.dumps({"code": 0, "msg": "ok", "tenant_access_token": "t-untrusted", "expire": 7200}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def untrusted_https_server(tmp_path):
    """An https server on 127.0.0.1 with a self-signed certificate; yields its origin and a request counter."""
    cert, key = self_signed_certificate(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_untrusted_certificate_is_refused_without_retrying(untrusted_https_server, monkeypatch):
    conn = {"conn_type": "feishu", "host": untrusted_https_server, "login": "cli_a", "password": "app-secret"}
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", json.dumps(conn))
    hook = FeishuWorkplaceHook(backoff_base=0.01)

    with pytest.raises(FeishuApiError, match="TLS verification failed") as caught:
        hook.get_tenant_access_token()

    assert not caught.value.retryable


def test_the_session_verifies_certificates_and_the_hook_has_no_switch_to_stop_it(monkeypatch):
    import inspect

    monkeypatch.setenv(
        "AIRFLOW_CONN_FEISHU_DEFAULT", json.dumps({"conn_type": "feishu", "login": "cli_a", "password": "app-secret"})
    )

    assert FeishuWorkplaceHook().session.verify is True
    assert not {"verify", "ssl", "insecure"} & set(inspect.signature(FeishuWorkplaceHook).parameters)
