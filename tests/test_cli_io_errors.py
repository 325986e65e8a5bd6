"""The command line never shows a traceback when its input or output fails.

Every command runs in a real subprocess with its standard output on a full disk
(``/dev/full``: ENOSPC), closed, or a pipe nobody reads any more (EPIPE), and with its
files unreadable or unwritable (EACCES; as root the command runs without the capabilities that let
root bypass file modes). Commands other helpers add later are covered through their
``--help`` until they have an entry in ``RUNS``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from livechat_core import Desk, SqliteStore
from livechat_core._cli import build_parser
from livechat_core.testing import ManualClock

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """A directory every user may read: inputs, a stored desk, an unwritable subdirectory."""
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        root.chmod(0o755)
        lines = "".join(
            f"line {n}: call me on +447966197542 or melissa@gmail.com\n" for n in range(20_000)
        )
        (root / "chat.log").write_text(lines, encoding="utf-8")
        sys.path.insert(0, str(HERE))
        try:
            from test_report import T0, scripted_shift
        finally:
            sys.path.remove(str(HERE))
        clock = ManualClock(T0)
        store = SqliteStore(str(root / "desk.db"))
        scripted_shift(Desk(store=store, clock=clock), clock)
        store.close()
        for path in root.iterdir():
            path.chmod(0o644)
        locked = root / "locked"
        locked.mkdir()
        locked.chmod(0o555)  # nobody but root may create files here
        secret = root / "secret.log"
        secret.write_text("4111 1111 1111 1111\n", encoding="utf-8")
        secret.chmod(0o000)
        yield root


# One run of each command that writes to standard output.
RUNS: dict[str, list[str]] = {
    "simulate": ["simulate", "--db", ":memory:", "--minutes", "2", "--agents", "2"],
    "mask": ["mask", "chat.log"],
    "diagram": ["diagram", "conversation"],
    "report": ["report", "--db", "desk.db"],
}


def every_command() -> list[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(actions[0].choices)


def invocation(command: str) -> list[str]:
    return RUNS.get(command, [command, "--help"])


def run(
    args: list[str],
    cwd: Path,
    *,
    stdout: int | None = None,
    shell_redirect: str = "",
    unprivileged: bool = False,
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "livechat_core", *args]
    if shell_redirect:
        command = ["bash", "-c", f'exec "$@" {shell_redirect}', "bash", *command]
    if unprivileged and os.geteuid() == 0:
        # root reads and writes anything: drop the two capabilities that let it, so the
        # file modes apply to it as to anyone (util-linux's setpriv)
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot give up file permissions")
        command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--", *command]
    return subprocess.run(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "HOME": str(cwd), "MPLCONFIGDIR": str(cwd / "mpl")},
    )


def assert_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert "Exception ignored" not in result.stderr
    # matplotlib's own note, printed when building its font cache takes over 5 s (a fresh
    # MPLCONFIGDIR on a loaded machine), is not the command's output
    lines = [
        line
        for line in result.stderr.strip().splitlines()
        if not line.startswith("Matplotlib is building the font cache")
    ]
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


def test_runs_cover_the_shipped_commands() -> None:
    assert {"simulate", "mask", "diagram", "report"} <= set(every_command())


@pytest.mark.parametrize("command", every_command())
def test_standard_output_on_a_full_disk(command: str, workdir: Path) -> None:
    with open("/dev/full", "w") as full:
        result = run(invocation(command), workdir, stdout=full.fileno())
    assert_one_line(result, "No space left on device")


@pytest.mark.parametrize("command", every_command())
def test_standard_output_closed(command: str, workdir: Path) -> None:
    result = run(invocation(command), workdir, shell_redirect=">&-")
    assert_one_line(result, "standard output is closed")


@pytest.mark.parametrize("command", every_command())
def test_a_reader_that_went_away(command: str, workdir: Path) -> None:
    reading, writing = os.pipe()
    os.close(reading)  # every write now fails with EPIPE
    try:
        result = run(invocation(command), workdir, stdout=writing)
    finally:
        os.close(writing)
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""  # quiet, like any Unix filter cut short by `| head`


def test_standard_input_closed(workdir: Path) -> None:
    result = run(["mask"], workdir, shell_redirect="<&-")
    assert_one_line(result, "standard input is closed")


def test_help_and_version_on_a_full_disk(workdir: Path) -> None:
    with open("/dev/full", "w") as full:
        for args in (["--help"], ["--version"]):
            assert_one_line(run(args, workdir, stdout=full.fileno()), "No space left")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["simulate", "--db", ":memory:", "--minutes", "2", "--json", "/dev/full"], "/dev/full"),
        (["simulate", "--db", ":memory:", "--minutes", "2", "--events", "/dev/full"], "/dev/full"),
        (["report", "--db", "desk.db", "--output", "/dev/full"], "/dev/full"),
        (["report", "--db", "desk.db", "--json", "-o", "/dev/full"], "/dev/full"),
    ],
)
def test_output_files_on_a_full_disk(args: list[str], expected: str, workdir: Path) -> None:
    result = run(args, workdir)
    assert_one_line(result, f"cannot write '{expected}'", "No space left on device")


def test_plot_on_a_full_disk(workdir: Path) -> None:
    pytest.importorskip("matplotlib")
    result = run(["simulate", "--db", ":memory:", "--minutes", "2", "--plot", "/dev/full"], workdir)
    assert_one_line(result, "cannot write '/dev/full'", "No space left on device")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["simulate", "--db", ":memory:", "--minutes", "2", "--json", "locked/r.json"], "r.json"),
        (["simulate", "--db", ":memory:", "--minutes", "2", "--events", "locked/e"], "locked/e"),
        (["simulate", "--db", "locked/sim.db", "--minutes", "2"], "locked/sim.db"),
        (["report", "--db", "desk.db", "--csv", "-o", "locked/r.csv"], "locked/r.csv"),
        (["mask", "secret.log"], "secret.log"),
        (["report", "--db", "secret.log"], "secret.log"),
    ],
)
def test_permission_denied(args: list[str], expected: str, workdir: Path) -> None:
    result = run(args, workdir, unprivileged=True)
    assert_one_line(result, expected)
    assert "ermission denied" in result.stderr or "unable to open" in result.stderr


def test_permission_denied_setup_is_real(workdir: Path) -> None:
    # the cases above only mean something if the files really are out of reach
    assert stat.S_IMODE((workdir / "locked").stat().st_mode) == 0o555
    result = run(["mask", "chat.log"], workdir, unprivileged=True)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- options


def test_an_unknown_option_is_named(workdir: Path) -> None:
    for args in (["--frob"], ["--frob", "mask"], ["mask", "--frob", "chat.log"]):
        result = run(args, workdir)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert "unrecognized arguments: --frob" in result.stderr.strip(), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    result = run([], workdir)
    assert result.returncode == 2
    assert "a command is required" in result.stderr
