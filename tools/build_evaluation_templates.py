#!/usr/bin/env python3
"""Build the annual evaluation's DOCX models from their readable source.

Two docxtpl models, in the contract models' styles (the helpers of tools/build_templates.py):

- ``templates/rapport-evaluation.docx``: the annual evaluation report (contract model, articles
  8 and 9): each indicator's initial value, target, result, achievement, saving and amount,
  the theme shares, the modulation and its motive, the totals, and the chart of achievement;
- ``templates/notification-interessement.docx``: the director general's letter notifying the
  amount, its computation, its payment by the fonds d'intervention régional (art. L. 1435-8
  CSP) and the means and time limit of appeal (article 12), with ONE signature field, the
  ARS's (anchors ``/s3_ARS/`` and ``/d3_ARS/``, white).

The variables are built by ``caqes_docs/workflows/evaluation.py`` (``report_context``).

    python tools/build_evaluation_templates.py          # rewrite the two models
    python tools/build_evaluation_templates.py --check  # exit 1 if they are out of date
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from docx.document import Document as DocxDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt

from caqes_docs.files import write_bytes

ROOT = Path(__file__).resolve().parent.parent


def _contract_builder() -> ModuleType:
    """tools/build_templates.py, whose document primitives and styles these models share."""
    spec = importlib.util.spec_from_file_location(
        "build_templates", Path(__file__).with_name("build_templates.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


B = _contract_builder()
P, STRONG, TAG, LEAD, DASH = B.P, B.STRONG, B.TAG, B.LEAD, B.DASH
WIDTH = B.PORTRAIT_WIDTH

REPORT_TITLE = "RAPPORT D’ÉVALUATION ANNUELLE DU CONTRAT — ANNÉE {{ annee }}"
REPORT_FOOTER = "Rapport d’évaluation {{ annee }} — contrat {{ reference }}"
LETTER_FOOTER = "Notification de l’intéressement {{ annee }} — contrat {{ reference }}"

REPORT_INTRO: list[tuple[str, str]] = [
    (
        P,
        "Conformément à l’article L. 162-30-4 du code de la sécurité sociale et aux articles 8 "
        "et 9 du contrat, l’{{ ars.nom }} et l’organisme local d’Assurance Maladie "
        "({{ cpam.nom }}) ont procédé conjointement à l’évaluation annuelle du contrat pour "
        "l’année {{ annee }}, sur la base des données disponibles relatives aux indicateurs et "
        "du rapport d’autoévaluation transmis par l’établissement.",
    ),
    (
        P,
        "Version consolidée du contrat en vigueur au 1er janvier {{ annee }} (ou à son entrée "
        "en vigueur) : n°{{ version }}. Évaluation n°{{ numero_evaluation }}, établie le "
        "{{ date_emission|date_fr }}.",
    ),
]

NATIONAL_TEXT = (
    "Suivant l’article 4 du volet « pertinence des prescriptions », l’intéressement national "
    "est une part des économies constatées sur les dépenses d’Assurance Maladie : "
    "{{ taux_national }} des économies positives de chaque indicateur ciblé (une économie "
    "négative compte pour zéro)."
)
REGIONAL_TEXT = (
    "L’enveloppe régionale de {{ enveloppe_regionale }} est répartie entre les thèmes "
    "régionaux au prorata de leur pondération, puis, pour chaque thème, entre les "
    "établissements concernés ; la part de chaque établissement est proportionnelle à son "
    "niveau d’atteinte des engagements du thème."
)
MISSING_TEXT = (
    "Résultat manquant pour {{ manquants|join(', ') }} : aucun intéressement n’est attribué "
    "au titre de ce thème."
)
MODULATION_TEXT = (
    "{% if modulation.reduite %}Le directeur général de l’agence régionale de santé a révisé "
    "l’intéressement à la baisse, en fonction du degré de réalisation de l’ensemble des "
    "objectifs du contrat : taux retenu {{ modulation.taux }}"
    "{% if modulation.motif %} (motif : {{ modulation.motif }}){% endif %}."
    "{% else %}Aucune révision par le directeur général de l’agence régionale de santé : "
    "taux retenu {{ modulation.taux }}.{% endif %}"
)

LETTER_BODY: list[tuple[str, str]] = [
    (P, "Madame, Monsieur,"),
    (
        P,
        "En application de l’article L. 162-30-2 du code de la sécurité sociale, de l’article "
        "D. 162-16 (V) du même code et des articles 8 et 9 du contrat d’amélioration de la "
        "qualité et de l’efficience des soins {{ reference }} conclu avec votre établissement, "
        "l’agence régionale de santé et l’organisme local d’Assurance Maladie ont procédé à "
        "l’évaluation annuelle du contrat au titre de l’année {{ annee }}. Le rapport "
        "d’évaluation, qui détaille pour chaque indicateur la cible, le résultat, le niveau "
        "d’atteinte et le montant correspondant, est joint à la présente notification.",
    ),
    (
        P,
        "J’ai l’honneur de vous notifier le montant de l’intéressement attribué à "
        "{{ etablissement.raison_sociale }} au titre de l’année {{ annee }} : "
        "{{ montants.total }}.",
    ),
    (P, "Ce montant se décompose comme suit :"),
]

LETTER_AFTER_TABLE: list[tuple[str, str]] = [
    (P, MODULATION_TEXT),
    (
        P,
        "Cet intéressement vous sera versé sous la forme d’une dotation du fonds "
        "d’intervention régional mentionné à l’article L. 1435-8 du code de la santé "
        "publique.",
    ),
    (LEAD, "Voies et délais de recours"),
    (
        P,
        "Conformément à l’article 12 du contrat, en cas de contestation du montant de "
        "l’intéressement, vous pouvez saisir le tribunal administratif dans le ressort duquel "
        "l’autorité qui a pris la décision attaquée a légalement son siège, par lettre "
        "recommandée, dans le délai de deux mois à compter de la réception de la présente "
        "notification.",
    ),
    (
        P,
        "Je vous prie d’agréer, Madame, Monsieur, l’expression de ma considération distinguée.",
    ),
]


# ---------------------------------------------------------------------------------------------
# Shared parts
# ---------------------------------------------------------------------------------------------


def _blocks(doc: DocxDocument, blocks: Sequence[tuple[str, str]]) -> None:
    for kind, text in blocks:
        B._paragraph(doc, kind, text)


def _heading(doc: DocxDocument, text: str) -> None:
    doc.add_paragraph(text, style="CAQES Article")


def _table_rows(
    doc: DocxDocument,
    columns: Sequence[tuple[str, int, str]],
    loop: str,
    *,
    size: float = 8,
) -> None:
    """A table with a header row and one row per item of ``loop`` (``{%tr for … %}``).

    ``columns`` are (header, width in twips, cell text with tags).
    """
    table = B._table(doc, [width for _, width, _ in columns], margin=57)
    spans = [1] * len(columns)
    for cell, (header, _, _) in zip(
        B._row(table, spans, header=True, fill=B.HEADER_FILL, center=True), columns, strict=True
    ):
        B._first(cell, header, bold=True, center=True, size=size)
    B._tag_row(table, f"{{%tr for {loop} %}}")
    for index, (cell, (_, _, text)) in enumerate(zip(B._row(table, spans), columns, strict=True)):
        B._first(cell, text, center=index > 0, size=size)
    B._tag_row(table, "{%tr endfor %}")


def _totals(doc: DocxDocument, rows: Sequence[tuple[str, str, str]], total: str) -> None:
    """Part | before modulation | notified, then the total on a grey row."""
    widths = [WIDTH - 2 * 2200, 2200, 2200]
    table = B._table(doc, widths)
    headers = ("Intéressement", "Avant modulation", "Montant notifié")
    for cell, text in zip(
        B._row(table, [1, 1, 1], header=True, fill=B.HEADER_FILL, center=True),
        headers,
        strict=True,
    ):
        B._first(cell, text, bold=True, center=True)
    for label, before, after in rows:
        cells = B._row(table, [1, 1, 1])
        B._first(cells[0], label)
        B._first(cells[1], before, center=True)
        B._first(cells[2], after, center=True)
    label, amount = B._row(table, [2, 1], fill=B.GROUP_FILL)
    B._first(label, "Total de l’intéressement notifié", bold=True)
    B._first(amount, total, bold=True, center=True)
    doc.add_paragraph().paragraph_format.space_after = Pt(4)


TOTAL_ROWS = [
    ("Intéressement national", "{{ montants.national_brut }}", "{{ montants.national }}"),
    ("Intéressement régional", "{{ montants.regional_brut }}", "{{ montants.regional }}"),
]


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------

NATIONAL_COLUMNS = [
    ("Indicateur", 1900, "{{ n.code }} {{ n.libelle }}"),
    ("Site (FINESS)", 1250, "{{ n.site }}"),
    ("Valeur initiale", 1000, "{{ n.valeur_initiale }}"),
    ("Cible", 1000, "{{ n.cible }}"),
    ("Réalisé", 1000, "{{ n.realise }}"),
    ("Atteinte", 788, "{{ n.atteinte }}"),
    ("Économie", 1350, "{{ n.economie }}"),
    ("Intéressement", 1350, "{{ n.montant }}"),
]
THEME_COLUMNS = [
    ("Thème", 2100, "{{ t.code }} {{ t.libelle }}"),
    ("Valeur initiale", 900, "{{ t.valeur_initiale }}"),
    ("Cible", 800, "{{ t.cible }}"),
    ("Réalisé", 800, "{{ t.realise }}"),
    ("Atteinte", 888, "{{ t.atteinte }}"),
    ("Enveloppe du thème (pondération)", 1450, "{{ t.enveloppe }} ({{ t.ponderation }})"),
    ("Établissements concernés", 1300, "{{ t.concernes }}"),
    ("Intéressement", 1400, "{{ t.montant }}"),
]


def _parties_block(doc: DocxDocument) -> None:
    for kind, text in (
        (STRONG, "{{ etablissement.raison_sociale }}"),
        (P, "{{ etablissement.adresse }}"),
        (P, "Finess juridique : {{ etablissement.finess_ej }}"),
        (P, "Contrat {{ reference }} — {{ ars.nom }} et {{ cpam.nom }}"),
    ):
        B._paragraph(doc, kind, text).paragraph_format.space_after = Pt(2)
    doc.paragraphs[-1].paragraph_format.space_after = Pt(12)


def build_report() -> DocxDocument:
    doc = B._new_document(
        "Rapport d’évaluation annuelle du contrat CAQES", landscape=False, footer=REPORT_FOOTER
    )
    doc.add_paragraph(REPORT_TITLE, style="CAQES Titre")
    _parties_block(doc)
    _blocks(doc, REPORT_INTRO)

    _heading(doc, "1. Indicateurs nationaux")
    B._paragraph(doc, TAG, "{%p if nationaux %}")
    B._paragraph(doc, P, NATIONAL_TEXT)
    _table_rows(doc, NATIONAL_COLUMNS, "n in nationaux")
    B._paragraph(doc, TAG, "{%p else %}")
    B._paragraph(doc, P, "Aucun indicateur national n’est évalué pour cet établissement.")
    B._paragraph(doc, TAG, "{%p endif %}")

    _heading(doc, "2. Thèmes régionaux")
    B._paragraph(doc, TAG, "{%p if themes %}")
    B._paragraph(doc, P, REGIONAL_TEXT)
    _table_rows(doc, THEME_COLUMNS, "t in themes")
    B._paragraph(doc, TAG, "{%p if manquants %}")
    B._paragraph(doc, P, MISSING_TEXT).paragraph_format.space_before = Pt(6)
    B._paragraph(doc, TAG, "{%p endif %}")
    chart = doc.add_paragraph("{{ graphique }}")
    chart.alignment = WD_ALIGN_PARAGRAPH.CENTER
    chart.paragraph_format.keep_together = True
    B._paragraph(doc, TAG, "{%p else %}")
    B._paragraph(doc, P, "Aucun thème régional n’est retenu pour cet établissement.")
    B._paragraph(doc, TAG, "{%p endif %}")

    _heading(doc, "3. Modulation par le directeur général")
    B._paragraph(doc, P, MODULATION_TEXT)

    _heading(doc, "4. Montant de l’intéressement")
    _totals(doc, TOTAL_ROWS, "{{ montants.total }}")
    B._paragraph(
        doc,
        P,
        "Le montant notifié est arrondi au centime, séparément pour la part nationale et pour "
        "la part régionale. Il fait l’objet d’une notification du directeur général de "
        "l’agence régionale de santé.",
    )
    return doc


# ---------------------------------------------------------------------------------------------
# The letter
# ---------------------------------------------------------------------------------------------


def _letterhead(doc: DocxDocument) -> None:
    """Sender on the left, recipient on the right, in an invisible table."""
    half = WIDTH // 2
    table = B._table(doc, [half, WIDTH - half], border="FFFFFF", margin=0)
    sender, recipient = B._row(table, [1, 1])
    B._first(sender, "{{ ars.nom }}", bold=True)
    B._more(sender, "{{ ars.adresse }}")
    B._more(sender, "Le {{ ars.representant.qualite }}")
    B._first(recipient, "{{ etablissement.representant.nom }}", bold=True)
    B._more(recipient, "{{ etablissement.representant.qualite }}")
    B._more(recipient, "{{ etablissement.raison_sociale }}")
    B._more(recipient, "{{ etablissement.adresse }}")
    B._more(recipient, "Finess juridique : {{ etablissement.finess_ej }}")
    date = doc.add_paragraph("Le {{ date_emission|date_fr }}")
    date.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    date.paragraph_format.space_before = Pt(18)
    subject = doc.add_paragraph()
    subject.paragraph_format.space_before = Pt(12)
    subject.paragraph_format.space_after = Pt(12)
    subject.add_run("Objet : ").bold = True
    subject.add_run(
        "notification de l’intéressement au titre de l’année {{ annee }} — contrat "
        "d’amélioration de la qualité et de l’efficience des soins {{ reference }}"
    )
    copy = doc.add_paragraph("Pièce jointe : rapport d’évaluation annuelle {{ annee }}")
    copy.paragraph_format.space_after = Pt(12)


def _signature(doc: DocxDocument) -> None:
    """The ARS's signature, alone, in the right half of the page: one field, /s3_ARS/."""
    half = WIDTH // 2
    table = B._table(doc, [half, WIDTH - half], border="FFFFFF", margin=0)
    _, cell = B._row(table, [1, 1])
    heading = B._first(cell, "Le {{ ars.representant.qualite }}", bold=True, center=True)
    heading.paragraph_format.keep_with_next = True
    B._more(cell, "{{ ars.representant.nom }}", center=True).paragraph_format.keep_with_next = True
    B._anchor(cell, "/s3_ARS/", space_before=Pt(12))
    B._anchor(cell, "/d3_ARS/", space_before=B.SIGNATURE_HEIGHT)
    for paragraph in cell.paragraphs:
        paragraph.paragraph_format.keep_with_next = True
    copy = doc.add_paragraph("Copie : {{ cpam.nom }}")
    copy.paragraph_format.space_before = Pt(12)


