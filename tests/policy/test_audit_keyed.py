"""The keyed audit chain: whoever can write the database but lacks the key cannot rewrite, cut,
drop or extend the chain unnoticed; checkpoints are signed and exportable; legacy records verify."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from clearsight.errors import InvalidParameterException
from clearsight.policy.audit import GENESIS, AuditLog, AuditRecord, canonical, chain_hash
from clearsight.settings import Settings
from clearsight.storage.sqlite import SqliteStore


def fill(log: AuditLog, n: int = 6) -> None:
    for i in range(n):
        log.append(AuditRecord("SearchFaces", "c", threshold=99.0, gallery_size=i, results=[{"FaceId": str(i)}]))


@pytest.fixture()
def log(tmp_path: Path) -> AuditLog:
    return AuditLog(SqliteStore(tmp_path / "clearsight.db"))


def rows(log: AuditLog) -> list[tuple[int, str, str, str]]:
    return [tuple(r) for r in log.store.db.execute("SELECT seq, record, prev_hash, hash FROM audit ORDER BY seq")]


def rewrite_from(log: AuditLog, seq: int, link: object) -> None:
    """Recompute every hash from ``seq`` on with ``link`` (what a forger can compute)."""
    db = log.store.db
    prev = GENESIS if seq == 1 else rows(log)[seq - 2][3]
    for s, text, _, _ in rows(log)[seq - 1:]:
        h = link(prev, text)  # type: ignore[operator]
        db.execute("UPDATE audit SET prev_hash=?, hash=? WHERE seq=?", (prev, h, s))
        prev = h


def edit(log: AuditLog, seq: int, **changes: object) -> None:
    body = json.loads(rows(log)[seq - 1][1])
    body.update(changes)
    log.store.db.execute("UPDATE audit SET record=? WHERE seq=?", (canonical(body), seq))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clearsight.cli", "audit", *args], capture_output=True, text=True,
                          timeout=120)


def test_key_file_is_created_0600_and_hex_key_setting_wins(tmp_path: Path) -> None:
    log = AuditLog(SqliteStore(tmp_path / "a" / "clearsight.db"))
    key_file = tmp_path / "a" / "audit.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and len(bytes.fromhex(key_file.read_text())) == 32
    assert AuditLog(SqliteStore(tmp_path / "a" / "clearsight.db")).key.key_id == log.key.key_id  # reused, not replaced
    hex_key = os.urandom(32).hex()
    keyed = AuditLog(SqliteStore(tmp_path / "b" / "clearsight.db"), Settings.load(audit_key=hex_key))
    assert not (tmp_path / "b" / "audit.key").exists() and keyed.key.key_id != log.key.key_id
    elsewhere = tmp_path / "keys" / "cs.key"
    AuditLog(SqliteStore(tmp_path / "c" / "clearsight.db"), Settings.load(audit_key_file=str(elsewhere)))
    assert elsewhere.exists() and not (tmp_path / "c" / "audit.key").exists()
    with pytest.raises(InvalidParameterException, match="at least 32 bytes"):
        AuditLog(SqliteStore(tmp_path / "d" / "clearsight.db"), Settings.load(audit_key="abcd"))


def test_edit_and_recompute_every_later_hash_is_detected(log: AuditLog) -> None:
    fill(log)
    edit(log, 3, threshold=50.0)
    rewrite_from(log, 3, chain_hash)  # the old, unkeyed recipe
    result = log.verify()
    assert not result.ok and result.first_bad == 3
    wrong_key = os.urandom(32)
    rewrite_from(log, 3, lambda p, t: hmac.new(wrong_key, (p + "\n" + t).encode(), hashlib.sha256).hexdigest())
    assert log.verify().first_bad == 3


def test_rewriting_the_whole_chain_unkeyed_is_detected(log: AuditLog) -> None:
    fill(log)
    for seq in range(1, 7):
        body = json.loads(rows(log)[seq - 1][1])
        del body["chain"]  # pass it off as a legacy, unkeyed chain
        log.store.db.execute("UPDATE audit SET record=? WHERE seq=?", (canonical(body), seq))
    rewrite_from(log, 1, chain_hash)
    result = log.verify()
    assert not result.ok and result.first_bad == 1 and "unkeyed" in (result.problem or "")
    assert log.verify(local=False).ok  # without the checkpoint pinning "keyed from 1" it would pass


def test_truncation_is_detected_by_a_plain_verify(log: AuditLog) -> None:
    fill(log)
    assert log.write_checkpoint() is not None
    log.store.db.execute("DELETE FROM audit WHERE seq>=5")
    result = log.verify()
    assert not result.ok and result.first_bad == 5 and "removed" in (result.problem or "")
    assert log.write_checkpoint() is None  # a broken chain does not get a fresh checkpoint
    assert json.loads(log.checkpoint_path.read_text())["seq"] == 6  # the evidence is kept


def test_drop_table_is_detected_by_a_plain_verify(log: AuditLog, tmp_path: Path) -> None:
    fill(log)
    log.write_checkpoint()
    log.store.db.execute("DROP TABLE audit")
    result = log.verify()
    assert not result.ok and "dropped" in (result.problem or "")
    reopened = AuditLog(SqliteStore(tmp_path / "clearsight.db"))  # the server restarts: an empty table again
    reopened.checkpoint_every = 0
    fill(reopened, 2)  # and keeps appending (refreshing the checkpoint is refused)
    result = reopened.verify()
    assert not result.ok and "checkpoint saw record 6" in (result.problem or "")


def test_records_forged_after_the_last_checkpoint_are_detected(log: AuditLog) -> None:
    fill(log)
    log.write_checkpoint()
    _, text, _, head = rows(log)[-1]
    forged = json.loads(text) | {"seq": 7, "gallery_size": 1}
    forged_text = canonical(forged)
    log.store.db.execute("INSERT INTO audit VALUES (7, ?, ?, ?)", (forged_text, head, chain_hash(head, forged_text)))
    result = log.verify()
    assert not result.ok and result.first_bad == 7
    unkeyed = {k: v for k, v in forged.items() if k != "chain"}
    log.store.db.execute("UPDATE audit SET record=?, hash=? WHERE seq=7",
                         (canonical(unkeyed), chain_hash(head, canonical(unkeyed))))
    result = log.verify()
    assert not result.ok and result.first_bad == 7 and "unkeyed" in (result.problem or "")


@pytest.mark.parametrize("text", ["[1, 2, 3]", "42", "null", '"seq"'])
def test_a_record_that_is_not_a_json_object_is_reported_not_a_crash(log: AuditLog, text: str) -> None:
    fill(log)
    log.store.db.execute("UPDATE audit SET record=? WHERE seq=4", (text,))
    result = log.verify()
    assert not result.ok and result.first_bad == 4 and "JSON object" in (result.problem or "")
    listed = list(log.records(collection="c"))  # listing still works, without the tampered record
    assert [r["seq"] for r in listed] == [1, 2, 3, 5, 6]
    assert next(r for r in log.records() if r["seq"] == 4)["unreadable_record"] == text


def test_periodic_checkpoint_follows_the_head(log: AuditLog) -> None:
    log.checkpoint_every = 0
    fill(log, 3)
    cp = json.loads(log.checkpoint_path.read_text())
    assert cp["seq"] == 3 and cp["hash"] == rows(log)[-1][3] and cp["keyed_from"] == 1 and cp["signature"]


def test_legacy_unkeyed_records_still_verify_and_stay_pinned(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "clearsight.db")
    store.db.execute("CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, record TEXT NOT NULL, "
                     "prev_hash TEXT NOT NULL, hash TEXT NOT NULL)")  # migration 1 made it: the same table
    prev = GENESIS
    for seq in (1, 2, 3):  # what the unkeyed version wrote
        text = canonical({"seq": seq, "operation": "SearchFaces", "results": [{"FaceId": f"face-{seq}"}]})
        store.db.execute("INSERT INTO audit VALUES (?,?,?,?)", (seq, text, prev, chain_hash(prev, text)))
        prev = chain_hash(prev, text)
    log = AuditLog(store)
    fill(log, 2)
    result = log.verify()
    assert result.ok and result.records == 5 and result.unkeyed == 3 and result.keyed_from == 4
    assert [r["seq"] for r in log.records(face_id="face-2")] == [2]  # legacy records hold raw ids
    edit(log, 2, operation="DetectFaces")
    rewrite_from(log, 2, chain_hash)  # the unkeyed prefix is only as strong as before...
    edit(log, 4, gallery_size=99)
    rewrite_from(log, 4, chain_hash)  # ...but the keyed records are not
    result = log.verify(local=False)
    assert not result.ok and result.first_bad == 4
    result = log.verify()  # and the checkpoint written at the upgrade pinned the legacy head
    assert not result.ok and result.first_bad == 3 and "checkpoint" in (result.problem or "")


def test_exported_checkpoints_through_the_cli(log: AuditLog, tmp_path: Path) -> None:
    fill(log)
    data = ["--data-dir", str(tmp_path)]
    made = cli("checkpoint", *data)
    assert made.returncode == 0, made.stderr
    cp = json.loads(made.stdout)
    assert (cp["seq"], cp["intact"], cp["key_id"]) == (6, True, log.key.key_id) and cp["signature"]
    exported = tmp_path.parent / f"{tmp_path.name}-cp.json"  # shipped off the box
    exported.write_text(made.stdout)
    fill(log, 2)
    ok = json.loads(cli("verify", "--checkpoint", str(exported), "--json", *data).stdout)
    assert ok["Intact"] is True and ok["Records"] == 8 and ok["SignedCheckpoints"] == 2

    edited = exported.with_name("edited.json")
    edited.write_text(json.dumps(cp | {"seq": 5}))
    out = json.loads(cli("verify", "--checkpoint", str(edited), "--json", *data).stdout)
    assert out["Intact"] is False and "signature" in out["Problem"]

    other = AuditLog(SqliteStore(tmp_path / "other" / "clearsight.db"))
    foreign = exported.with_name("foreign.json")
    foreign.write_text(json.dumps(other.key.sign_checkpoint(seq=cp["seq"], head=cp["hash"], keyed_from=1)))
    out = json.loads(cli("verify", "--checkpoint", str(foreign), "--json", *data).stdout)
    assert out["Intact"] is False and "signed by audit key" in out["Problem"]

    # the attacker cuts the chain below the export and deletes the local checkpoint too
    log.store.db.execute("DELETE FROM audit WHERE seq>=4")
    log.checkpoint_path.unlink()
    assert cli("verify", *data).returncode == 0  # only the exported copy can tell now...
    proc = cli("verify", "--checkpoint", str(exported), "--json", *data)
    out = json.loads(proc.stdout)
    assert proc.returncode == 1 and out["Intact"] is False and out["FirstBadRecord"] == 4
    assert set(out) >= {"Intact", "Records", "Head", "FirstBadRecord", "Problem"}


def test_refreshing_the_local_checkpoint_checks_only_the_tail_but_loses_no_evidence(log: AuditLog) -> None:
    fill(log)
    log.write_checkpoint()
    log.checkpoint_every = 0
    edit(log, 2, threshold=10.0)  # before the checkpoint: a full verify still finds it
    fill(log, 1)
    assert json.loads(log.checkpoint_path.read_text())["seq"] == 7
    assert log.verify().first_bad == 2
