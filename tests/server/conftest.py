"""A real server: `clearsight serve` in a subprocess on 127.0.0.1, driven by real boto3 clients."""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("server-data")
    s3_root = data_dir / "s3"
    (s3_root / "photos").mkdir(parents=True)
    created = clearsight("keys", "create", "--name", "tests", "--scope", "admin", "--data-dir", str(data_dir),
                         "--json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    port = free_port()
    env = dict(os.environ, CLEARSIGHT_S3_ROOT=str(s3_root))
    log = open(data_dir / "server.log", "w")  # closed at teardown
    proc = subprocess.Popen([sys.executable, "-m", "clearsight.cli", "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--data-dir", str(data_dir), "--workers", "2"], stdout=log, stderr=log, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.close()
            raise RuntimeError("server did not start:\n" + (data_dir / "server.log").read_text())
        time.sleep(0.3)
    yield Server(url, data_dir, key["AccessKeyId"], key["SecretAccessKey"], s3_root)
    proc.terminate()
    try:
        proc.wait(timeout=30)
    finally:
        log.close()
