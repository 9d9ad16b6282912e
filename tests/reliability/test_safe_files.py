"""Files the provider keeps in folders other users may write to are never followed through their links.

The file backend of the shared rate limit keeps one file per app and path under a predictable name. A
symlink planted under that name (to a file, to a folder) must not be followed: the run fails with a
FeishuConfigError and the link's target is untouched. A folder others can write to is refused unless it is
sticky, and in a sticky folder a file owned by another user (uid 65534 here) is refused. The files are
created 0600 whatever the umask. Output temp files (mkstemp beside the target) get the same folder rule.
Pulls go through the real hook to the double on loopback, in this process and in fresh task processes.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_feishu_workplace.exceptions import FeishuConfigError
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

REPO_ROOT = Path(__file__).resolve().parents[2]
OTHER_UID = 65534  # nobody
PULL = """
import sys
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
from airflow_provider_feishu_workplace.exceptions import FeishuConfigError

hook = FeishuWorkplaceHook("feishu_default", shared_rate_limit=sys.argv[1], backoff_base=0.01)
try:
    print(len(list(hook.iter_access_data("block", "2026-10-01", "2026-10-01"))))
except FeishuConfigError as error:
    print("refused:", error)
finally:
    hook.close()
"""


@pytest.fixture(autouse=True)
def fresh_pacers():
    """Pacers are shared per process: each case starts without the previous case's."""
    from airflow_provider_feishu_workplace.hooks import _pacing

    _pacing._pacers.clear()
    yield
    _pacing._pacers.clear()


def pull(folder: Path) -> int:
    hook = FeishuWorkplaceHook(shared_rate_limit=f"file://{folder}", backoff_base=0.01)
    try:
        return len(list(hook.iter_access_data("block", "2026-10-01", "2026-10-01")))
    finally:
        hook.close()


def pull_in_a_task_process(folder: Path, feishu_double) -> str:
    env = {**os.environ, "AIRFLOW_CONN_FEISHU_DEFAULT": feishu_double.connection()}
    done = subprocess.run(
        [sys.executable, "-c", PULL, f"file://{folder}"], capture_output=True, text=True, env=env, cwd=REPO_ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def pace_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("feishu-pace-*"))


@pytest.fixture
def victim(tmp_path) -> Path:
    """A file someone else cares about, outside the pace folder."""
    path = tmp_path / "victim" / "precious.txt"
    path.parent.mkdir()
    path.write_text("precious\n")
    path.chmod(0o644)
    return path


def test_pace_files_are_created_owner_only_whatever_the_umask(feishu_connection, tmp_path):
    folder = tmp_path / "pace"
    previous = os.umask(0)
    try:
        assert pull(folder) == 5
    finally:
        os.umask(previous)

    assert len(pace_files(folder)) == 2
    assert {stat.S_IMODE(path.stat().st_mode) for path in pace_files(folder)} == {0o600}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


@pytest.mark.parametrize("target", ["file", "folder"])
def test_a_symlink_planted_under_a_pace_files_name_is_not_followed(target, feishu_connection, tmp_path, victim):
    folder = tmp_path / "pace"
    assert pull(folder) == 5
    link_to = victim if target == "file" else victim.parent
    for path in pace_files(folder):
        path.unlink()
        path.symlink_to(link_to)

    with pytest.raises(FeishuConfigError, match="symbolic link"):
        pull(folder)  # the pacers of this process are built already: the link is met on the next slot

    assert victim.read_text() == "precious\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert sorted(p.name for p in victim.parent.iterdir()) == ["precious.txt"]


def test_a_symlink_planted_before_a_task_process_starts_fails_that_process(feishu_double, tmp_path, victim):
    folder = tmp_path / "pace"
    assert pull_in_a_task_process(folder, feishu_double) == "5"
    for path in pace_files(folder):
        path.unlink()
        path.symlink_to(victim)

    outcome = pull_in_a_task_process(folder, feishu_double)

    assert outcome.startswith("refused:") and "symbolic link" in outcome
    assert victim.read_text() == "precious\n"


def test_a_hard_link_planted_under_a_pace_files_name_is_refused(feishu_connection, tmp_path):
    folder = tmp_path / "pace"
    assert pull(folder) == 5
    other = tmp_path / "pace-copy"
    os.link(pace_files(folder)[0], other)

    with pytest.raises(FeishuConfigError, match="hard link"):
        pull(folder)


