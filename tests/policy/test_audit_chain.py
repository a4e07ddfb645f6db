"""The audit trail is a hash chain: every kind of tampering is detected and located."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clearsight.collections.service import Collections
from clearsight.policy.audit import AuditRecord


def fill(c: Collections, n: int = 6) -> None:
    for i in range(n):
        c.audit.append(AuditRecord("SearchFaces", "c", threshold=99.0, gallery_size=i, results=[{"FaceId": str(i)}]))


def test_intact_chain_verifies(collections: Collections) -> None:
    fill(collections)
    result = collections.audit.verify()
    assert result.ok and result.records == 6


@pytest.mark.parametrize("tamper,bad", [
    ("UPDATE audit SET record=replace(record, '\"gallery_size\":3', '\"gallery_size\":300') WHERE seq=4", 4),
    ("DELETE FROM audit WHERE seq=3", 4),
    ("UPDATE audit SET seq=seq+100 WHERE seq>=3; UPDATE audit SET seq=seq-99 WHERE seq>=103", 4),
    ("UPDATE audit SET seq=99 WHERE seq=2; UPDATE audit SET seq=2 WHERE seq=5; UPDATE audit SET seq=5 WHERE seq=99", 2),
])
def test_tampering_is_detected_and_located(collections: Collections, tamper: str, bad: int) -> None:
    fill(collections)
    collections.store.db.executescript(tamper)
    result = collections.audit.verify()
    assert not result.ok
    assert result.first_bad == bad, result


def test_inserted_forged_record_is_detected(collections: Collections) -> None:
    fill(collections)
    db = collections.store.db
    rows = db.execute("SELECT seq, record, prev_hash, hash FROM audit ORDER BY seq").fetchall()
    # shift records 4.. up by one and insert a forged, self-consistent record at 4
    db.executescript("UPDATE audit SET seq=seq+1000 WHERE seq>=4; UPDATE audit SET seq=seq-999 WHERE seq>=1004")
    from clearsight.policy.audit import canonical

    chain_hash = collections.audit.key.chain_hash  # a forger holding the key (without it, see below)
    forged = json.loads(rows[3][1])
    forged["seq"] = 4
    text = canonical(forged)
    db.execute("INSERT INTO audit VALUES (4, ?, ?, ?)", (text, rows[2][3], chain_hash(rows[2][3], text)))
    result = collections.audit.verify()
    assert not result.ok and result.first_bad == 5


def test_truncated_tail_is_caught_by_a_checkpoint(collections: Collections, tmp_path: Path) -> None:
    fill(collections)
    head = collections.audit.verify()
    checkpoint = tmp_path / "cp.json"
    checkpoint.write_text(json.dumps({"seq": head.records, "hash": head.head}))
    collections.store.db.execute("DELETE FROM audit WHERE seq=6")
    assert collections.audit.verify().ok  # a chain cut at its end is still a chain...
    proc = subprocess.run([sys.executable, "-m", "clearsight.cli", "audit", "verify", "--checkpoint",
                           str(checkpoint), "--data-dir", str(collections.data_dir), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1  # ...but not the one the checkpoint saw
    assert json.loads(proc.stdout)["Intact"] is False


def test_cli_verify_names_the_first_bad_record(collections: Collections) -> None:
    fill(collections)
    collections.store.db.execute("UPDATE audit SET record=replace(record,'99.0','80.0') WHERE seq=2")
    proc = subprocess.run([sys.executable, "-m", "clearsight.cli", "audit", "verify", "--data-dir",
                           str(collections.data_dir)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "record 2" in proc.stdout
    listed = subprocess.run([sys.executable, "-m", "clearsight.cli", "audit", "list", "--json", "--collection", "c",
                             "--data-dir", str(collections.data_dir)], capture_output=True, text=True, timeout=120)
    assert len(listed.stdout.splitlines()) == 6
