"""Security of the gRPC port: TLS, mutual TLS, the bearer token, the warning for
an unencrypted port reachable from the network, the message size limit and the
probe-only health port.

Certificates are made per test session with the `openssl` command: a CA, a
server certificate for 127.0.0.1/localhost, a client certificate, and a second
CA (with its own client certificate) that the sidecar does not trust.
"""

import os
import subprocess
import time

import grpc
import pytest

import sidecar_api
from deltasidecar import rows as pr
from sidecar_api import free_port, pb
from sidecar_helpers import Deltactl

SERVICE = "/deltasidecar.v1.DeltaSidecar/"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
SERVING = b"\x08\x01"  # HealthCheckResponse{status: SERVING}
TOKEN = "t0k3n-For-The-Sidecar_0123456789"
CALL_TIMEOUT = 20


# -- certificates ------------------------------------------------------------------


def _openssl(cwd, *args):
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"openssl {' '.join(args)} failed:\n{proc.stderr}"


def _new_ca(d, name):
    _openssl(d, "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
             "-subj", f"/CN={name}")


def _new_leaf(d, name, ca, extensions):
    (d / f"{name}.ext").write_text(extensions)
    _openssl(d, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
    _openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")


class Pki:
    def __init__(self, d):
        self.dir = d
        _new_ca(d, "ca")
        _new_ca(d, "rogue-ca")
        _new_leaf(d, "server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                     "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
        _new_leaf(d, "client", "ca", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
        _new_leaf(d, "rogue-client", "rogue-ca",
                  "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")

    def expired(self):
        """(certificate, key) of a self-signed certificate valid only on 2020-01-01."""
        d = self.dir
        (d / "expired-ca.cnf").write_text(
            "[ca]\ndefault_ca = d\n[d]\ndatabase = expired-index.txt\nnew_certs_dir = .\n"
            "serial = expired-serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n")
        (d / "expired-index.txt").write_text("")
        (d / "expired-serial").write_text("01\n")
        _openssl(d, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", "expired.key", "-out", "expired.csr", "-subj", "/CN=expired")
        _openssl(d, "ca", "-config", "expired-ca.cnf", "-batch", "-selfsign", "-keyfile",
                 "expired.key", "-in", "expired.csr", "-startdate", "20200101000000Z",
                 "-enddate", "20200102000000Z", "-out", "expired.pem")
        return self.path("expired.pem"), self.path("expired.key")

    def path(self, name):
        return str(self.dir / name)

    def read(self, name):
        return (self.dir / name).read_bytes()

    def client_credentials(self, trust="ca.pem", client=None):
        """Channel credentials trusting `trust`, presenting `client`(.pem/.key) if given."""
        kwargs = {}
        if client:
            kwargs = {"private_key": self.read(f"{client}.key"),
                      "certificate_chain": self.read(f"{client}.pem")}
        return grpc.ssl_channel_credentials(root_certificates=self.read(trust), **kwargs)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")  # the trailing newline is not part of the token
    return path


# -- a sidecar with extra flags, and raw calls ---------------------------------------


class SecuredSidecar(sidecar_api.SidecarProcess):
    def __init__(self, binary, workdir, extra_args=(), listen=None, env=None):
        super().__init__(binary, workdir, listen=listen, env=env)
        self.extra_args = [str(a) for a in extra_args]
        self._channels = []

    def argv(self):
        return super().argv() + self.extra_args

    def wait_ready(self, timeout=30):
        # The port is bound before "serving on" is printed. The base class's
        # readiness probe is a plaintext call without a token, which this
        # sidecar may refuse, so only the line is awaited.
        deadline = time.monotonic() + timeout
        while self.log().count("delta-sidecar: serving on") < self.starts:
            if self.proc.poll() is not None:
                raise AssertionError(f"delta-sidecar exited with {self.proc.returncode}\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"delta-sidecar did not start listening\n{self.log()}")
            time.sleep(0.02)

    def channel(self, credentials=None, target=None):
        options = [("grpc.dns_min_time_between_resolutions_ms", 100)]
        target = target or self.listen
        ch = (grpc.secure_channel(target, credentials, options=options) if credentials
              else grpc.insecure_channel(target, options=options))
        self._channels.append(ch)
        return ch

    def stop(self):
        # An idle open channel would hold the SIGTERM shutdown for seconds.
        for ch in self._channels:
            ch.close()
        self._channels.clear()
        super().stop()


@pytest.fixture
def start(sidecar_bin, tmp_path):
    """start(*extra_args, listen=None, env=None) -> a running SecuredSidecar, stopped at teardown."""
    made = []

    def make(*extra_args, listen=None, env=None):
        sc = SecuredSidecar(sidecar_bin, tmp_path / f"sc{len(made)}", extra_args, listen=listen,
                            env=env)
        made.append(sc)
        return sc.start()

    yield make
    errors = []
    for sc in made:
        try:
            sc.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


def method(channel, name):
    """A callable for deltasidecar.v1 method `name` on `channel`, of the right arity."""
    P = pb()
    m = P.DESCRIPTOR.services_by_name["DeltaSidecar"].methods_by_name[name]
    req, resp = getattr(P, m.input_type.name), getattr(P, m.output_type.name)
    kind = {(False, False): channel.unary_unary, (False, True): channel.unary_stream,
            (True, True): channel.stream_stream}[(m.client_streaming, m.server_streaming)]
    return kind(SERVICE + name, request_serializer=req.SerializeToString,
                response_deserializer=resp.FromString)


def describe_missing(channel, **kwargs):
    """DescribeTable of a table that does not exist: NOT_FOUND proves the call was served."""
    e = call_error(method(channel, "DescribeTable"), pb().DescribeTableRequest(table="missing"),
                   timeout=CALL_TIMEOUT, **kwargs)
    return e.code()


def call_error(fn, *args, **kwargs):
    try:
        result = fn(*args, **kwargs)
    except grpc.RpcError as e:
        return e
    raise AssertionError(f"expected an RPC error, got {result!r}")


def health(channel, **kwargs):
    return channel.unary_unary(HEALTH_CHECK)(b"", timeout=CALL_TIMEOUT, **kwargs)


def bearer(token):
    return [("authorization", f"Bearer {token}")]


def full_cycle(channel, deltactl_bin, table_root, metadata=None):
    """CreateTable, RegisterWriter, Write, PrepareCommit, Commit and Scan on `channel`;
    the row must then be in the table (read back with deltactl)."""
    P = pb()
    kw = {"timeout": CALL_TIMEOUT, "metadata": metadata}
    method(channel, "CreateTable")(P.CreateTableRequest(table="sec", schema="id BIGINT, name STRING",
                                                        primary_key="id"), **kw)
    schema = pr.Schema.from_describe(method(channel, "DescribeTable")(
        P.DescribeTableRequest(table="sec"), **kw))
    epoch = method(channel, "RegisterWriter")(P.RegisterWriterRequest(table="sec", writer_id="w"),
                                              **kw).epoch
    rows, n = pr.encode_rows(schema, [{"id": 7, "name": "secured"}])
    req = P.WriteRequest(table="sec", writer_id="w", epoch=epoch, batch_seq=0)
    req.batch.rows, req.batch.row_count = rows, n
    acks = list(method(channel, "Write")(iter([req]), **kw))
    assert [a.batch_seq for a in acks] == [0]
    c = method(channel, "PrepareCommit")(P.PrepareCommitRequest(table="sec", writer_id="w",
                                                                epoch=epoch, checkpoint_id=1), **kw)
    method(channel, "Commit")(P.CommitRequest(committables=[c]), **kw)
    scanned = list(method(channel, "Scan")(P.ScanRequest(table="sec"), **kw))
    assert sum(r.batch.row_count for r in scanned) == 1
    assert Deltactl(deltactl_bin, table_root).scan("sec") == [{"id": 7, "name": "secured"}]


# -- TLS ---------------------------------------------------------------------------------


def test_tls_serves_tls_clients_and_refuses_plaintext_and_untrusted_servers(start, pki,
                                                                          deltactl_bin):
    sc = start("--tls-cert", pki.path("server.pem"), "--tls-key", pki.path("server.key"))
    assert "(tables in" in sc.log() and ", TLS)" in sc.log()
    assert "WARNING" not in sc.log()

    full_cycle(sc.channel(pki.client_credentials()), deltactl_bin, sc.table_root)
    port = sc.listen.rsplit(":", 1)[1]
    # The certificate names localhost as well as 127.0.0.1.
    assert describe_missing(sc.channel(pki.client_credentials(),
                                       target=f"localhost:{port}")) == grpc.StatusCode.NOT_FOUND

    # A plaintext client cannot talk to the TLS port...
    assert describe_missing(sc.channel()) == grpc.StatusCode.UNAVAILABLE
    # ...nor can a client that does not trust the server's CA.
    assert describe_missing(sc.channel(pki.client_credentials(trust="rogue-ca.pem"))) == \
        grpc.StatusCode.UNAVAILABLE
    # The health service speaks TLS here too.
    assert health(sc.channel(pki.client_credentials())) == SERVING


def test_mutual_tls_requires_a_client_certificate_from_the_client_ca(start, pki, deltactl_bin):
    sc = start("--tls-cert", pki.path("server.pem"), "--tls-key", pki.path("server.key"),
               "--tls-client-ca", pki.path("ca.pem"))
    assert ", mutual TLS)" in sc.log()

    no_cert = sc.channel(pki.client_credentials())
    assert describe_missing(no_cert) == grpc.StatusCode.UNAVAILABLE
    rogue_cert = sc.channel(pki.client_credentials(client="rogue-client"))
    assert describe_missing(rogue_cert) == grpc.StatusCode.UNAVAILABLE
    # A server certificate is signed by the right CA but is no client certificate.
    server_cert_as_client = sc.channel(pki.client_credentials(client="server"))
    assert describe_missing(server_cert_as_client) == grpc.StatusCode.UNAVAILABLE

    full_cycle(sc.channel(pki.client_credentials(client="client")), deltactl_bin, sc.table_root)


def test_tls_from_environment_with_token_through_standard_call_credentials(start, pki, token_file,
                                                                           deltactl_bin):
    sc = start(env={"DELTA_SIDECAR_TLS_CERT": pki.path("server.pem"),
                    "DELTA_SIDECAR_TLS_KEY": pki.path("server.key"),
                    "DELTA_SIDECAR_TLS_CLIENT_CA": pki.path("ca.pem"),
                    "DELTA_SIDECAR_AUTH_TOKEN_FILE": str(token_file)})
    assert ", mutual TLS, bearer token required)" in sc.log()
    tls = pki.client_credentials(client="client")
    # grpc's access-token credentials send exactly 'authorization: Bearer <token>'.
    with_token = grpc.composite_channel_credentials(tls, grpc.access_token_call_credentials(TOKEN))
    full_cycle(sc.channel(with_token), deltactl_bin, sc.table_root)
    wrong = grpc.composite_channel_credentials(tls, grpc.access_token_call_credentials("nope"))
    assert describe_missing(sc.channel(wrong)) == grpc.StatusCode.UNAUTHENTICATED
    assert describe_missing(sc.channel(tls)) == grpc.StatusCode.UNAUTHENTICATED


# -- bearer token ------------------------------------------------------------------------


@pytest.mark.parametrize("metadata,message", [
    (None, "requires the call metadata 'authorization: Bearer <token>'"),
    (bearer("wrong-token"), "wrong bearer token"),
    (bearer(TOKEN + "x"), "wrong bearer token"),
    (bearer(TOKEN[:-1]), "wrong bearer token"),
    ([("authorization", TOKEN)], "not of the form 'Bearer <token>'"),
    ([("authorization", f"Basic {TOKEN}")], "not of the form 'Bearer <token>'"),
    (bearer(TOKEN) + bearer(TOKEN), "more than one"),
])
def test_calls_without_the_right_token_are_unauthenticated(start, token_file, metadata, message):
    sc = start("--auth-token-file", token_file)
    e = call_error(method(sc.channel(), "DescribeTable"), pb().DescribeTableRequest(table="x"),
                   timeout=CALL_TIMEOUT, metadata=metadata)
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED, (e.code(), e.details())
    assert message in e.details()
    assert TOKEN not in e.details()


def test_token_guards_every_method_and_the_right_token_passes(start, token_file, deltactl_bin):
    sc = start("--auth-token-file", token_file)
    assert ", plaintext, bearer token required)" in sc.log()
    ch = sc.channel()
    P = pb()
    names = [m.name for m in P.DESCRIPTOR.services_by_name["DeltaSidecar"].methods]
    assert len(names) >= 11
    for name in names:
        m = P.DESCRIPTOR.services_by_name["DeltaSidecar"].methods_by_name[name]
        request = getattr(P, m.input_type.name)()
        arg = iter([request]) if m.client_streaming else request

        def invoke(metadata):
            result = method(ch, name)(arg if not m.client_streaming else iter([request]),
                                      timeout=CALL_TIMEOUT, metadata=metadata)
            if m.server_streaming:
                list(result)
            return grpc.StatusCode.OK

        for metadata in (None, bearer("wrong")):
            e = call_error(invoke, metadata)
            assert e.code() == grpc.StatusCode.UNAUTHENTICATED, (name, e.code(), e.details())
        # With the token the call reaches the service (an empty request is
        # mostly invalid, but never UNIMPLEMENTED or UNAUTHENTICATED).
        try:
            code = invoke(bearer(TOKEN))
        except grpc.RpcError as e:
            code = e.code()
        assert code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNIMPLEMENTED), \
            (name, code)
    full_cycle(ch, deltactl_bin, sc.table_root, metadata=bearer(TOKEN))
    # Probes carry no token: the health service stays open.
    assert health(ch) == SERVING


# -- startup errors -------------------------------------------------------------------


def _run_failing(sidecar_bin, tmp_path, *args):
    proc = subprocess.run([str(sidecar_bin), "--data-dir", str(tmp_path / "d"), "--table-root",
                           str(tmp_path / "r"), "--listen", f"127.0.0.1:{free_port()}",
                           *map(str, args)],
                          capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith("DELTA_SIDECAR_")})
    assert proc.returncode != 0, proc.stderr
    assert "serving on" not in proc.stderr
    return proc


def test_bad_certificate_files_stop_the_start_naming_the_file(sidecar_bin, tmp_path, pki):
    expired_cert, expired_key = pki.expired()
    cases = [
        (["--tls-cert", expired_cert, "--tls-key", expired_key],
         f"--tls-cert {expired_cert}: certificate 1 expired on Jan  2 00:00:00 2020 GMT"),
        (["--tls-cert", tmp_path / "nope.pem", "--tls-key", pki.path("server.key")],
         f"--tls-cert {tmp_path / 'nope.pem'}: cannot read: No such file or directory"),
        (["--tls-cert", pki.path("server.key"), "--tls-key", pki.path("server.key")],
         f"--tls-cert {pki.path('server.key')}: holds no PEM certificate"),
        (["--tls-cert", pki.path("server.pem"), "--tls-key", pki.path("server.pem")],
         f"--tls-key {pki.path('server.pem')}: holds no unencrypted PEM private key"),
        (["--tls-cert", pki.path("server.pem"), "--tls-key", pki.path("client.key")],
         f"--tls-key {pki.path('client.key')} does not match the certificate in "
         f"--tls-cert {pki.path('server.pem')}"),
        (["--tls-cert", pki.path("server.pem"), "--tls-key", pki.path("server.key"),
          "--tls-client-ca", pki.path("ca.key")],
         f"--tls-client-ca {pki.path('ca.key')}: holds no PEM certificate"),
        (["--tls-cert", pki.path("server.pem")], "--tls-cert and --tls-key go together"),
        (["--tls-client-ca", pki.path("ca.pem")], "--tls-client-ca needs --tls-cert and --tls-key"),
        (["--auth-token-file", tmp_path / "no-token"],
         f"--auth-token-file {tmp_path / 'no-token'}: cannot read"),
    ]
    for args, message in cases:
        proc = _run_failing(sidecar_bin, tmp_path, *args)
        assert message in proc.stderr, (args, proc.stderr)


def test_an_empty_or_malformed_token_file_stops_the_start(sidecar_bin, tmp_path):
    empty = tmp_path / "empty-token"
    empty.write_text("\n")
    proc = _run_failing(sidecar_bin, tmp_path, "--auth-token-file", empty)
    assert f"--auth-token-file {empty}: the file is empty" in proc.stderr
    two_lines = tmp_path / "two-line-token"
    two_lines.write_text("secret-one\nsecret-two\n")
    proc = _run_failing(sidecar_bin, tmp_path, "--auth-token-file", two_lines)
    assert "byte 11 of the token is not printable ASCII" in proc.stderr
    assert "secret" not in proc.stderr.replace(str(two_lines), "")


# -- listening beyond loopback --------------------------------------------------------------


def test_unencrypted_port_beyond_loopback_warns_loudly(start, pki, token_file):
    plain = start(listen=f"0.0.0.0:{free_port()}")
    assert "WARNING: --listen 0.0.0.0:" in plain.log()
    assert "is not encrypted" in plain.log()
    assert "bearer token travels in clear text" not in plain.log()
    with_token = start("--auth-token-file", token_file, listen=f"0.0.0.0:{free_port()}")
    assert "bearer token travels in clear text" in with_token.log()
    encrypted = start("--tls-cert", pki.path("server.pem"), "--tls-key", pki.path("server.key"),
                      listen=f"0.0.0.0:{free_port()}")
    assert "WARNING" not in encrypted.log()
    loopback = start()
    assert "WARNING" not in loopback.log()


# -- message size limit -------------------------------------------------------------------


def test_max_receive_message_size(start, sidecar_bin, tmp_path):
    sc = start("--max-receive-message-mb", 1)
    ch = sc.channel()
    describe = method(ch, "DescribeTable")
    e = call_error(describe, pb().DescribeTableRequest(table="x" * (2 << 20)), timeout=CALL_TIMEOUT)
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (e.code(), e.details())
    assert "larger than max" in e.details() and "1048576" in e.details()
    # Below the limit the call is served (and refused for its bad table name).
    e = call_error(describe, pb().DescribeTableRequest(table="x" * 1000), timeout=CALL_TIMEOUT)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A Write batch over the limit ends its stream the same way.
    req = pb().WriteRequest(table="t", writer_id="w", epoch=1)
    req.batch.rows, req.batch.row_count = b"\x01" * (1 << 20), 1
    e = call_error(lambda: list(method(ch, "Write")(iter([req]), timeout=CALL_TIMEOUT)))
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (e.code(), e.details())

    for bad in ("0", "2048", "lots"):
        proc = _run_failing(sidecar_bin, tmp_path, "--max-receive-message-mb", bad)
        assert proc.returncode == 2 and "--max-receive-message-mb" in proc.stderr, proc.stderr


# -- the probe-only health port ----------------------------------------------------------------


def test_health_port_answers_probes_in_plaintext_and_nothing_else(start, pki, token_file):
    health_port = free_port()
    sc = start("--tls-cert", pki.path("server.pem"), "--tls-key", pki.path("server.key"),
               "--auth-token-file", token_file, "--health-listen", f"127.0.0.1:{health_port}")
    assert f"health service (only) on 127.0.0.1:{health_port}" in sc.log()
    probe = sc.channel(target=f"127.0.0.1:{health_port}")
    assert health(probe) == SERVING
    assert describe_missing(probe, metadata=bearer(TOKEN)) == grpc.StatusCode.UNIMPLEMENTED
    # The API stays on the TLS port.
    assert describe_missing(sc.channel(pki.client_credentials()),
                            metadata=bearer(TOKEN)) == grpc.StatusCode.NOT_FOUND
