"""A real `clearsight serve` on a free loopback port for the benchmarks, with a new admin key."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

CLI = [sys.executable, "-m", "clearsight.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Server = tuple[subprocess.Popen[bytes], str, dict[str, str]]  # process, URL, admin key


def start_server(data_dir: Path, *, workers: int = 2, env: dict[str, str] | None = None, cli: list[str] | None = None,
                 key_name: str = "bench", cwd: Path | None = None) -> Server:
    """Start the server over ``data_dir`` and wait for /health: (process, URL, {AccessKeyId, SecretAccessKey}).
    ``cli`` and ``env`` run another tree's ClearSight (default: this interpreter's, this environment);
    ``cwd`` is where the processes run. The log is data_dir/server.log."""
    import httpx

    cli = cli or CLI
    key = json.loads(subprocess.run([*cli, "keys", "create", "--name", key_name, "--scope", "admin", "--data-dir",
                                     str(data_dir), "--json"], capture_output=True, text=True, check=True,
                                    timeout=120, env=env, cwd=cwd).stdout)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(data_dir / "server.log", "ab")  # the child keeps its own descriptor
    proc = subprocess.Popen([*cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
                             "--workers", str(workers)], stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env,
                            cwd=cwd)
    log.close()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url, key
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not start:\n" + (data_dir / "server.log").read_text()[-3000:])
