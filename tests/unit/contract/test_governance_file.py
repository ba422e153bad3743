"""Hot reload: a valid edit takes effect, an invalid one is reported and the last good stays."""

import os
from pathlib import Path

import pytest

from service.adapters.governance_file import GovernanceWatcher, load_governance
from service.domain.governance import GovernanceError
from tests.support.builders import (
    OWNER,
    SECOND_OWNER,
    SECOND_SEED,
    governance_yaml,
    lane_yaml,
    text,
)

EXAMPLE = text("lanes.yaml")
_tick = [1_900_000_000]


def write(path: Path, content: str) -> None:
    path.write_text(content, encoding="utf-8")
    _tick[0] += 1  # a distinct mtime per write, whatever the filesystem's resolution
    os.utime(path, ns=(_tick[0] * 10**9, _tick[0] * 10**9))


def test_loading_a_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(GovernanceError, match=r"lanes\.yaml: cannot read"):
        load_governance(tmp_path / "lanes.yaml")


def test_loading_an_invalid_file_names_file_lane_and_field(tmp_path: Path) -> None:
    path = tmp_path / "lanes.yaml"
    write(path, EXAMPLE.replace("P7D", "P7X"))
    with pytest.raises(GovernanceError, match=r"lanes.yaml: lane exec-customer-review: max_valid"):
        load_governance(path)


def test_a_watcher_refuses_to_start_on_invalid_governance(tmp_path: Path) -> None:
    path = tmp_path / "lanes.yaml"
    write(path, "lanes: []")
    with pytest.raises(GovernanceError):
        GovernanceWatcher(path)


async def test_the_watcher_applies_valid_edits_and_keeps_the_last_good_on_invalid_ones(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lanes.yaml"
    write(path, EXAMPLE)
    errors: list[str] = []
    watcher = GovernanceWatcher(path, on_error=errors.append)
    first = watcher.current
    assert await watcher.poll() is False

    write(path, EXAMPLE.replace("P7D", "P5D"))
    assert await watcher.poll() is True
    edited = watcher.current
    assert edited.lanes["exec-customer-review"].max_validity.days == 5
    assert edited.fingerprint != first.fingerprint

    write(path, EXAMPLE.replace("P7D", "P7X"))
    assert await watcher.poll() is False
    assert watcher.current is edited
    assert len(errors) == 1 and "lane exec-customer-review: max_validity" in errors[0]
    os.utime(path, ns=(1, 1))  # touched, same bad content: not reported again
    assert await watcher.poll() is False and len(errors) == 1

    write(path, "# only a comment differs\n" + EXAMPLE.replace("P7D", "P5D"))
    assert await watcher.poll() is False  # same rules as those in force
    assert watcher.current is edited

    path.unlink()
    assert await watcher.poll() is False
    assert watcher.current is edited and "cannot read" in errors[-1]

    write(path, EXAMPLE)
    assert await watcher.poll() is True
    assert watcher.current.fingerprint == first.fingerprint


def test_a_watcher_without_an_error_callback_still_keeps_the_last_good(tmp_path: Path) -> None:
    path = tmp_path / "lanes.yaml"
    write(path, EXAMPLE)
    watcher = GovernanceWatcher(path)
    write(path, "not: [valid")
    assert watcher.check() is False
    assert watcher.current.lane("exec-customer-review") is not None


async def test_the_watcher_follows_a_configmap_swap_of_its_data_symlink(tmp_path: Path) -> None:
    """Kubernetes mounts a ConfigMap as `lanes.yaml -> ..data/lanes.yaml`, `..data -> ..<ts>`
    and updates it by pointing `..data` at a new folder in one rename."""
    first, second = tmp_path / "..2026_12_01_a", tmp_path / "..2026_12_01_b"
    first.mkdir()
    second.mkdir()
    (first / "lanes.yaml").write_text(governance_yaml())
    (second / "lanes.yaml").write_text(
        "lanes:\n" + lane_yaml("exec-customer-review", owners=((SECOND_OWNER, SECOND_SEED),))
    )
    (tmp_path / "..data").symlink_to(first.name)
    (tmp_path / "lanes.yaml").symlink_to("..data/lanes.yaml")
    watcher = GovernanceWatcher(tmp_path / "lanes.yaml")
    before = watcher.current.lane("exec-customer-review")
    assert before is not None and before.owner(OWNER) is not None
    (tmp_path / "..data_tmp").symlink_to(second.name)
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")  # the atomic swap
    assert await watcher.poll() is True
    lane = watcher.current.lane("exec-customer-review")
    assert lane is not None and lane.owner(OWNER) is None and lane.owner(SECOND_OWNER) is not None
    assert watcher.current.lane("exec-fast-review") is None
