"""Every command the docs tell a newcomer to type exists and is spelled as the tool expects.

What runs where: the README's "Try it" blocks are typed into bash against a running hub by
tests/e2e/test_readme_walkthrough.py; `make package`, `make test` and `make run` are what CI and the e2e
tier run. This file checks the rest without a cloud: each `make` target exists in the Makefile, each
`python -m localcloud …` parses with the real argument parser, and each `aws` command names a real
service operation whose options (and required options) match botocore's own model of that API — the
model the AWS CLI itself is generated from — so a typo or a renamed flag fails here, not on a
newcomer's first deploy. The few AWS CLI commands that are not API operations (`cloudformation
package|deploy`, `s3 mb|cp`) are checked against their documented options.
"""

from __future__ import annotations

import re
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

from tests.support.doc_commands import DocCommand, commands_in

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "functions").glob("*/README.md"))]
AWS_GLOBAL = {"--region", "--profile", "--output", "--query", "--endpoint-url", "--cli-binary-format",
              "--no-cli-pager"}
#: AWS CLI commands that are not API operations, with the options the docs may use
AWS_CUSTOM = {
    ("cloudformation", "package"): {"--template-file", "--s3-bucket", "--s3-prefix", "--output-template-file"},
    ("cloudformation", "deploy"): {"--template-file", "--stack-name", "--capabilities", "--parameter-overrides",
                                   "--no-fail-on-empty-changeset", "--tags", "--s3-bucket"},
    ("s3", "mb"): set(),
    ("s3", "cp"): set(),
}
#: options the AWS CLI adds to an API operation or renames (files it writes the answer's parts to;
#: sns subscribe's Endpoint, which would clash with --endpoint-url)
AWS_CLI_EXTRA = {
    ("sns", "subscribe"): {"--notification-endpoint"},
    ("iot", "create-keys-and-certificate"): {"--certificate-pem-outfile", "--public-key-outfile",
                                             "--private-key-outfile"},
}
#: besides make / aws / python -m localcloud, the programs the docs may use
OTHER_PROGRAMS = {"curl", "echo", "python3", ".venv/bin/python", "export", "cat", "git", "cd"}


def _all_commands() -> list[DocCommand]:
    # the README's "Try it" section is run for real, against a hub, by tests/e2e/test_readme_walkthrough.py
    return [command for doc in DOCS if doc.exists() for command in commands_in(doc, ROOT, skip_section="Try it")]


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^([a-zA-Z][\w-]*):", text, flags=re.M)}


def _options(words: list[str]) -> list[str]:
    return [w.split("=", 1)[0] for w in words if w.startswith("--")]


def _check_aws(command: DocCommand) -> None:
    service, operation, *rest = command.words[1:]
    options = set(_options(rest)) - AWS_GLOBAL - AWS_CLI_EXTRA.get((service, operation), set())
    custom = AWS_CUSTOM.get((service, operation))
    if custom is not None:
        assert options <= custom, f"{command}: unknown options {sorted(options - custom)}"
        return
    session = botocore.session.get_session()
    assert service in session.get_available_services(), f"{command}: no AWS service {service!r}"
    model = session.get_service_model(service)
    names = {xform_name(name, "-"): name for name in model.operation_names}
    assert operation in names, f"{command}: {service} has no operation {operation!r}"
    shape = model.operation_model(names[operation]).input_shape
    members = {} if shape is None else {xform_name(m, "-"): m for m in shape.members}
    allowed = {f"--{m}" for m in members} | {f"--no-{m}" for m in members}
    assert options <= allowed, f"{command}: unknown options {sorted(options - allowed)}"
    required = {f"--{xform_name(m, '-')}" for m in (shape.required_members if shape is not None else [])}
    assert required <= options, f"{command}: missing required {sorted(required - options)}"


def test_the_docs_have_commands() -> None:
    commands = _all_commands()
    heads = {c.words[0] for c in commands}
    assert {"make", "curl"} <= heads


@pytest.mark.parametrize("command", _all_commands(), ids=str)
def test_each_documented_command_is_known(command: DocCommand) -> None:
    head = command.words[0]
    if head == "make":
        targets = [w for w in command.words[1:] if not w.startswith("-") and "=" not in w]
        assert set(targets) <= _make_targets(), f"{command}: no such make target"
    elif head == "aws":
        _check_aws(command)
    elif head in {"python", "python3", ".venv/bin/python"} and command.words[1:3] == ["-m", "localcloud"]:
        from localcloud.__main__ import build_parser

        build_parser().parse_args(command.words[3:])
    else:
        assert head in OTHER_PROGRAMS, f"{command}: a program the docs should not assume ({head!r})"
