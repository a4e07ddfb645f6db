"""The collection commands as a user runs them: a real data directory, real photos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import data_path


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CLEARSIGHT_DATA_DIR=str(data_dir))
    return subprocess.run([sys.executable, "-m", "clearsight.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env)


def test_collection_index_search_faces_users(tmp_path: Path) -> None:
    data = tmp_path / "store"
    people = tmp_path / "people"
    for person in ("Aaron_Peirsol", "Abdullah_Gul"):
        (people / person).mkdir(parents=True)
        for img in sorted(data_path("lfw", "images", person).glob("*.jpg"))[:2]:
            (people / person / img.name).write_bytes(img.read_bytes())

    assert run(data, "collection", "create", "lfw", "--json").returncode == 0
    again = run(data, "collection", "create", "lfw")
    assert again.returncode == 1 and "ResourceAlreadyExistsException" in again.stderr

    first = run(data, "index", str(people), "--collection", "lfw", "--external-id-from", "parent", "--json")
    assert first.returncode == 0, first.stderr
    lines = [json.loads(x) for x in first.stdout.splitlines()]
    assert lines[-1]["FacesIndexed"] == 4 and lines[-1]["Skipped"] == 0
    assert {r["FaceRecords"][0]["Face"]["ExternalImageId"] for r in lines[:-1]} == {"Aaron_Peirsol", "Abdullah_Gul"}
    resumed = run(data, "index", str(people), "--collection", "lfw", "--json")
    assert json.loads(resumed.stdout.splitlines()[-1])["Skipped"] == 4  # resumable: nothing indexed twice

    desc = json.loads(run(data, "collection", "describe", "lfw", "--json").stdout)
    assert desc["FaceCount"] == 4
    assert json.loads(run(data, "collection", "list", "--json").stdout)["CollectionIds"] == ["lfw"]

    probe = sorted(data_path("lfw", "images", "Abdullah_Gul").glob("*.jpg"))[3]
    found = json.loads(run(data, "search", str(probe), "--collection", "lfw", "--json").stdout)
    assert {m["Face"]["ExternalImageId"] for m in found["FaceMatches"]} == {"Abdullah_Gul"}
    human = run(data, "search", str(probe), "--collection", "lfw", "--threshold", "99", "--max-faces", "1")
    assert human.returncode == 0 and "Abdullah_Gul" in human.stdout

    faces = json.loads(run(data, "faces", "list", "--collection", "lfw", "--json").stdout)["Faces"]
    gul = [f["FaceId"] for f in faces if f["ExternalImageId"] == "Abdullah_Gul"]
    assert run(data, "users", "create", "--collection", "lfw", "--user-id", "gul").returncode == 0
    assoc = json.loads(run(data, "users", "associate", "--collection", "lfw", "--user-id", "gul",
                           "--face-ids", *gul, "--json").stdout)
    assert len(assoc["AssociatedFaces"]) == 2
    users = json.loads(run(data, "users", "search", "--collection", "lfw", "--image", str(probe), "--json").stdout)
    assert [m["User"]["UserId"] for m in users["UserMatches"]] == ["gul"]

    other = [f["FaceId"] for f in faces if f["ExternalImageId"] == "Aaron_Peirsol"]
    deleted = json.loads(run(data, "faces", "delete", *other, "--collection", "lfw", "--json").stdout)
    assert sorted(deleted["DeletedFaces"]) == sorted(other)
    assert run(data, "collection", "delete", "lfw").returncode == 0
    missing = run(data, "collection", "describe", "lfw")
    assert missing.returncode == 1 and "ResourceNotFoundException" in missing.stderr
