"""The command line on real files, good and broken: simulate, mask and diagram."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from livechat_core import MaskingPolicy, SqliteStore, mask_text
from livechat_core.__main__ import main
from livechat_core._machines import MACHINES, mermaid

CARD = "4111 1111 1111 1111"
EMAIL = "melissa@gmail.com"
PHONE = "+447966197542"


def cli(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m livechat_core`` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "livechat_core", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# --------------------------------------------------------------------------- end to end


def test_simulate_end_to_end_on_the_sqlite_default(tmp_path: Path) -> None:
    args = ("simulate", "--minutes", "10", "--json", "report.json", "--events", "events.jsonl")
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "desk kept in livechat-sim.db (SQLite)" in out
    assert "Time in queue" in out
    assert result.stderr == b""  # no progress bar when stderr is not a terminal
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    records = [
        json.loads(line)
        for line in (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(records) == report["events"]
    assert {"id", "type", "aggregate", "aggregate_id", "sequence", "at", "data"} <= set(records[0])
    assert f"{report['chats_started']} started" in out
    # the desk is on disk: a later desk can read what the shift left
    with SqliteStore(tmp_path / "livechat-sim.db") as store:
        chats = store.conversation_ids()
    assert len(chats) == report["chats_started"]

    # a second run replaces the file and reproduces the shift exactly
    again = cli(*args, cwd=tmp_path)
    assert again.returncode == 0
    assert again.stdout == result.stdout
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8")) == report


def test_mask_streams_standard_input(tmp_path: Path) -> None:
    text = f"card {CARD}\nmail {EMAIL}, phone {PHONE}\nnothing here\n"
    result = cli("mask", cwd=tmp_path, stdin=text.encode())
    assert result.returncode == 0
    assert result.stdout.decode() == (
        "card ************1111\nmail m******@gmail.com, phone *********7542\nnothing here\n"
    )
    summary = one_line_error(result.stderr.decode())
    assert summary == (
        "livechat-core mask: masked 3 items in 3 lines: card 1, iban 0, ssn 0, email 1, phone 1"
    )


def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    for args in (("simulate", "--agents", "zero"), ("frobnicate",), (), ("diagram", "robot")):
        result = cli(*args, cwd=tmp_path)
        assert result.returncode == 2, args
        assert one_line_error(result.stderr.decode()).startswith("livechat-core")


def test_mask_stops_quietly_when_the_reader_goes_away(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text(f"card {CARD}\n" * 20_000, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "livechat_core", "mask", str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    assert process.stdout.readline() == b"card ************1111\n"
    process.stdout.close()
    errors = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=60) in (0, 1)
    assert "Traceback" not in errors


def test_mask_runs_in_constant_memory(tmp_path: Path) -> None:
    """A 40 MB log is masked with far less memory than its size."""
    line = "Customer: hello, where is my parcel? It should have come last week already.\n"
    sensitive = f"Customer: my card is {CARD}, mail {EMAIL}\n"
    big = tmp_path / "big.log"
    with big.open("w", encoding="utf-8") as file:
        block = line * 99 + sensitive
        for _ in range(5_500):
            file.write(block)
    size = big.stat().st_size
    assert size > 40_000_000
    code = (
        "import resource, sys\n"
        "from livechat_core.__main__ import main\n"
        "status = main(['mask', sys.argv[1]])\n"
        "sys.stdout.flush()\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(status)\n"
    )
    small = tmp_path / "small.log"
    small.write_text(block, encoding="utf-8")

    def peak_memory(path: Path) -> tuple[str, int]:
        with open(os.devnull, "wb") as devnull:
            result = subprocess.run(
                [sys.executable, "-c", code, str(path)],
                stdout=devnull,
                stderr=subprocess.PIPE,
                timeout=120,
                check=True,
            )
        summary, peak_kib = result.stderr.decode().splitlines()
        return summary, int(peak_kib) * 1024

    summary, big_peak = peak_memory(big)
    _, small_peak = peak_memory(small)
    assert "card 5,500" in summary
    assert "email 5,500" in summary
    # the interpreter and the library take the same either way; the file adds next to nothing
    assert big_peak - small_peak < size / 8


# --------------------------------------------------------------------------- simulate


def test_simulate_in_memory_prints_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--db", ":memory:", "--minutes", "5", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Simulated shift, desk kept in memory\n")
    assert "seed 3" in out


def test_simulate_refuses_to_replace_a_file_that_is_not_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    precious = tmp_path / "notes.db"
    precious.write_text("my notes", encoding="utf-8")
    assert main(["simulate", "--db", str(precious), "--minutes", "1"]) == 1
    error = one_line_error(capsys.readouterr().err)
    assert "is not a livechat-core store" in error
    assert precious.read_text(encoding="utf-8") == "my notes"


def test_simulate_replaces_its_own_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "shift.db")
    assert main(["simulate", "--db", db, "--minutes", "2"]) == 0
    first = capsys.readouterr().out
    assert main(["simulate", "--db", db, "--minutes", "2"]) == 0
    assert capsys.readouterr().out == first


@pytest.mark.parametrize(
    "args",
    [
        ["--agents", "0"],
        ["--agents", "1000"],
        ["--minutes", "-5"],
        ["--minutes", "inf"],
        ["--arrival-rate", "fast"],
        ["--seed", "1.5"],
        ["--bogus"],
    ],
)
def test_simulate_bad_arguments(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--db", ":memory:", *args]) == 2
    error = one_line_error(capsys.readouterr().err)
    assert error.startswith("livechat-core simulate: ")


def test_simulate_unwritable_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    for option in ("--json", "--events"):
        assert main(["simulate", "--db", ":memory:", option, str(missing / "x")]) == 1
        assert "cannot write" in one_line_error(capsys.readouterr().err)
    assert main(["simulate", "--db", str(missing / "desk.db")]) == 1
    assert "cannot open" in one_line_error(capsys.readouterr().err)
    assert main(["simulate", "--db", str(tmp_path)]) == 1
    assert "not a regular file" in one_line_error(capsys.readouterr().err)


def test_simulate_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    plot = tmp_path / "shift.png"
    assert main(["simulate", "--db", ":memory:", "--minutes", "5", "--plot", str(plot)]) == 0
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert f"plot {plot}" in capsys.readouterr().out


def test_simulate_progress_bar_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--db", ":memory:", "--minutes", "30", "--progress"]) == 0
    captured = capsys.readouterr()
    assert "simulating [" in captured.err
    assert captured.err.endswith("\r\x1b[K")  # the bar erases itself
    assert "simulating" not in captured.out


@pytest.mark.parametrize("command", [[], ["simulate"], ["mask"], ["diagram"]])
def test_help_on_every_command(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: livechat-core")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from livechat_core import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"livechat-core {__version__}"


# --------------------------------------------------------------------------- mask: text


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return str(path)


def test_mask_text_file_line_by_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        f"Customer: my card is {CARD}\r\n",
        "Agent: thanks, which e-mail?\n",
        f"Customer: {EMAIL} or call + 1 (123) 456 7890\n",
        "last line without a newline",
    ]
    path = write(tmp_path, "chat.log", "".join(lines))
    assert main(["mask", path]) == 0
    captured = capsys.readouterr()
    assert captured.out == "".join(mask_text(line) for line in lines)
    assert "**********7890" in captured.out
    assert captured.out.count("\r\n") == 1
    assert captured.err == (
        "livechat-core mask: masked 3 items in 4 lines: card 1, iban 0, ssn 0, email 1, phone 1\n"
    )


def test_mask_policy_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "chat.log", f"{CARD} {EMAIL} {PHONE}\n")
    assert main(["mask", path, "--kinds", "email"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{CARD} m******@gmail.com {PHONE}\n"
    assert captured.err.endswith("masked 1 items in 1 lines: email 1\n")

    assert main(["mask", path, "--keep-card-bin", "--kinds", "card,phone"]) == 0
    expected = mask_text(
        f"{CARD} {EMAIL} {PHONE}\n", MaskingPolicy(kinds={"card", "phone"}, keep_card_bin=True)
    )
    assert capsys.readouterr().out == expected
    assert expected.startswith("411111")

    assert main(["mask", path, "--off"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{CARD} {EMAIL} {PHONE}\n"
    assert "masking off: 1 lines copied unchanged" in captured.err


def test_mask_malformed_text_line_fails_with_its_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "bad.log", b"fine\nbroken \xff\xfe here\nalso fine\n")
    assert main(["mask", path]) == 1
    captured = capsys.readouterr()
    assert one_line_error(captured.err) == "livechat-core: error: line 2: not UTF-8 (byte 8)"
    assert captured.out == "fine\n"


def test_mask_malformed_text_line_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "bad.log", f"fine\nbroken \xff {CARD}\nalso fine\n".encode("latin-1"))
    assert main(["mask", path, "--on-error", "skip"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "fine\nalso fine\n"  # the broken line never reaches the output
    assert captured.err.splitlines() == [
        "livechat-core mask: skipped line 2: not UTF-8 (byte 8)",
        "livechat-core mask: masked 0 items in 3 lines: card 0, iban 0, ssn 0, email 0, phone 0"
        "; 1 malformed skipped",
    ]


def test_mask_many_skipped_lines_are_summarised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "bad.log", b"\xff\n" * 25)
    assert main(["mask", path, "--on-error", "skip"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 22
    assert err[19] == "livechat-core mask: skipped line 20: not UTF-8 (byte 1)"
    assert err[20] == "livechat-core mask: … and 5 more malformed lines skipped"


def test_mask_unreadable_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mask", str(tmp_path / "missing.log")]) == 1
    assert one_line_error(capsys.readouterr().err) == (
        f"livechat-core: error: cannot read '{tmp_path / 'missing.log'}': No such file or directory"
    )
    assert main(["mask", str(tmp_path)]) == 1
    assert "cannot read" in one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kinds", "card,passport"], "unknown kind passport"),
        (["--kinds", ","], "expected kinds"),
        (["--format", "xml"], "invalid choice"),
        (["--on-error", "ignore"], "invalid choice"),
        (["--field", "text"], "--field needs --format jsonl or csv"),
        (["--delimiter", "::"], "one character"),
    ],
)
def test_mask_bad_arguments(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "chat.log", "hello\n")
    assert main(["mask", path, *args]) == 2
    error = one_line_error(capsys.readouterr().err)
    assert error.startswith("livechat-core mask: ")
    assert message in error


def test_mask_reads_standard_input_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(f"{EMAIL}\n".encode())))
    assert main(["mask", "-"]) == 0
    assert capsys.readouterr().out == "m******@gmail.com\n"


def test_mask_progress_bar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "chat.log", "hello there\n" * 3000)
    assert main(["mask", path, "--progress"]) == 0
    err = capsys.readouterr().err
    assert "\rmasking [" in err
    assert "1,000 lines" in err
    assert main(["mask", path, "--no-progress"]) == 0
    assert "\r" not in capsys.readouterr().err


# --------------------------------------------------------------------------- mask: JSON Lines


def test_mask_jsonl_every_string_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [
        {"id": 1, "text": f"card {CARD}", "meta": {"from": EMAIL, "tags": [PHONE, "ok"]}},
        {"id": 2, "text": "nothing here", "n": 4111111111111111},
    ]
    raw = json.dumps(records[0]) + "\n" + json.dumps(records[1], separators=(",", ":")) + "\n\n"
    path = write(tmp_path, "chat.jsonl", raw)
    assert main(["mask", path, "--format", "jsonl"]) == 0
    out = capsys.readouterr().out.split("\n")
    first, second = json.loads(out[0]), json.loads(out[1])
    assert first == {
        "id": 1,
        "text": "card ************1111",
        "meta": {"from": "m******@gmail.com", "tags": ["*********7542", "ok"]},
    }
    # a card number stored as a JSON number is masked too (it becomes a string)
    assert second == {"id": 2, "text": "nothing here", "n": "************1111"}
    assert out[2:] == ["", ""]  # the blank line is kept


def test_mask_jsonl_untouched_lines_keep_their_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = '{"a":1,   "b" : "plain"}\n'
    path = write(tmp_path, "chat.jsonl", raw)
    assert main(["mask", path, "--format", "jsonl"]) == 0
    assert capsys.readouterr().out == raw


def test_mask_jsonl_chosen_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        {"author": EMAIL, "text": f"mail {EMAIL}", "note": CARD},
        {"author": "agent"},
    ]
    path = write(tmp_path, "chat.jsonl", "".join(json.dumps(r) + "\n" for r in lines))
    assert main(["mask", path, "--format", "jsonl", "--field", "text", "--field", "note"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out == [
        {"author": EMAIL, "text": "mail m******@gmail.com", "note": "************1111"},
        {"author": "agent"},
    ]


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ('{"text": "unterminated', None, "not JSON (Unterminated string"),
        ("[1, 2]", "text", "expected a JSON object, got list"),
        (b"\xff", None, "not UTF-8"),
    ],
)
def test_mask_jsonl_malformed_lines(
    tmp_path: Path,
    line: str | bytes,
    field: str | None,
    reason: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    middle = line if isinstance(line, bytes) else line.encode()
    path = write(tmp_path, "chat.jsonl", b'{"text": "a"}\n' + middle + b'\n{"text": "b"}\n')
    fields = ["--field", field] if field else []
    assert main(["mask", path, "--format", "jsonl", *fields]) == 1
    error = one_line_error(capsys.readouterr().err)
    assert error.startswith("livechat-core: error: line 2: ")
    assert reason in error

    assert main(["mask", path, "--format", "jsonl", "--on-error", "skip", *fields]) == 0
    captured = capsys.readouterr()
    assert captured.out == '{"text": "a"}\n{"text": "b"}\n'
    assert captured.err.startswith("livechat-core mask: skipped line 2: ")


# --------------------------------------------------------------------------- mask: CSV


def test_mask_csv_chosen_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = f'id,author,text\n1,{EMAIL},"card {CARD}, thanks"\n2,agent,"multi\nline {EMAIL}"\n'
    path = write(tmp_path, "chat.csv", content)
    assert main(["mask", path, "--format", "csv", "--field", "text"]) == 0
    captured = capsys.readouterr()
    assert captured.out == (
        "id,author,text\n"
        f'1,{EMAIL},"card ************1111, thanks"\n'
        '2,agent,"multi\nline m******@gmail.com"\n'
    )
    assert "in 2 rows: card 1, iban 0, ssn 0, email 1, phone 0" in captured.err


def test_mask_csv_all_columns_and_delimiter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "chat.tsv", f"from\ttext\n{EMAIL}\tcall {PHONE}\n")
    assert main(["mask", path, "--format", "csv", "--delimiter", "tab"]) == 0
    assert capsys.readouterr().out == "from\ttext\nm******@gmail.com\tcall *********7542\n"


def test_mask_csv_unknown_column_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "chat.csv", "id,text\n1,hello\n")
    assert main(["mask", path, "--format", "csv", "--field", "body"]) == 2
    assert one_line_error(capsys.readouterr().err) == (
        "livechat-core mask: no column 'body' in the CSV header (columns: id, text)"
    )


def test_mask_csv_ragged_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "chat.csv", f"id,text\n1,{EMAIL}\n2,a,b\n3,ok\n")
    assert main(["mask", path, "--format", "csv"]) == 1
    assert one_line_error(capsys.readouterr().err) == (
        "livechat-core: error: line 3: 3 fields where the header has 2"
    )
    assert main(["mask", path, "--format", "csv", "--on-error", "skip"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "id,text\n1,m******@gmail.com\n3,ok\n"
    assert "1 malformed skipped" in captured.err


def test_mask_csv_broken_quoting_and_encoding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = write(tmp_path, "broken.csv", 'id,text\n1,"never closed\n2,x\n')
    assert main(["mask", broken, "--format", "csv"]) == 1
    error = one_line_error(capsys.readouterr().err)
    assert error.startswith("livechat-core: error: line 2: not CSV")
    # skipped: only the line with the quote that never closes; the lines it swallowed
    # are read again
    assert main(["mask", broken, "--format", "csv", "--on-error", "skip"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "id,text\n2,x\n"
    assert "skipped line 2: not CSV (unexpected end of data)" in captured.err

    latin = write(tmp_path, "latin.csv", b"id,text\n1,caf\xe9\n2,ok\n")
    assert main(["mask", latin, "--format", "csv", "--on-error", "skip"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "id,text\n2,ok\n"
    assert "skipped line 2: not UTF-8" in captured.err


def test_mask_byte_order_marks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bom = b"\xef\xbb\xbf"
    jsonl = write(tmp_path, "export.jsonl", bom + f'{{"text": "{EMAIL}"}}\n'.encode())
    assert main(["mask", jsonl, "--format", "jsonl"]) == 0
    assert capsys.readouterr().out == '{"text": "m******@gmail.com"}\n'
    table = write(tmp_path, "export.csv", bom + f"id,text\n1,{EMAIL}\n".encode())
    assert main(["mask", table, "--format", "csv", "--field", "id", "--field", "text"]) == 0
    assert capsys.readouterr().out == "id,text\n1,m******@gmail.com\n"


def test_mask_empty_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = write(tmp_path, "empty", "")
    for fmt in ("text", "jsonl", "csv"):
        assert main(["mask", empty, "--format", fmt]) == 0
        assert capsys.readouterr().out == ""


# --------------------------------------------------------------------------- diagram


@pytest.mark.parametrize("machine", ["agent", "conversation", "leg"])
def test_diagram_prints_the_generated_mermaid(
    machine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diagram", machine]) == 0
    assert capsys.readouterr().out == mermaid(MACHINES[machine])
    assert main(["diagram", machine, "--fenced"]) == 0
    out = capsys.readouterr().out
    assert out == f"```mermaid\n{mermaid(MACHINES[machine])}```\n"
