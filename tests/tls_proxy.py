"""Test servers on 127.0.0.1 for the sign-out tests: a TLS-terminating reverse proxy (like nginx in
front of gunicorn) and a one-page site to send cross-site requests from.

The proxy forwards each request to one upstream port with X-Forwarded-For, X-Forwarded-Proto: https
and X-Forwarded-Host, and relays the response as it is: status, every header (each Set-Cookie
included) and body, redirects unfollowed. Bodies are read whole: no streaming.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
              "trailer", "trailers", "transfer-encoding", "upgrade"}
UPSTREAM_TIMEOUT = 30


def self_signed_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A throwaway certificate for `host` (an IP address SAN), made now; returns (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "proxy-cert.pem", directory / "proxy-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def get_request(self):
        sock, address = super().get_request()
        if self.tls:  # the handshake happens in the handler's thread: a silent client blocks nobody
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request, client_address) -> None:
        """Quiet for a browser that drops a connection or refuses the self-signed certificate (Chromium
        does so once, then goes on under ignore_https_errors); anything else is printed."""
        if not isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Background:
    """A _Server run by a daemon thread; stop() shuts it down."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None) -> None:
        self.server = _Server(("127.0.0.1", 0), handler)
        self.server.tls = tls
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name=type(self).__name__, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class TLSProxy(_Background):
    """https://127.0.0.1:<port> in front of http://127.0.0.1:<upstream_port>."""

    def __init__(self, upstream_port: int, directory: Path) -> None:
        cert, key = self_signed_cert(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.upstream_port = upstream_port
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, headers) as received
        self.gunicorn = None  # the server behind, when a fixture sets it

        proxy = self

        class Handler(_ProxyHandler):
            pass

        Handler.proxy = proxy
        super().__init__(Handler, tls=context)
        self.url = f"https://127.0.0.1:{self.port}"


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive with the browser; one upstream connection per request
    timeout = 30  # an idle keep-alive connection frees its thread
    proxy: TLSProxy

    def setup(self) -> None:
        super().setup()  # applies `timeout` to the socket
        self.request.do_handshake()

    def log_message(self, format: str, *args) -> None:  # quiet: pytest shows failures, not access logs
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        self.proxy.requests.append((self.command, self.path, dict(self.headers.items())))
        headers = [(k, v) for k, v in self.headers.items()
                   if k.lower() not in HOP_BY_HOP and not k.lower().startswith("x-forwarded-")]
        headers += [("X-Forwarded-For", self.client_address[0]), ("X-Forwarded-Proto", "https"),
                    ("X-Forwarded-Host", self.headers.get("Host", f"127.0.0.1:{self.proxy.port}"))]
        upstream = http.client.HTTPConnection("127.0.0.1", self.proxy.upstream_port, timeout=UPSTREAM_TIMEOUT)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for key, value in headers:
                upstream.putheader(key, value)
            if body is not None and not any(k.lower() == "content-length" for k, _ in headers):
                upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body)
            response = upstream.getresponse()
            payload = response.read()
            self.send_response_only(response.status, response.reason)
            for key, value in response.getheaders():  # a list: repeated Set-Cookie headers stay separate
                if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except OSError as exc:
            self.send_error(502, f"upstream: {type(exc).__name__}")
        finally:
            upstream.close()

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _forward


class OnePageSite(_Background):
    """http://127.0.0.1:<port>/ serves one fixed HTML page (no CSP): another origin, for cross-site posts.
    Open it as http://localhost:<port>/ for another site, as http://127.0.0.1:<port>/ for the same site
    on another port."""

    def __init__(self, html: str) -> None:
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)