def build_letter() -> DocxDocument:
    doc = B._new_document(
        "Notification de l’intéressement CAQES", landscape=False, footer=LETTER_FOOTER
    )
    _letterhead(doc)
    _blocks(doc, LETTER_BODY)
    _totals(doc, TOTAL_ROWS, "{{ montants.total }}")
    _blocks(doc, LETTER_AFTER_TABLE)
    _signature(doc)
    return doc


# ---------------------------------------------------------------------------------------------
# Writing and checking
# ---------------------------------------------------------------------------------------------

BUILDERS: dict[str, Callable[[], DocxDocument]] = {
    "templates/rapport-evaluation.docx": build_report,
    "templates/notification-interessement.docx": build_letter,
}


def build_all() -> dict[str, bytes]:
    built: dict[str, bytes] = {}
    for relative, builder in BUILDERS.items():
        doc = builder()
        B._slim(doc)
        buffer = io.BytesIO()
        doc.save(buffer)
        built[relative] = buffer.getvalue()
    return built


def check(root: Path = ROOT) -> list[str]:
    """The models under ``root`` that are missing or differ from what this script builds."""
    stale = []
    for relative, data in build_all().items():
        try:
            committed = B.docx_parts((root / relative).read_bytes())
        except (OSError, zipfile.BadZipFile):
            stale.append(relative)
            continue
        if committed != B.docx_parts(data):
            stale.append(relative)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Construit les modèles DOCX de l'évaluation.")
    parser.add_argument("--check", action="store_true", help="vérifier sans rien écrire")
    parser.add_argument("--root", type=Path, default=ROOT, help="dossier contenant templates/")
    args = parser.parse_args(argv)
    if args.check:
        stale = check(args.root)
        for relative in stale:
            print(f"{relative} : pas à jour, lancer python tools/build_evaluation_templates.py")
        return 1 if stale else 0
    for relative, data in build_all().items():
        write_bytes(args.root / relative, data)
        print(f"écrit : {args.root / relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
