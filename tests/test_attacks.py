"""Every attack of issue 14 is caught by verify, receive and sign, at each stage.

The attacked copies come from :data:`attacks.CASES` (one line per case), applied to the stand-in
contract signed by caqes up to each party. For each case and stage:

- ``verify_document`` does not call the copy valid (or refuses it with a French error), and
  ``caqes verify`` exits non-zero without a traceback;
- ``receive`` refuses it and leaves the registry and the officer's folder as they were;
- the next party's ``sign_documents`` refuses it and writes nothing.

A new attack is one line in ``attacks.CASES``. Cases the code does not catch yet are listed in
``KNOWN_GAPS`` (xfail). ``CAQES_ATTACKS_STATUS=FILE.md pytest tests/test_attacks.py
tests/test_outside_signers.py`` lists every failure and known gap in FILE.md (FILE.json too).
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest
from attacks import (
    APPENDED,
    CASES,
    EAA,
    IMPOSTOR,
    ISA,
    MALFORMED,
    METADATA,
    PADDING,
    SSA,
    SWA,
    Case,
    Stage,
)
from click.testing import CliRunner
from conftest_signers import (
    CAQES,
    NEXT,
    Desk,
    PartyPki,
    before,
    folder_snapshot,
    issued_bytes,
    party_pki_files,
    registry_snapshot,
    sign_copy,
    signed_chain,
)

from caqes_docs.errors import CaqesError
from caqes_docs.registry.lifecycle import RECORDED, REFUSED, receive
from caqes_docs.signatures.verify import verify_document

# Tests that still fail: {test function: {reason: [parameter ids]}}; each becomes an xfail
# (conftest_signers.pytest_collection_modifyitems). Remove an id when its test passes.
KNOWN_GAPS: dict[str, dict[str, list[str]]] = {}


def params(cases: list[Case], stages: tuple[str, ...] | None = None) -> list:  # type: ignore[type-arg]
    out = []
    for case in cases:
        for stage in case.stages:
            if stages is not None and stage not in stages:
                continue
            out.append(pytest.param(case, stage, id=f"{case.id}@{stage}"))
    return out


def last_stage_params(cases: list[Case]) -> list:  # type: ignore[type-arg]
    return [
        pytest.param(case, case.stages[-1], id=f"{case.id}@{case.stages[-1]}") for case in cases
    ]


@functools.cache
def attacked(case: Case, stage: str) -> bytes:
    """The attacked copy of ``case`` at ``stage``, made once per process."""
    chain = signed_chain(CAQES)
    previous = before(stage)
    return case.make(
        Stage(
            role=stage,
            signed=chain[stage],
            previous=chain[previous] if previous else issued_bytes(),
            issued=issued_bytes(),
            keys=party_pki_files().keys(),
        )
    )


@pytest.fixture(scope="module")
def roots(party_pki: PartyPki) -> list[Path]:
    return [party_pki.root]


def refusal(path: Path, roots: list[Path]) -> str:
    """What ``verify_document`` says against ``path``; fails the test if it calls it valid."""
    try:
        report = verify_document(path, trust_roots=roots)
    except CaqesError as exc:
        return str(exc)
    problems = report.problems + [f"{s.field} : {p}" for s in report.signatures for p in s.problems]
    assert not report.ok, f"jugé valide (document émis : {report.issued})"
    assert problems, "refusé sans message"
    return " ; ".join(problems)


@pytest.mark.parametrize(("case", "stage"), params(CASES))
def test_verify_refuses(case: Case, stage: str, roots: list[Path], desk: Desk) -> None:
    copy = desk.returned(attacked(case, stage), record=case.record)
    assert refusal(copy, roots)


@pytest.mark.parametrize(("case", "stage"), last_stage_params(CASES))
def test_the_verify_command_exits_non_zero_without_traceback(
    case: Case, stage: str, roots: list[Path], desk: Desk
) -> None:
    from caqes_docs.cli import main

    copy = desk.returned(attacked(case, stage), record=case.record)
    trust = [arg for root in roots for arg in ("--trust", str(root))]
    result = CliRunner().invoke(main, ["verify", str(copy), *trust], prog_name="caqes")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output


# What a refusal must name, per class (case-insensitive; French wording left to the code).
SAYS: dict[str, str] = {
    ISA: r"page|contenu|modifi",
    SWA: r"ByteRange|plage|couvr|couvert|octets",
    EAA: r"annotation",
    SSA: r"champ|signature",
    APPENDED: r"octets|fin du fichier|non sign|non couvert|objet",
    METADATA: r"Info|XMP|Metadata|métadonnées|NeedAppearances",
    PADDING: r"Contents|remplissage|bourrage|octets",
    IMPOSTOR: r"certificat|signataire",
}


@pytest.mark.parametrize(("case", "stage"), last_stage_params([c for c in CASES if c.kind in SAYS]))
def test_the_refusal_says_what_changed(
    case: Case, stage: str, roots: list[Path], desk: Desk
) -> None:
    copy = desk.returned(attacked(case, stage), record=case.record)
    message = refusal(copy, roots)
    assert re.search(SAYS[case.kind], message, re.IGNORECASE), message


@pytest.mark.parametrize(("case", "stage"), params(CASES))
def test_receive_refuses_and_changes_nothing(
    case: Case, stage: str, roots: list[Path], desk: Desk
) -> None:
    previous = before(stage)
    if previous is not None:  # the honest copy of the previous party came first
        honest = desk.returned(signed_chain(CAQES)[previous], "precedent", record=False)
        assert [o.status for o in receive([honest], desk.registry, roots)] == [RECORDED]
    copy = desk.returned(attacked(case, stage), record=case.record)
    registry, files = registry_snapshot(desk.db), folder_snapshot(desk.folder)
    [outcome] = receive([copy], desk.registry, roots)
    assert outcome.status == REFUSED, outcome.message
    assert outcome.message
    assert registry_snapshot(desk.db) == registry
    assert folder_snapshot(desk.folder) == files


@pytest.mark.parametrize(
    ("case", "stage"), params([c for c in CASES if c.record], ("ETAB", "CPAM"))
)
def test_the_next_party_refuses_to_sign_and_writes_nothing(
    case: Case, stage: str, party_pki: PartyPki, roots: list[Path], desk: Desk
) -> None:
    copy = desk.returned(attacked(case, stage))
    role = NEXT[stage]
    assert role is not None
    files = folder_snapshot(desk.folder)
    signer = party_pki.signer(role)
    [result] = sign_copy([copy], role, signer, roots, output=copy.with_name("out.pdf"))
    assert not result.ok, f"signé sans refus ({role})"
    assert result.error
    assert folder_snapshot(desk.folder) == files


@pytest.mark.parametrize(
    ("case", "stage"), params([c for c in CASES if c.kind == MALFORMED], ("CPAM",))
)
def test_one_bad_file_does_not_stop_the_others(
    case: Case, stage: str, roots: list[Path], desk: Desk
) -> None:
    bad = desk.returned(attacked(case, stage), "mauvais")
    good = desk.returned(signed_chain(CAQES)["ETAB"], "bon", record=False)
    outcomes = receive([bad, good], desk.registry, roots)
    assert [o.status for o in outcomes] == [REFUSED, RECORDED], [o.message for o in outcomes]

    from caqes_docs.cli import main

    good_with_record = desk.returned(signed_chain(CAQES)["ETAB"], "bon-avec-fiche")
    arguments = ["verify", str(bad), str(good_with_record), "--trust", str(roots[0])]
    result = CliRunner().invoke(main, arguments, prog_name="caqes")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    assert any(line.startswith("bon-avec-fiche.pdf : valide") for line in lines), result.output


WRONG_PARTY = [
    # (role signing, credential, the copy it signs: who has signed before)
    ("ETAB", "autre-etablissement:ETAB", None),
    ("ETAB", "etablissement-homonyme:ETAB", None),
    ("ETAB", "CPAM", None),
    ("CPAM", "autre-cpam:CPAM", "ETAB"),
    ("CPAM", "ETAB", "ETAB"),
    ("ARS", "CPAM", "CPAM"),
]


@pytest.mark.parametrize(("role", "credential", "signed"), WRONG_PARTY)
def test_sign_refuses_a_certificate_of_another_party(
    role: str,
    credential: str,
    signed: str | None,
    party_pki: PartyPki,
    roots: list[Path],
    desk: Desk,
) -> None:
    data = signed_chain(CAQES)[signed] if signed else issued_bytes()
    copy = desk.returned(data)
    files = folder_snapshot(desk.folder)
    signer = party_pki.signer(credential)
    [result] = sign_copy([copy], role, signer, roots, output=copy.with_name("out.pdf"))
    assert not result.ok, f"signé sans refus ({role} avec le certificat {credential})"
    assert result.error
    assert folder_snapshot(desk.folder) == files


def test_every_class_of_the_issue_has_cases_at_every_stage() -> None:
    stages: dict[str, set[str]] = {}
    for case in CASES:
        stages.setdefault(case.kind, set()).update(case.stages)
    assert len(stages) == 11
    assert all(found == {"ETAB", "CPAM", "ARS"} for found in stages.values()), stages
    assert {c.id for c in CASES if c.kind == IMPOSTOR} >= {
        "certificat-imposteur/auto-signe",
        "certificat-imposteur/autre-racine",
        "certificat-imposteur/cle-d-une-autre-partie",
        "certificat-imposteur/autre-etablissement-meme-racine",
    }


@pytest.mark.parametrize("command", ["verify", "receive"])
def test_deep_nesting_cannot_kill_the_process(
    command: str, roots: list[Path], desk: Desk, tmp_path: Path
) -> None:
    """Arrays nested 100,000 deep, through the command line in a child process: whatever the
    recursion limit, the process ends with a French message, not a signal or a traceback."""
    case = next(c for c in CASES if c.name == "tableaux-imbriques-100000")
    copy = desk.returned(attacked(case, "CPAM"))
    desk.registry.close()
    arguments = [str(copy), "--trust", str(roots[0])]
    if command == "receive":
        arguments += ["--registry", str(desk.db)]
    result = subprocess.run(
        [sys.executable, "-m", "caqes_docs", command, *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode > 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
