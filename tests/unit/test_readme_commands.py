"""Every command the READMEs show is one the tools accept: `meltano ...` lines are parsed by Meltano's own
command line (subcommands, options and arguments, without running them), `make` targets exist, and every
`TAP_AMPLITUDE_*` / `TARGET_BREVO_*` variable names a declared setting. The new-user walk runs the README's
"Start with your own data" block for real (tests/e2e/test_first_hour.py)."""

from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path

import click
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
READMES = [REPO / "README.md", *sorted(REPO.glob("*/README.md"))]
# Variables read by the SDK or Meltano rather than declared settings.
NOT_SETTINGS = {"LOGLEVEL"}


def shell_lines(text: str) -> list[str]:
    """The commands of the README's ```sh blocks (continuations joined, comments dropped) and its inline
    `meltano ...` / `make ...` spans."""
    lines: list[str] = []
    for block in re.findall(r"```(?:sh|bash|shell)\n(.*?)```", text, flags=re.DOTALL):
        lines.extend(block.replace("\\\n", " ").splitlines())
    lines += re.findall(r"`((?:[A-Z_]+=\S+ )*(?:meltano|make) [^`]+)`", text)
    return lines


def commands(line: str) -> list[list[str]]:
    """The simple commands of a line, each without leading VAR=value assignments and `.venv/bin/`."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return []
    found: list[list[str]] = []
    current: list[str] = []
    for word in [*words, "&&"]:
        if word in ("&&", "||", ";", "|", "&"):
            while current and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", current[0]):
                current.pop(0)
            if current:
                current[0] = current[0].removeprefix(".venv/bin/")
                found.append(current)
            current = []
        elif word.startswith(("<", ">")):
            continue
        else:
            current.append(word)
    return found


def all_commands(program: str) -> list[tuple[str, list[str]]]:
    return [
        (readme.relative_to(REPO).as_posix(), command[1:])
        for readme in READMES
        for line in shell_lines(readme.read_text())
        for command in commands(line)
        if command[0] == program and "..." not in command
    ]


def parse_meltano(args: list[str]) -> str:
    """Resolve `meltano ARGS` down to its command through Meltano's click group; raises on a wrong command,
    option or argument count."""
    from meltano.cli import cli

    ctx = cli.make_context("meltano", list(args), obj={"project": None})
    command: click.Command = cli
    while isinstance(command, click.Group):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # click 8.2 `protected_args`
            rest = [*ctx.protected_args, *ctx.args]
        if not rest:  # a command group named in prose (`meltano config`)
            break
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        ctx = sub.make_context(name, rest, parent=ctx)
        command = sub
    return ctx.command_path


def test_the_readmes_show_meltano_commands() -> None:
    found = all_commands("meltano")
    assert len(found) >= 15, found
    assert any(args[:2] == ["config", "set"] for _readme, args in found)


@pytest.mark.parametrize(
    ("readme", "args"), all_commands("meltano"), ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_every_meltano_command_in_the_readmes_parses(readme: str, args: list[str]) -> None:
    try:
        parse_meltano(args)
    except click.ClickException as exc:
        pytest.fail(f"{readme}: `meltano {' '.join(args)}` is refused by Meltano: {exc.format_message()}")


def test_a_wrong_flag_is_caught() -> None:
    with pytest.raises(click.NoSuchOption):
        parse_meltano(["config", "set", "--environment=prod", "target-brevo", "event_mapping", "{}"])


def test_every_make_target_in_the_readmes_exists() -> None:
    targets = set(re.findall(r"^([a-z][a-z-]*):", (REPO / "Makefile").read_text(), flags=re.MULTILINE))
    used = {args[0] for _readme, args in all_commands("make") if args and not args[0].startswith("-")}
    assert used, "no make command found"
    assert used <= targets, used - targets


def test_every_plugin_variable_in_the_readmes_is_a_setting() -> None:
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    settings = {
        p["name"]: {s["name"].upper() for s in p.get("settings", [])}
        for kind in ("extractors", "loaders")
        for p in project["plugins"][kind]
    }
    # longest prefix first: TAP_AMPLITUDE_STREAMING_SECRET is tap-amplitude-streaming's `secret`
    prefixes = sorted(((name.upper().replace("-", "_") + "_", name) for name in settings), key=lambda p: -len(p[0]))
    inherited = {
        p["name"]: p["inherit_from"]
        for kind in ("extractors", "loaders")
        for p in project["plugins"][kind]
        if "inherit_from" in p
    }
    for readme in READMES:
        for variable in re.findall(r"\b(?:TAP_AMPLITUDE|TARGET_BREVO)_[A-Z0-9_]+", readme.read_text()):
            prefix, plugin = next((pre, name) for pre, name in prefixes if variable.startswith(pre))
            setting = variable.removeprefix(prefix)
            if setting in NOT_SETTINGS:
                continue
            declared = settings[plugin]
            parent = plugin
            while parent in inherited:  # an inheriting plugin has its parents' settings
                parent = inherited[parent]
                declared = declared | settings[parent]
            assert setting in declared, f"{readme.name}: {variable} is not a setting of {plugin}"
