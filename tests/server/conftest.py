"""A real server: `clearsight serve` in a subprocess on 127.0.0.1, driven by real boto3 clients."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest


@dataclass
class Server:
    url: str
    data_dir: Path
    key_id: str
    secret: str
    s3_root: Path
    proc: subprocess.Popen[bytes] | None = None  # the server process (tests that kill it)

    def client(self, **overrides: Any) -> Any:
        import boto3
        from botocore.config import Config

        config = overrides.pop("config", Config(retries={"max_attempts": 1}, read_timeout=300))
        kwargs = dict(endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=self.key_id,
                      aws_secret_access_key=self.secret, config=config)
        kwargs.update(overrides)
        return boto3.client("rekognition", **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clearsight(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clearsight.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


@contextlib.contextmanager
def start_server(data_dir: Path, *, env: dict[str, str] | None = None, key: bool = True) -> Iterator[Server]:
    """`clearsight serve` on a free loopback port over ``data_dir`` (with an admin key made first unless
    ``key`` is False), stopped on exit. ``env`` adds environment variables (CLEARSIGHT_* settings)."""
    s3_root = data_dir / "s3"
    (s3_root / "photos").mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {"AccessKeyId": "", "SecretAccessKey": ""}
    if key:
        created = clearsight("keys", "create", "--name", "tests", "--scope", "admin", "--data-dir", str(data_dir),
                             "--json", env=dict(os.environ, **(env or {})))  # the server's settings (storage_url)
        assert created.returncode == 0, created.stderr
        made = json.loads(created.stdout)
    port = free_port()
    full_env = dict(os.environ, CLEARSIGHT_S3_ROOT=str(s3_root), **(env or {}))
    log = open(data_dir / "server.log", "w")  # closed at exit
    proc = subprocess.Popen([sys.executable, "-m", "clearsight.cli", "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--data-dir", str(data_dir), "--workers", "2"], stdout=log, stderr=log,
                            env=full_env, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            raise RuntimeError("server did not start:\n" + (data_dir / "server.log").read_text())
        time.sleep(0.3)
    try:
        yield Server(url, data_dir, made["AccessKeyId"], made["SecretAccessKey"], s3_root, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        finally:
            log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("server-data")) as running:
        yield running
