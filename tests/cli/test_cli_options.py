"""The options every command shares (``--threads``, ``--seed``, ``--no-progress``/``--quiet``,
``--model``) are defined once, in lstmkit.cli.options, and reach every command through parent
parsers: no other module defines them, and every command that has one has the same one."""

import argparse
import ast
from pathlib import Path

from lstmkit.cli import build_parser, options

SRC = Path(__file__).resolve().parents[2] / "src" / "lstmkit"
SHARED = {"--threads", "--seed", "--no-progress", "--quiet", "--model"}


def _leaves(parser, name="lstmkit"):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield name, parser
    for a in subs:
        for child_name, child in a.choices.items():
            yield from _leaves(child, f"{name} {child_name}")


def test_no_module_but_options_defines_a_shared_option():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "cli" / "options.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument"
                    and any(isinstance(a, ast.Constant) and a.value in SHARED for a in node.args)):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not found, f"shared options defined outside cli/options.py (use its parents): {found}"


def test_every_command_has_the_same_shared_options():
    kinds = {"--threads": options.threads, "--seed": options.nonneg_int}
    seen = set()
    for name, leaf in _leaves(build_parser()):
        for action in leaf._actions:
            flags = set(action.option_strings)
            for flag in flags & set(kinds):
                assert action.type is kinds[flag], f"{name} {flag}: type {action.type}"
                seen.add(flag)
            if "--no-progress" in flags:
                assert flags == {"--no-progress", "--quiet"} and action.dest == "no_progress", name
                seen.add("--no-progress")
            if "--model" in flags:
                assert action.metavar == "DIR" and action.dest == "model", name
                seen.add("--model")
    assert seen == {"--threads", "--seed", "--no-progress", "--model"}


def test_a_parent_reports_a_bad_value_as_a_usage_error(capsys):
    p = argparse.ArgumentParser(prog="lstmkit x", parents=[options.runtime_parent(), options.model_parent(required=True)])
    try:
        p.parse_args(["--threads", "0", "--model", "m"])
    except SystemExit as e:
        assert e.code == 2
    assert "argument --threads: expected a thread count" in capsys.readouterr().err
    assert p.parse_args(["--model", "m", "--seed", "3"]).seed == 3


def test_bench_json_never_replaces_a_users_file(tmp_path, capsys):
    # --json replaces an earlier bench result, refuses anything else before measuring
    from lstmkit.cli import main

    mine = tmp_path / "lstmkit-bench.json"
    mine.write_text('{"my": "notes"}')
    assert main(["bench", "--quick", "--models", "vanilla", "--json", str(mine)]) == 1
    assert "not an lstmkit bench result" in capsys.readouterr().err
    assert mine.read_text() == '{"my": "notes"}'
    (tmp_path / "d").mkdir()
    assert main(["bench", "--json", str(tmp_path / "d")]) == 1


def test_every_number_option_keeps_its_range_and_message():
    # the ranged parsers share one check (options._checked): each keeps its own range and words
    import pytest

    cases = {
        options.positive_int: (["1", "12"], ["0", "-3", "1.5", "x"], "a whole number >= 1"),
        options.nonneg_int: (["0", "4"], ["-1", "2.0"], "a whole number >= 0"),
        options.positive_float: (["1e-9", "3"], ["0", "-1", "nan", "inf"], "a number > 0"),
        options.nonneg_float: (["0", "2.5"], ["-0.1", "inf"], "a number >= 0"),
        options.probability: (["0", "1", "0.5"], ["1.01", "-0.01"], "a number between 0 and 1"),
        options.fraction: (["0.2", "0.999"], ["0", "1"], "a number strictly between 0 and 1"),
        options.temperature: (["0", "1.3"], ["-1"], "a temperature >= 0 (0: greedy)"),
    }
    for parse, (good, bad, words) in cases.items():
        for text in good:
            assert parse(text) == float(text), (parse.__name__, text)
        for text in bad:
            with pytest.raises(argparse.ArgumentTypeError, match="^expected ") as e:
                parse(text)
            msg = str(e.value)
            assert msg.endswith(text) or msg.endswith(repr(text)), (parse.__name__, msg)
            in_range = not any(w in msg for w in ("whole number, got", "a number, got", "finite number"))
            assert (words in msg) == in_range, (parse.__name__, text, msg)
