"""Every magic line and every `oauth-login` command shown in README.md and notebooks/*.ipynb, run verbatim.

The lines are read from the documents at test time, so a line added later is covered at once. Only
the documented placeholders are replaced: the example issuers become the dev provider's, and the
profiles file is the README's own, written for the test (client `notebook` exists at the dev
provider, devtools/idp/configuration.js). Magic lines run in a real IPython kernel, where each sign-in
is completed by headless Chromium; commands run as the installed `oauth-login` script.

A line is either run, or a usage synopsis (`oauth-login login [PROFILE] [--issuer URL] …`), whose
options must all exist in the parser, or listed in NOT_RUNNABLE with a reason. Anything else fails
and names the line.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.browser import complete_device, complete_login

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "notebooks").glob("*.ipynb"))]
EXAMPLE_ISSUERS = ("https://idp.staging.example.com", "https://idp.example.com")  # longest first
CLI_SCRIPT = Path(sys.executable).with_name("oauth-login")
SUBCOMMANDS = ("login", "status", "token", "logout")
MAGICS = ("load_ext", "oauth_login", "oauth_status", "oauth_logout")

# Shown lines that are deliberately not run, each with the reason.
NOT_RUNNABLE: dict[str, str] = {}


@dataclass(frozen=True)
class Shown:
    line: str  # as written in the document
    where: str  # file and line number, for the failure message

    @property
    def is_magic(self) -> bool:
        return self.line.startswith("%")

    @property
    def is_synopsis(self) -> bool:
        """Documents syntax (optional parts, alternatives, placeholders) rather than a command."""
        return bool(re.search(r"\[|\||\.\.\.|…|\b[A-Z]{2,}\b", self.line))


def _strip_comment(line: str) -> str:
    return re.sub(r"\s+#.*$", "", line).strip()


def _candidates(text: str) -> list[str]:
    """Our magic lines and commands in one line of code or one inline code span."""
    found = [m.group(1) for m in re.finditer(r"\$\((oauth-login [^)]*)\)", text)]
    code = _strip_comment(text)
    if re.match(r"%(load_ext oauth_login|oauth_)", code) or re.match(r"oauth-login\s+\w", code):
        found.insert(0, code)
    return found


def _markdown_lines(text: str, where: str) -> list[Shown]:
    shown: list[Shown] = []
    fenced = False
    previous: Shown | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.lstrip().startswith("```"):
            fenced, previous = not fenced, None
            continue
        here = f"{where}:{number}"
        if fenced:
            if previous is not None and re.match(r"\s+\[", raw):  # a synopsis continued on the next line
                shown[-1] = previous = Shown(f"{previous.line} {_strip_comment(raw)}", previous.where)
                continue
            lines = [Shown(c, here) for c in _candidates(raw)]
            shown += lines
            previous = lines[0] if lines and lines[0].line.startswith("oauth-login") else None
        else:
            for span in re.findall(r"`([^`]+)`", raw):
                shown += [Shown(c, here) for c in _candidates(span)]
    return shown


def shown_lines() -> list[Shown]:
    """Every candidate line of every document, first occurrence of each kept."""
    shown: list[Shown] = []
    for path in DOCUMENTS:
        name = path.relative_to(ROOT).as_posix()
        if path.suffix == ".md":
            shown += _markdown_lines(path.read_text(), name)
            continue
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            source = "".join(cell["source"])
            if cell["cell_type"] == "markdown":
                shown += _markdown_lines(source, f"{name} cell {index}")
            else:
                shown += _markdown_lines(f"```\n{source}\n```", f"{name} cell {index}")
    unique: dict[str, Shown] = {}
    for item in shown:
        unique.setdefault(item.line, item)
    return list(unique.values())


def substitute(line: str, issuer: str) -> str:
    for example in EXAMPLE_ISSUERS:
        line = line.replace(example, issuer)
    return line


def readme_profiles(issuer: str) -> str:
    """The README's example profiles file, pointing at the dev provider."""
    blocks = re.findall(r"```toml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "README.md shows no profiles file"
    return substitute(blocks[0], issuer)


def _magic_parser(name: str):
    from oauth_login._magics import OAuthMagics

    return getattr(OAuthMagics, name).parser


def _cli_parser(subcommand: str):
    from oauth_login._cli import build_parser

    (subparsers,) = [a for a in build_parser()._actions if a.choices and subcommand in a.choices]
    return subparsers.choices[subcommand]


def _options(parser) -> dict[str, object]:
    return {option: action for action in parser._actions for option in action.option_strings}


def check_synopsis(item: Shown) -> None:
    """Every option a synopsis names exists, and the choices it lists are accepted."""
    words = item.line.split()
    if item.is_magic:
        parser = _magic_parser(words[0].lstrip("%"))
    else:
        assert words[1] in SUBCOMMANDS, f"{item.where}: unknown subcommand in {item.line!r}"
        parser = _cli_parser(words[1])
    options = _options(parser)
    for match in re.finditer(r"(--[\w-]+)(?:\s+([\w-]+(?:\|[\w-]+)+))?", item.line):
        option, choices = match.groups()
        assert option in options, f"{item.where}: {item.line!r} names {option}, which the parser lacks"
        if choices:
            accepted = set(getattr(options[option], "choices", None) or ())
            missing = set(choices.split("|")) - accepted
            assert not missing, f"{item.where}: {option} does not accept {sorted(missing)}"


def classify(item: Shown) -> str:
    """'magic', 'cli', 'synopsis' or 'not runnable'; fails naming a line that is none of them."""
    if item.line in NOT_RUNNABLE:
        return "not runnable"
    if item.is_synopsis:
        return "synopsis"
    words = item.line.split()
    if item.is_magic and words[0].lstrip("%").rstrip("?") in MAGICS:
        return "magic"
    if not item.is_magic and len(words) > 1 and words[1] in SUBCOMMANDS:
        return "cli"
    pytest.fail(
        f"{item.where}: {item.line!r} is shown to users but neither run by this test nor listed in "
        "NOT_RUNNABLE with a reason"
    )


def test_the_documents_show_lines_of_each_kind():
    kinds = [classify(item) for item in shown_lines()]
    assert {"magic", "cli", "synopsis"} <= set(kinds), kinds


def test_every_synopsis_names_only_options_that_exist():
    synopses = [item for item in shown_lines() if classify(item) == "synopsis"]
    assert synopses
    for item in synopses:
        check_synopsis(item)


@pytest.fixture
def readme_env(idp_env, oauth_env: Path) -> dict[str, str]:
    (oauth_env / "profiles.toml").write_text(readme_profiles(idp_env.issuer))
    return {**os.environ, "BROWSER": f"{sys.executable} -m devtools.browser %s"}


# --- commands --------------------------------------------------------------------------------------


def run_cli(line: str, env: dict[str, str], where: str) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(line)
    assert argv[0] == "oauth-login"
    try:
        return subprocess.run(
            [str(CLI_SCRIPT), *argv[1:]],
            check=False,
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{where}: {line!r} did not finish within 120 s: {exc.stderr!r}")


@pytest.mark.timeout(600)
def test_every_cli_command_shown_runs(readme_env, idp_env):
    commands = [item for item in shown_lines() if classify(item) == "cli"]
    assert commands
    # Documents show commands in no particular order; a user signs in first (the default profile
    # here is the README's `work`), then asks for status and tokens, and signs out last.
    assert run_cli("oauth-login login", readme_env, "setup").returncode == 0
    commands.sort(key=lambda item: SUBCOMMANDS.index(item.line.split()[1]))
    for item in commands:
        line = substitute(item.line, idp_env.issuer)
        done = run_cli(line, readme_env, item.where)
        context = f"{item.where}: {line!r} exited {done.returncode}: {done.stderr.strip()!r}"
        assert done.returncode == 0, context
        assert "Traceback" not in done.stderr, context
        subcommand = line.split()[1]
        if subcommand == "login":
            assert "signed in as alice@example.com" in done.stderr, context
        elif subcommand == "status":
            assert done.stdout.startswith("signed in as alice@example.com"), context
        elif subcommand == "token":
            assert len(done.stdout.strip()) > 20 and done.stdout.count("\n") == 1, context
        else:
            assert "signed out" in done.stderr, context


# --- magic lines, in a real kernel ------------------------------------------------------------------


class Kernel:
    """An IPython kernel (as Jupyter starts one) that runs code and returns its text output."""

    def __init__(self) -> None:
        from jupyter_client.manager import start_new_kernel

        self.manager, self.client = start_new_kernel(kernel_name="python3", startup_timeout=60)

    def run(self, code: str, where: str, timeout: float = 120) -> tuple[str, dict]:
        outputs: list[str] = []

        def collect(msg: dict) -> None:
            content = msg["content"]
            if msg["msg_type"] == "stream":
                outputs.append(content["text"])
            elif msg["msg_type"] in ("display_data", "execute_result"):
                outputs.append(content["data"].get("text/plain", "") + "\n")
            elif msg["msg_type"] == "error":
                outputs.append(f"{content['ename']}: {content['evalue']}\n")

        try:
            reply = self.client.execute_interactive(code, output_hook=collect, timeout=timeout)
        except TimeoutError:
            pytest.fail(f"{where}: {code!r} did not finish within {timeout:g} s: {''.join(outputs)!r}")
        text = "".join(outputs)
        assert reply["content"]["status"] == "ok", f"{where}: {code!r} failed: {text}"
        return text, reply["content"]

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel(readme_env):
    running = Kernel()
    yield running
    running.close()


# The test's own cells (not shown to users): the link of the panel just shown, and what a sign-in gave.
SHOW_LINK = """
import oauth_login
attempt = oauth_login.client().attempt
assert attempt is not None and attempt.link_ready.wait(30), "the panel prepared no sign-in link"
print(attempt.mode, attempt.link)
"""
SIGNED_IN = """
oauth_login.get_token(timeout=90)
print(oauth_login.status())
print("SCOPES", " ".join(oauth_login.client().credentials().scopes))
"""


def requested_scopes(line: str) -> list[str] | None:
    words = shlex.split(line.lstrip("%"))
    return words[words.index("--scopes") + 1].split() if "--scopes" in words else None


@pytest.mark.timeout(900)
def test_every_magic_line_shown_runs_and_signs_in(kernel, browser, idp_env):
    magics = [item for item in shown_lines() if classify(item) == "magic"]
    order = {name: index for index, name in enumerate(MAGICS)}
    magics.sort(key=lambda item: order[item.line.split()[0].lstrip("%").rstrip("?")])
    assert magics[0].line == "%load_ext oauth_login"
    signed_in_once = False
    for item in magics:
        line = substitute(item.line, idp_env.issuer)
        name = line.split()[0].lstrip("%")
        if name == "load_ext":
            kernel.run(line, item.where)
        elif name.endswith("?"):
            _, reply = kernel.run(line, item.where)
            pages = "".join(p.get("data", {}).get("text/plain", "") for p in reply.get("payload", []))
            assert "--scopes" in pages, f"{item.where}: {line!r} showed no help: {pages!r}"
        elif name == "oauth_login":
            kernel.run(line, item.where)
            shown, _ = kernel.run(SHOW_LINK, item.where)
            mode, link = shown.split()[-2:]
            job = complete_device if mode == "device" else complete_login
            try:
                page = browser.submit(job, link).result(90)
            except Exception as exc:  # noqa: BLE001 - whatever broke, the failure must name the line
                pytest.fail(f"{item.where}: {line!r}: the browser could not sign in: {exc}")
            result, _ = kernel.run(SIGNED_IN, item.where)
            # "alice@example.com", or "alice" when the scopes asked for leave out `email`
            assert "signed in as alice" in result, f"{item.where}: {line!r}: {result} {page.text}"
            granted = result.split("SCOPES", 1)[1].split()
            assert not any(q in s for s in granted for q in "\"'"), f"{item.where}: {line!r}: {granted}"
            wanted = requested_scopes(line)
            if wanted is not None:
                assert set(wanted) <= set(granted), f"{item.where}: {line!r} asked {wanted}, got {granted}"
            if not signed_in_once:
                signed_in_once = True
                for status_item in [m for m in magics if m.line.startswith("%oauth_status")]:
                    text, _ = kernel.run(substitute(status_item.line, idp_env.issuer), status_item.where)
                    assert "signed in as alice" in text, f"{status_item.where}: {text}"
            kernel.run("oauth_login.logout()", "test: sign out before the next line")
        elif name == "oauth_status":
            assert signed_in_once, f"{item.where}: {line!r} ran before any sign-in"
        else:  # %oauth_logout: after a sign-in, so there is something to sign out of
            text, _ = kernel.run(line, item.where)
            assert "signed out" in text, f"{item.where}: {line!r}: {text}"