def folder_with_mode(path: Path, mode: int) -> Path:
    path.mkdir()
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    "mode, message",
    [
        pytest.param(0o777, r"chmod \+t", id="others-can-write"),
        pytest.param(0o770, "other users", id="group-can-write"),
    ],
)
def test_a_folder_others_can_write_to_without_the_sticky_bit_is_refused(feishu_connection, tmp_path, mode, message):
    folder = folder_with_mode(tmp_path / "shared", mode)

    with pytest.raises(FeishuConfigError, match=message):
        pull(folder)

    assert pace_files(folder) == []


def test_a_sticky_folder_others_can_write_to_is_used(feishu_connection, tmp_path):
    folder = folder_with_mode(tmp_path / "sticky", 0o1777)

    assert pull(folder) == 5
    assert {stat.S_IMODE(path.stat().st_mode) for path in pace_files(folder)} == {0o600}


def test_in_a_sticky_folder_a_pace_file_owned_by_another_user_is_refused(feishu_double, tmp_path):
    folder = folder_with_mode(tmp_path / "sticky", 0o1777)
    assert pull_in_a_task_process(folder, feishu_double) == "5"
    for path in pace_files(folder):
        os.chown(path, OTHER_UID, OTHER_UID)  # as if another user had made it first

    outcome = pull_in_a_task_process(folder, feishu_double)

    assert outcome.startswith("refused:") and f"uid {OTHER_UID}" in outcome


def test_a_folder_owned_by_another_user_without_the_sticky_bit_is_refused(feishu_connection, tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o755)
    os.chown(folder, OTHER_UID, OTHER_UID)

    with pytest.raises(FeishuConfigError, match=f"owner uid {OTHER_UID}"):
        pull(folder)


def output_file(target: Path):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_provider_feishu_workplace.outputs.files import OutputFile

    return OutputFile(ObjectStoragePath(f"file://{target}"), "jsonl", None)


def test_an_output_temp_file_is_created_exclusively_owner_only_and_published_with_the_usual_mode(tmp_path):
    target = tmp_path / "out" / "part.jsonl"
    previous = os.umask(0o022)
    try:
        with output_file(target) as output:
            output.write({"a": 1})
            temps = [p for p in target.parent.iterdir() if p.name != target.name]
            temp_modes = {stat.S_IMODE(p.lstat().st_mode) for p in temps}
            output.commit()
    finally:
        os.umask(previous)

    assert len(temps) == 1 and temp_modes == {0o600}
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 and target.read_text() == '{"a":1}\n'


def test_an_output_temp_file_renamed_and_replaced_by_a_link_does_not_change_the_links_target(tmp_path, victim):
    target = tmp_path / "out" / "part.jsonl"
    victim.chmod(0o600)  # publishing gives 0644: a chmod through the link would show
    with output_file(target) as output:
        output.write({"a": 1})
        temp = next(p for p in target.parent.iterdir() if p.name != target.name)
        os.rename(temp, tmp_path / "moved-away")
        temp.symlink_to(victim)  # what another user could do in a folder open to them
        output.commit()

    assert stat.S_IMODE(victim.stat().st_mode) == 0o600 and victim.read_text() == "precious\n"


@pytest.mark.parametrize("mode", [0o777, 0o773], ids=["world-writable", "world-writable-not-readable"])
def test_an_output_folder_others_can_write_to_without_the_sticky_bit_is_refused(mode, tmp_path):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_provider_feishu_workplace.outputs.files import check_writable

    folder = folder_with_mode(tmp_path / "shared-out", mode)
    target = folder / "part.jsonl"

    with pytest.raises(FeishuConfigError, match=r"chmod \+t"):
        check_writable(ObjectStoragePath(f"file://{target}"))
    with pytest.raises(FeishuConfigError, match=r"chmod \+t"), output_file(target) as output:
        output.write({"a": 1})

    assert list(folder.iterdir()) == []


def test_an_output_in_a_sticky_folder_others_can_write_to_is_written(tmp_path):
    folder = folder_with_mode(tmp_path / "sticky-out", 0o1777)

    with output_file(folder / "part.jsonl") as output:
        output.write({"a": 1})
        output.commit()

    assert (folder / "part.jsonl").read_text() == '{"a":1}\n'
