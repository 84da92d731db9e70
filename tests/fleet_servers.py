"""Real servers on 127.0.0.1 for the fleet tests: nginx (HTTP with Range) and moto (S3).

Both are started as child processes on a free port with their own temp
config, and stopped by the fixture that started them.  What the server saw
is read back from its own log: nginx's access log records every request
with its status, $body_bytes_sent and the Range header; moto's request
recorder (its /moto-api/recorder endpoints) lists every request with its
headers.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, proc, what, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not listen on 127.0.0.1:%d" % (what, port))


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Nginx:
    """nginx serving `root` on 127.0.0.1; paths in `fail_ranges` answer 500 to ranged GETs."""

    def __init__(self, workdir, root, *, fail_ranges=()):
        self.dir = str(workdir)
        self.root = str(root)
        self.port = free_port()
        self.log = os.path.join(self.dir, "access.log")
        fails = "".join(
            "        location = %s { if ($http_range) { return 500; } }\n" % p
            for p in fail_ranges)
        conf = """
daemon off;
master_process off;
worker_processes 1;
user root;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 256; }
http {
    log_format fleet '$request_method $uri $status $body_bytes_sent "$http_range"';
    access_log %(d)s/access.log fleet;
    client_body_temp_path %(d)s/body;
    proxy_temp_path %(d)s/proxy;
    fastcgi_temp_path %(d)s/fastcgi;
    uwsgi_temp_path %(d)s/uwsgi;
    scgi_temp_path %(d)s/scgi;
    types { application/octet-stream kdump; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:%(port)d;
        root %(root)s;
%(fails)s        location / { autoindex on; }
    }
}
""" % dict(d=self.dir, port=self.port, root=self.root, fails=fails)
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen([NGINX, "-c", self.conf, "-p", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait_port(self.port, self.proc, "nginx")
        self.url = "http://127.0.0.1:%d" % self.port

    def entries(self):
        """[(method, uri, status, bytes sent, range header)] so far."""
        out = []
        with open(self.log) as f:
            for line in f:
                method, uri, status, sent, rng = line.rstrip("\n").split(" ", 4)
                out.append((method, uri, int(status), int(sent), rng.strip('"')))
        return out

    def seen(self, uri):
        """(requests, body bytes) the server sent for `uri`."""
        got = [e for e in self.entries() if e[1] == uri]
        return len(got), sum(e[3] for e in got)

    def stop(self):
        _stop(self.proc)


class Moto:
    """moto's S3 server mode on 127.0.0.1 (the moto[server] console script)."""

    def __init__(self, workdir):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
        cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "moto.server"]
        self.errlog = open(os.path.join(str(workdir), "moto.log"), "wb")
        env = dict(os.environ, MOTO_ENABLE_RECORDING="True")
        self.proc = subprocess.Popen(cmd + ["-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.errlog, stderr=subprocess.STDOUT, env=env,
                                     cwd=str(workdir))    # its recorder writes a file there
        _wait_port(self.port, self.proc, "moto_server")

    def client(self):
        import boto3
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def _api(self, what, method="POST"):
        req = urllib.request.Request("%s/moto-api/recorder/%s" % (self.url, what), method=method,
                                     data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()

    def start_recording(self):
        self._api("reset-recording")
        self._api("start-recording")

    def recorded(self):
        """[(method, path, Range header or None)] of the requests since start_recording."""
        self._api("stop-recording")
        out = []
        for line in self._api("download-recording", "GET").decode().splitlines():
            if line.strip():
                r = json.loads(line)
                h = {k.lower(): v for k, v in (r.get("headers") or {}).items()}
                out.append((r.get("method"), r.get("url", ""), h.get("range")))
        return out

    def stop(self):
        _stop(self.proc)
        self.errlog.close()


def range_bytes(header, size):
    """Bytes a 'bytes=a-b' Range header asks of an object of `size` bytes."""
    spec = header.split("=", 1)[1]
    lo, hi = spec.split("-", 1)
    lo = int(lo)
    hi = min(int(hi), size - 1) if hi else size - 1
    return max(0, hi - lo + 1)
