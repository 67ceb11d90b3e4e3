#!/usr/bin/env python3
"""Build the officer-editable DOCX models from their readable source.

The text of the regional CAQES model (ARS Nouvelle-Aquitaine) lives below as plain strings,
one function per part of the document. The models are docxtpl templates: the contract, its
two annexes, the avenant (article 10) and the avenant de résiliation of a volet (article 11).
The variables they use are those of ``docs/variables-modeles.md`` and nothing else.

    python tools/build_templates.py          # rewrite templates/*.docx, annexes/*.docx
    python tools/build_templates.py --check  # exit 1 if the committed files are out of date

Layout choices worth knowing before editing:

- No Word heading style is used: LibreOffice would export headings as PDF bookmarks. Part
  titles and article titles are custom paragraph styles without an outline level.
- Paragraphs holding only a ``{%p … %}`` tag, and table rows/cells holding ``{%tr … %}`` /
  ``{%tc … %}``, are removed by docxtpl at rendering; they are grey (or yellow) in the model.
- The national indicators table has one grid column per site for up to ``MAX_SITE_COLUMNS``
  sites. docxtpl's table fix drops the unused grid columns after rendering and shares their
  width evenly, so the table keeps the page width for any number of sites.
- Every paragraph from the effective date to the end of the document keeps with the next,
  so that the contract's « CF. ANNEXE » lines stay on the signature page instead of falling
  alone on a last one.
- The contract and its annexes become one PDF, each numbering its own pages: an annex's
  footer names it (« Annexe 1 — page 1/4 »).
- The signature anchors are white 8 pt text, one run each, found in the PDF by the
  signature-field placer. The avenants share the contract's parties, styles and signature
  block, so that they are "proposed and approved in the same forms as the contract".
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Pt, RGBColor, Twips
from docx.styles.style import ParagraphStyle
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from lxml import etree

from caqes_docs.files import write_bytes

ROOT = Path(__file__).resolve().parent.parent

FONT = "Liberation Sans"
BODY_SIZE = Pt(10)
WHITE = RGBColor(0xFF, 0xFF, 0xFF)
GREY = RGBColor(0x80, 0x80, 0x80)
TAG_FILL = "FFF2CC"  # table rows and cells that only hold a docxtpl tag
HEADER_FILL = "D9D9D9"
GROUP_FILL = "F2F2F2"

# A4 and its 2 cm margins, in twentieths of a point.
A4_SHORT, A4_LONG, MARGIN = 11906, 16838, 1134
PORTRAIT_WIDTH = A4_SHORT - 2 * MARGIN  # 9638
LANDSCAPE_WIDTH = A4_LONG - 2 * MARGIN  # 14570
LIST_INDENT = 397  # 0.7 cm

# The national table is drawn for this many sites; with fewer, docxtpl removes the unused
# grid columns and spreads their width over the remaining ones (see fix_tables).
MAX_SITE_COLUMNS = 8
SITE_COLUMN = 940
INDICATOR_COLUMN = PORTRAIT_WIDTH - MAX_SITE_COLUMNS * SITE_COLUMN

# Space between the signature anchor and the date anchor: room for a visible signature.
SIGNATURE_HEIGHT = Pt(90)

# Block kinds of the model's text.
P = "p"  # justified body paragraph
LEAD = "lead"  # underlined lead-in ("Sur les indicateurs nationaux :")
DASH = "dash"  # "–" list item
BULLET = "bullet"  # "•" list item
CIRCLE = "circle"  # "o" list item
STRONG = "strong"  # bold line
TAG = "tag"  # paragraph holding a docxtpl {%p … %} tag, removed at rendering

Block = tuple[str, str]
Article = tuple[str, list[Block]]


# ---------------------------------------------------------------------------------------------
# The text of the contract model
# ---------------------------------------------------------------------------------------------

TITLE = "CONTRAT D’AMÉLIORATION DE LA QUALITÉ ET DE L’EFFICIENCE DES SOINS"

PARTIES: list[Block] = [
    (P, "Entre les soussignés :"),
    (STRONG, "L’{{ ars.nom }} :"),
    (P, "{{ ars.adresse }}"),
    (P, "Représentée par son {{ ars.representant.qualite }} {{ ars.representant.nom }}"),
    (STRONG, "L’organisme local d’Assurance Maladie"),
    (P, "{{ cpam.nom }},"),
    (P, "{{ cpam.adresse }}"),
    (
        P,
        "Représenté par {% if cpam.representant.nom %}{{ cpam.representant.nom }}, "
        "{% else %}son {% endif %}{{ cpam.representant.qualite }}",
    ),
    (STRONG, "Et"),
    (STRONG, "L’établissement de santé (entité juridique) :"),
    (P, "{{ etablissement.raison_sociale }},"),
    (P, "{{ etablissement.adresse }}"),
    (
        P,
        "Représenté par {{ etablissement.representant.nom }}, "
        "{{ etablissement.representant.qualite }}",
    ),
]

VISAS: list[Block] = [
    (TAG, "{%p for v in visas %}"),
    (P, "{{ v }}"),
    (TAG, "{%p endfor %}"),
    (P, "Il a été convenu ce qui suit :"),
]

PREAMBULE: list[Block] = [
    (
        P,
        "Le contrat d’amélioration de la qualité et d’efficience des soins s’inscrit dans une "
        "démarche globale de recherche de pertinence, d’efficience et de régulation de l’offre "
        "de soins et constitue le support d’un dialogue de gestion annuel entre l’établissement, "
        "l’ARS et la Caisse d’Assurance Maladie.",
    ),
    (
        P,
        "La signature du présent contrat a pour objet d’impliquer les établissements à concourir "
        "à la mise en œuvre d’actions pour les thèmes qui les concernent, conformément aux "
        "référentiels nationaux et aux orientations régionales et nationales d’amélioration de "
        "la pertinence et de l’efficience des soins.",
    ),
    (P, "Ce contrat peut comporter un ou plusieurs volets relatifs :"),
    (DASH, "à la pertinence des prescriptions,"),
    (DASH, "à la pertinence des parcours et des séjours."),
    (
        P,
        "Ces volets sont conclus avec les établissements identifiés en application du plan "
        "d’actions pluriannuel régional d'amélioration de la pertinence des soins (ou PAPRAPS) "
        "ou en raison du non-respect d’un ou plusieurs référentiels de pertinence, de qualité, "
        "de sécurité des soins ou de seuils exprimés en volume ou en dépenses d'assurance "
        "maladie mentionnés à l’article L. 162-30-3 du code de la sécurité sociale.",
    ),
    (
        P,
        "Le présent contrat peut s’appliquer à l’ensemble des établissements de santé "
        "mentionnés à l’article L. 162-22-6 du code de la sécurité sociale.",
    ),
]

GENERAL_INTRO: list[Block] = [
    (
        P,
        "Les clauses énumérées dans ces conditions générales sont applicables à l’ensemble des "
        "volets du contrat.",
    ),
]

SITES_LEAD = (
    "{% if etablissement.sites|length > 1 %}Entités géographiques concernées"
    "{% else %}Entité géographique concernée{% endif %} :"
)
SITE_LINE = "Finess géographique : {{ site.finess }}{% if site.nom %} — {{ site.nom }}{% endif %}"

GENERAL_ARTICLES: list[Article] = [
    (
        "Article 1 : le présent contrat concerne l’établissement suivant :",
        [
            (STRONG, "{{ etablissement.raison_sociale }}"),
            (P, "{{ etablissement.adresse }}"),
            (P, "Finess juridique : {{ etablissement.finess_ej }}"),
            # Not in the regional model, which names sites only in volet 1's table: a
            # contract with volet 2 alone would never say which sites it binds.
            (LEAD, SITES_LEAD),
            (TAG, "{%p for site in etablissement.sites %}"),
            (DASH, SITE_LINE),
            (TAG, "{%p endfor %}"),
        ],
    ),
    (
        "Article 2 : objet du contrat",
        [
            (
                P,
                "Le contrat a pour objet de définir les modalités d’engagement pris par l’(ou "
                "les) entité(s) géographique(s) de l’établissement de santé et des "
                "professionnels qui y exercent compte tenu des objectifs d’amélioration de la "
                "pertinence des soins et des prescriptions et de la maîtrise des dépenses qu’il "
                "leur est demandé d’atteindre sur la base d’un constat partagé.",
            ),
            (
                P,
                "Ce contrat est établi avec l’établissement ciblé pour le ou les sujets suivants :",
            ),
            (TAG, "{%p if volet1 %}"),
            (
                BULLET,
                "Le bon usage des médicaments, des produits et des prestations, la pertinence "
                "des prescriptions des examens pré anesthésiques et la pertinence des "
                "prescriptions de transports (volet 1 du contrat)",
            ),
            (TAG, "{%p endif %}"),
            (TAG, "{%p if volet2 %}"),
            (BULLET, "La pertinence des parcours et des séjours (volet 2 du contrat)."),
            (TAG, "{%p endif %}"),
        ],
    ),
    (
        "Article 3 : durée du contrat",
        [
            (
                P,
                "Le présent contrat est signé pour une durée de {{ duree_annees }} "
                "an{% if duree_annees != 1 %}s{% endif %}. "
                "Il entre{% if entree_exceptionnelle %} exceptionnellement{% endif %} en vigueur "
                "le {{ date_effet|date_fr }} suivant la date de signature et prendra fin le "
                "{{ date_fin|date_fr }}.",
            ),
            (
                P,
                "Tout avenant au présent contrat entre également en vigueur au 1er janvier "
                "suivant sa date de signature.",
            ),
        ],
    ),
    (
        "Article 4 : obligations générales des parties",
        [
            (P, "L’établissement s’engage à :"),
            (
                DASH,
                "respecter l’ensemble des obligations et mettre en œuvre les moyens nécessaires "
                "au respect des objectifs fixés dans chaque volet du contrat et à en assurer la "
                "diffusion auprès des professionnels exerçant en son sein et intervenant dans la "
                "prise en charge des patients ;",
            ),
            (
                DASH,
                "mettre en œuvre les plans d’actions figurant dans chaque volet du contrat au "
                "sein de l’(ou des) entité(s) géographique(s) concernée(s) et en assurer un suivi "
                "et une évaluation régulière ;",
            ),
            (
                DASH,
                "mettre à disposition des professionnels de santé exerçant en son sein les "
                "référentiels applicables et actualisés, les données nécessaires au diagnostic, "
                "au suivi et à l’évaluation de la pertinence des prises en charge ;",
            ),
            (
                DASH,
                "s’assurer que les prescriptions réalisées par ses professionnels contiennent "
                "obligatoirement : l’identifiant personnel du prescripteur autorisé à exercer "
                "(numéro du répertoire partagé des professionnels de santé, RPPS) auquel est "
                "joint l’identifiant FINESS géographique de l’établissement en application des "
                "articles L 162-5-15 et R. 161-45 du code de la sécurité sociale;",
            ),
            (
                DASH,
                "communiquer à l’Agence Régionale de Santé et à l’organisme local d’Assurance "
                "Maladie un rapport annuel d’évaluation du contrat ainsi que les éléments leur "
                "permettant d’apprécier l’atteinte des objectifs ;",
            ),
            (DASH, "désigner un interlocuteur privilégié pour chaque volet concerné ;"),
            (
                DASH,
                "signaler à l’Agence Régionale de Santé et à l’Organisme local d’Assurance "
                "Maladie tout changement relatif à sa situation.",
            ),
            (
                P,
                "L’Agence Régionale de Santé et l’organisme local d’Assurance Maladie "
                "s’engagent, chacun en ce qui le concerne, à :",
            ),
            (
                DASH,
                "identifier un ou plusieurs référents pour accompagner l’établissement dans sa "
                "démarche d’amélioration et le suivi de ses objectifs ;",
            ),
            (
                DASH,
                "transmettre à l’établissement une fiche récapitulant l’ensemble des données qui "
                "lui seront transmises dans le cadre du suivi du contrat et le calendrier "
                "prévisionnel de diffusion de ces éléments et des points d’étapes qui seront "
                "réalisés, les objectifs, notamment les taux cibles régionaux d’évolution des "
                "dépenses d’assurance maladie quand ils existent ;",
            ),
            (
                DASH,
                "réaliser une évaluation annuelle de l’atteinte des objectifs de ce contrat et "
                "procéder à un dialogue partagé afin d’envisager les perspectives d’actions, sur "
                "la base d’un rapport d’évaluation ;",
            ),
            (
                DASH,
                "mettre en place des actions d’accompagnement des établissements, notamment à "
                "l’attention des professionnels de santé y exerçant.",
            ),
        ],
    ),
    (
        "Article 5 : source des données utilisées",
        [
            (
                P,
                "Pour la fixation des objectifs à atteindre et leur évaluation sont notamment "
                "utilisées les données mentionnées à l'article L. 6113-7 du code de la santé "
                "publique et celles transmises à l'État par la Caisse nationale d'Assurance "
                "Maladie. Les données transmises par l’Agence Technique de l’Information sur "
                "l’Hospitalisation (ATIH) peuvent également être utilisées.",
            ),
        ],
    ),
    (
        "Article 6 : ciblage des établissements",
        [
            (
                P,
                "Le ciblage de ce(s) entité(s) géographique(s) a été réalisé par l'Agence "
                "Régionale de Santé et l’Assurance Maladie en région, au vu :",
            ),
            (
                DASH,
                "des référentiels nationaux mentionnés à l’article L.162-30-3 du code de la "
                "sécurité sociale et fixés par l’arrêté en date du 31 décembre 2020.",
            ),
            (P, "et/ou"),
            (
                DASH,
                "des référentiels régionaux définis par l’Agence Régionale de Santé, notamment "
                "le PAPRAPS",
            ),
            (LEAD, "Sur les indicateurs nationaux :"),
            (
                P,
                "L’établissement est ciblé sur la base du constat fait par l'Agence Régionale de "
                "Santé d’un montant ou d’un taux d’évolution de dépenses supérieur au seuil ou "
                "au taux mentionnés par l’arrêté du 23 février 2022 susvisé pour un ou des "
                "indicateur(s) au regard :",
            ),
            (
                DASH,
                "du bilan de l’(ou des) entité(s) géographique(s) de l’établissement sur les "
                "indicateurs et des valeurs cibles fixés par l’arrêté du 31 décembre 2020 "
                "susvisé, sur l’année civile précédente ;",
            ),
            (
                DASH,
                "des caractéristiques de l’(ou des) entité(s) géographique(s) de l’établissement "
                "en termes d’activité et de l’organisation des soins de son territoire.",
            ),
            (LEAD, "Sur les indicateurs régionaux :"),
            (
                P,
                "L’établissement est ciblé sur des critères retenus par l'Agence Régionale de "
                "Santé en région en fonction des priorités inscrites dans le plan d’actions "
                "pluriannuel régional d'amélioration de la pertinence des soins (ou PAPRAPS).",
            ),
        ],
    ),
    (
        "Article 7 : mise en place du plan d’actions",
        [
            (
                P,
                "Un plan d’actions comportant les axes d’amélioration à suivre par "
                "l’établissement et la liste des indicateurs et résultats à atteindre permettant "
                "d’évaluer les progrès de l’établissement est annexé au contrat. Cette annexe "
                "est adaptée et complétée, le cas échéant, par les signataires pour tenir compte "
                "de la situation de l’établissement.",
            ),
            (
                P,
                "L’évaluation de l’atteinte des engagements de l’établissement est prise en "
                "compte dans la détermination du montant de l’intéressement de l’établissement "
                "selon les cas. Les différents objectifs contribuent à la pondération de "
                "l’intéressement qui sera appliqué à l’établissement.",
            ),
        ],
    ),
    (
        "Article 8 : évaluation",
        [
            (
                P,
                "L'établissement se dote d'un dispositif de suivi et d'audit interne lui "
                "permettant de s'assurer de l'application des engagements souscrits. Ce "
                "dispositif et l'évaluation qui en est faite permettent d’alimenter un rapport "
                "annuel d'autoévaluation.",
            ),
            (
                P,
                "Conformément à l’article L. 162-30-4 du code de la sécurité sociale, le contrat "
                "fait l’objet d’une évaluation annuelle effectuée conjointement par l'Agence "
                "Régionale de Santé et l'organisme local d'Assurance Maladie sur la base des "
                "données disponibles relatives aux indicateurs et obligations fixés dans chaque "
                "volet consolidé et des résultats de l’autoévaluation transmise par "
                "l’établissement. Elle donne lieu à un rapport d’évaluation.",
            ),
            (
                P,
                "Cette évaluation annuelle permettra de déterminer leur niveau d’atteinte et de "
                "déclencher, le cas échéant, le mécanisme de délégation d’un intéressement.",
            ),
        ],
    ),
    (
        "Article 9 : intéressements",
        [
            (
                P,
                "Pour chaque volet, l’évaluation porte sur l’ensemble des obligations fixées au "
                "contrat et en particulier, sur la réalisation du plan d’action et de l’atteinte "
                "des cibles qui y sont fixées. Il peut être prévu la notification d’un "
                "intéressement en fonction des économies réalisées sur les dépenses d’Assurance "
                "Maladie pour les indicateurs nationaux fixés par les référentiels nationaux "
                "mentionnés à l’article L. 162-30-3 du code de la sécurité sociale.",
            ),
            (
                P,
                "Si les cibles fixées pour les indicateurs régionaux sont respectées, il peut "
                "être prévu la notification d’un intéressement calculé en fonction de l’atteinte "
                "de ces cibles.",
            ),
            (
                P,
                "Ces intéressements peuvent être, le cas échéant, révisés par le directeur "
                "général de l’Agence Régionale de Santé suivant le degré de réalisation de "
                "l’ensemble des objectifs fixés au contrat.",
            ),
            (
                P,
                "Le montant global des intéressements ainsi définis est ensuite notifié à "
                "l’établissement.",
            ),
            (
                P,
                "Les cibles, leur réalisation, le niveau de pondération issu de l’évaluation des "
                "résultats de l’ensemble des objectifs du présent contrat, ainsi que le montant "
                "total de l’intéressement après prise en compte de l’ensemble des résultats sont "
                "reportés dans le rapport d’évaluation annuel.",
            ),
            (
                P,
                "Ces intéressements sont versés sous la forme d'une dotation du fond "
                "d'intervention régional mentionné à l'article L. 1435-8 du code de la santé "
                "publique.",
            ),
        ],
    ),
    (
        "Article 10 : révision du contrat",
        [
            (
                P,
                "Dans le cadre de l’évaluation annuelle de la situation de l’établissement de "
                "santé, en cas de modifications des orientations ou référentiels nationaux ou en "
                "cas de modification substantielle de la situation de l’établissement de santé, "
                "il peut être procédé à une révision du contrat par voie d’avenant dans les "
                "mêmes conditions que le contrat initial.",
            ),
            (
                P,
                "En outre, chacune des parties peut demander, en accord avec les autres parties "
                "signataires, une révision du présent contrat par voie d’avenant.",
            ),
            (P, "L’avenant est proposé et approuvé dans les mêmes formes que le contrat."),
        ],
    ),
    (
        "Article 11 : résiliation d’un volet du contrat",
        [
            (
                P,
                "Si les parties signataires décident d'un commun accord de mettre fin à l’un des "
                "volets du contrat, le directeur de l'Agence Régionale de Santé et le "
                "représentant de l’organisme local d’Assurance Maladie signent avec "
                "l'établissement de santé un avenant de résiliation dont la date d'effet est "
                "fixée au 31 décembre de l’année en cours.",
            ),
        ],
    ),
    (
        "Article 12 : voies de recours",
        [
            (
                P,
                "En cas de contestation du montant de l’intéressement, l’établissement de santé "
                "peut saisir le tribunal administratif dans le ressort duquel l’autorité qui a "
                "pris la décision attaquée a légalement son siège, par lettre recommandée dans "
                "le délai de 2 mois à compter de la réception de la notification de la décision "
                "contestée.",
            ),
        ],
    ),
]

VOLET1_TITLE = "VOLET PERTINENCE DES PRESCRIPTIONS"

VOLET1_INTRO: list[Block] = [
    (P, "Ce volet comporte des thématiques relatives aux sujets suivants :"),
    (
        CIRCLE,
        "Prescription des produits de santé, bon usage des médicaments, des produits et des "
        "prestations",
    ),
    (CIRCLE, "Pertinence des prescriptions des examens pré anesthésiques"),
    (
        CIRCLE,
        "Pertinence de la prescription des transports et amélioration de l’organisation des "
        "soins portant sur les transports",
    ),
]

VOLET1_ARTICLE1_TITLE = "Article 1 : le présent volet concerne :"
VOLET1_NATIONAL_LEAD = "Pour les indicateurs nationaux l’(ou les) entité(s) géographique(s) :"
VOLET1_REGIONAL_LEAD = (
    "Pour les indicateurs régionaux, l’établissement est concerné par les indicateurs suivants :"
)

VOLET1_ARTICLES: list[Article] = [
    (
        "Article 2 : objet du volet",
        [
            (P, "Le présent volet fixe les objectifs visant :"),
            (
                BULLET,
                "À l’amélioration du bon usage des médicaments, des produits et des prestations "
                "par l’établissement afin d’assurer la qualité des soins des patients tout en "
                "permettant une meilleure maîtrise des dépenses de l’Assurance Maladie en "
                "particulier sur l’enveloppe de soins de ville.",
            ),
            (
                BULLET,
                "De maîtrise des dépenses de l’établissement relatives à l’organisation des "
                "soins, notamment celles liées aux transports, prises en charge par l’Assurance "
                "Maladie notamment sur l’enveloppe de soins de ville ainsi que des objectifs "
                "d’amélioration de la qualité des pratiques hospitalières en termes de "
                "prescription des transports, afin de répondre à l’exigence de recours au mode "
                "de transport le moins onéreux compatible avec l’état de santé du patient et son "
                "degré d’autonomie.",
            ),
            (
                BULLET,
                "Un établissement peut être éligible même s’il ne se situe pas dans un "
                "département avec un taux de recours élevé et suite à l’analyse régionale par "
                "l’Assurance Maladie et l’ARS. Il s’agit d’établissements vecteurs des bonnes "
                "pratiques concourant à la pertinence des soins.",
            ),
        ],
    ),
    (
        "Article 3 : engagements de l’établissement",
        [
            (LEAD, "Sur les indicateurs nationaux :"),
            (
                P,
                "L’établissement s’engage à améliorer ses pratiques de prescription susvisées et "
                "à atteindre les valeurs cibles indiquées dans les documents annexes au présent "
                "volet au contrat, par thématique, pour chacune des entités géographiques "
                "ciblées.",
            ),
            (LEAD, "Sur les indicateurs régionaux :"),
            (
                P,
                "L’établissement s’engage à améliorer ses pratiques de prescriptions, engagement "
                "explicités par thème dans les documents annexes au présent volet du contrat.",
            ),
        ],
    ),
    (
        "Article 4 : évaluation",
        [
            (
                P,
                "Une information portant sur l’analyse des prescriptions et de leur évolution "
                "est présentée chaque semestre à la commission ou à la conférence définie à "
                "l’article R. 6111-10 du code de la santé publique et adressé à l’observatoire "
                "mentionné aux articles R.1413-90 et R.1413-91 du code de santé publique, au "
                "directeur de l’ARS ainsi qu’à l’Organisme Local d’Assurance Maladie.",
            ),
            (LEAD, "Sur les indicateurs nationaux :"),
            (
                P,
                "Suivant le taux d’atteinte des objectifs sur les indicateurs nationaux "
                "mentionnés à l’article 3, et du montant de l’économie réalisée sur les dépenses "
                "de l’Assurance Maladie sur l’enveloppe soins en ville, l’établissement peut "
                "être éligible à un intéressement.",
            ),
            (
                P,
                "Le montant de l’intéressement, dit national, peut être adapté par le directeur "
                "de l’ARS en fonction de l’atteinte de l’ensemble des objectifs prévus dans le "
                "contrat et des priorités fixées annuellement.",
            ),
            (LEAD, "Sur les indicateurs régionaux :"),
            (
                P,
                "Les modalités d’intéressement sont définies avec l’objectif de proposer une "
                "distribution de l’enveloppe harmonisée entre les différents thèmes / "
                "indicateurs régionaux retenus et les catégories d’établissements concernés. "
                "Cette distribution s’effectue au prorata des établissements concernés par "
                "thèmes régionaux et en fonction du niveau d’investissement de l’établissement "
                "sur les thèmes les concernant.",
            ),
            (
                P,
                "L’attribution de l’intéressement sera réalisée en fonction du score obtenu lors "
                "de l’évaluation annuelle, réalisée conjointement par l’Agence Régionale de "
                "Santé et l’organisme local de l’Assurance Maladie.",
            ),
            (
                P,
                "Le montant de l’intéressement sera proportionnel au niveau d’atteinte des "
                "engagements du thème par l’établissement, méthodologie qui permettra "
                "d’intéresser les établissements ayant atteint un ou plusieurs objectifs par "
                "thème.",
            ),
            (
                P,
                "Le montant de l’intéressement peut être adapté par le directeur de l’ARS en "
                "fonction de l’atteinte de l’ensemble des objectifs prévus dans le contrat et "
                "des priorités fixées annuellement.",
            ),
        ],
    ),
]

# The regional model has no text for volet 2: this part follows the style of volet 1.
VOLET2_TITLE = "VOLET PERTINENCE DES PARCOURS ET DES SÉJOURS"

VOLET2_INTRO: list[Block] = [
    (
        P,
        "Ce volet comporte des thématiques relatives aux sujets suivants, fixés par le plan "
        "d’actions pluriannuel régional d’amélioration de la pertinence des soins (PAPRAPS) :",
    ),
    (TAG, "{%p for theme in volet2.themes %}"),
    (CIRCLE, "{{ theme.libelle }}"),
    (TAG, "{%p endfor %}"),
]

VOLET2_ARTICLES: list[Article] = [
    (
        "Article 1 : engagements de l’établissement",
        [
            (
                P,
                "L’établissement s’engage à améliorer ses pratiques sur chacune des thématiques "
                "du présent volet et à mettre en œuvre le plan d’actions figurant en annexe 2 "
                "au présent contrat, engagements explicités par thème dans cette annexe.",
            ),
        ],
    ),
    (
        "Article 2 : évaluation",
        [
            (
                P,
                "Conformément aux articles 8 et 9 des conditions générales, le présent volet "
                "fait l’objet d’une évaluation annuelle effectuée conjointement par l’Agence "
                "Régionale de Santé et l’organisme local d’Assurance Maladie, sur la base du "
                "rapport d’autoévaluation transmis par l’établissement et de l’état de "
                "réalisation du plan d’actions. Les cibles, leur réalisation et, le cas "
                "échéant, le montant de l’intéressement sont reportés dans le rapport "
                "d’évaluation annuel.",
            ),
        ],
    ),
]

EFFECTIVE_DATE = "Date d’effet du contrat : {{ date_effet|date_fr }}"
CONTRACT_FOOTER = "Contrat {{ reference }}"
CONTRACT_PAGES = ("Page ", " / ")  # the words around the page number and the page count
# One PDF holds the contract and its annexes, each numbering its own pages: an annex's
# footer names it, so that « page 1 » after the contract's last page reads right.
ANNEX_FOOTER = "Contrat {{ reference }} — plan d’actions du volet {number}"
ANNEX_PAGES = "Annexe {number} — page "

# (heading, signature anchor, date anchor), in signing order.
SIGNATORIES: list[tuple[str, str, str]] = [
    ("Pour l’établissement de santé", "/s1_ETAB/", "/d1_ETAB/"),
    ("Pour l’organisme local d’Assurance Maladie", "/s2_CPAM/", "/d2_CPAM/"),
    ("Pour l’{{ ars.nom_court }}", "/s3_ARS/", "/d3_ARS/"),
]

ANNEX_REFERENCES: list[Block] = [
    (TAG, "{%p if volet1 %}"),
    (STRONG, "CF. ANNEXE 1 : VOLET PERTINENCE DES PRESCRIPTIONS"),
    (TAG, "{%p endif %}"),
    (TAG, "{%p if volet2 %}"),
    (STRONG, "ANNEXE 2 : VOLET PERTINENCE DES PARCOURS ET DES SÉJOURS"),
    (TAG, "{%p endif %}"),
]


# ---------------------------------------------------------------------------------------------
# The text of the avenants (articles 3, 10 and 11 of the contract)
# ---------------------------------------------------------------------------------------------

AMENDMENT_TITLE = (
    "AVENANT N° {{ avenant.numero }} AU CONTRAT D’AMÉLIORATION DE LA QUALITÉ ET DE "
    "L’EFFICIENCE DES SOINS"
)
AMENDMENT_FOOTER = "Avenant n° {{ avenant.numero }} au contrat {{ reference }}"
AMENDMENT_EFFECTIVE_DATE = "Date d’effet de l’avenant : {{ avenant.date_effet|date_fr }}"

AMENDMENT_VISAS: list[Block] = [
    (TAG, "{%p for v in visas %}"),
    (P, "{{ v }}"),
    (TAG, "{%p endfor %}"),
    (
        P,
        "Vu le contrat d’amélioration de la qualité et de l’efficience des soins "
        "{{ reference }}, entré en vigueur le {{ date_effet|date_fr }}, notamment ses "
        "articles 3 et 10 ;",
    ),
    (P, "Il a été convenu ce qui suit :"),
]

AMENDMENT_ARTICLES: list[Article] = [
    (
        "Article 1 : objet de l’avenant",
        [
            (P, "Le présent avenant modifie le contrat {{ reference }} comme suit :"),
            (TAG, "{%p for m in avenant.modifications %}"),
            (DASH, "{{ m }}"),
            (TAG, "{%p endfor %}"),
            (TAG, "{%p for annexe in avenant.annexes %}"),
            (
                P,
                "{% if annexe.nouvelle %}L’annexe {{ annexe.numero }} ({{ annexe.libelle }}), "
                "jointe au présent avenant, est annexée au contrat.{% else %}L’annexe "
                "{{ annexe.numero }} du contrat ({{ annexe.libelle }}) est remplacée par "
                "l’annexe {{ annexe.numero }} jointe au présent avenant.{% endif %}",
            ),
            (TAG, "{%p endfor %}"),
        ],
    ),
    (
        "Article 2 : entrée en vigueur",
        [
            (
                P,
                "Conformément aux articles 3 et 10 du contrat, le présent avenant, proposé et "
                "approuvé dans les mêmes formes que le contrat, entre en vigueur au 1er janvier "
                "suivant sa date de signature, soit le {{ avenant.date_effet|date_fr }} pour "
                "une signature au cours de l’année {{ avenant.date_signature.year }}.",
            ),
        ],
    ),
    (
        "Article 3 : autres stipulations",
        [
            (
                P,
                "Les stipulations du contrat que le présent avenant ne modifie pas demeurent "
                "applicables. Le contrat ainsi modifié prend fin le {{ date_fin|date_fr }}.",
            ),
        ],
    ),
]

TERMINATION_TITLE = (
    "AVENANT N° {{ resiliation.numero }} AU CONTRAT D’AMÉLIORATION DE LA QUALITÉ ET DE "
    "L’EFFICIENCE DES SOINS"
)
TERMINATION_SUBTITLE = (
    "Avenant de résiliation du volet {{ resiliation.volet }} « {{ resiliation.volet_libelle }} »"
)
TERMINATION_FOOTER = (
    "Avenant n° {{ resiliation.numero }} (résiliation du volet {{ resiliation.volet }}) "
    "au contrat {{ reference }}"
)
TERMINATION_EFFECTIVE_DATE = "Date d’effet de la résiliation : {{ resiliation.date_effet|date_fr }}"

TERMINATION_VISAS: list[Block] = [
    (TAG, "{%p for v in visas %}"),
    (P, "{{ v }}"),
    (TAG, "{%p endfor %}"),
    (
        P,
        "Vu le contrat d’amélioration de la qualité et de l’efficience des soins "
        "{{ reference }}, entré en vigueur le {{ date_effet|date_fr }}, notamment son "
        "article 11 ;",
    ),
    (P, "Il a été convenu ce qui suit :"),
]

TERMINATION_ARTICLES: list[Article] = [
    (
        "Article 1 : objet de l’avenant",
        [
            (
                P,
                "Les parties signataires décident d’un commun accord de mettre fin au volet "
                "{{ resiliation.volet }} « {{ resiliation.volet_libelle }} » du contrat "
                "{{ reference }}, en application de l’article 11 du contrat.",
            ),
        ],
    ),
    (
        "Article 2 : date d’effet",
        [
            (
                P,
                "Conformément à l’article 11 du contrat, la résiliation prend effet au "
                "31 décembre de l’année en cours, soit le {{ resiliation.date_effet|date_fr }}. "
                "L’annexe {{ resiliation.volet }} du contrat (plan d’actions de ce volet) "
                "cesse de s’appliquer à la même date.",
            ),
            (TAG, "{%p if resiliation.dernier_volet %}"),
            (
                STRONG,
                "Ce volet étant le dernier volet en vigueur du contrat, le contrat prend fin le "
                "{{ resiliation.date_effet|date_fr }}.",
            ),
            (TAG, "{%p else %}"),
            (
                P,
                "Les autres volets du contrat demeurent en vigueur dans les conditions du "
                "contrat, jusqu’au {{ date_fin|date_fr }}.",
            ),
            (TAG, "{%p endif %}"),
        ],
    ),
    (
        "Article 3 : autres stipulations",
        [
            (
                P,
                "Les stipulations du contrat que le présent avenant ne modifie pas demeurent "
                "applicables.",
            ),
        ],
    ),
]


# ---------------------------------------------------------------------------------------------
# The text of the annexes
# ---------------------------------------------------------------------------------------------

ANNEX_SUBTITLE = (
    "Contrat {{ reference }} — {{ etablissement.raison_sociale }} "
    "(FINESS juridique {{ etablissement.finess_ej }})"
)

# (header, width in twips, cell text); the widths add up to LANDSCAPE_WIDTH.
ANNEX_COLUMNS: list[tuple[str, int, str]] = [
    ("Indicateur", 1928, ""),  # code and label, two paragraphs: see _annex_table
    (
        "Site (FINESS)",
        1304,
        "{% if ligne.site %}{{ ligne.site }}{% else %}Établissement{% endif %}",
    ),
    ("Axe d’amélioration", 1701, "{{ ligne.axe }}"),
    ("Action", 2494, "{{ ligne.action }}"),
    ("Pilote", 1361, "{{ ligne.pilote }}"),
    ("Échéance", 1134, "{{ ligne.echeance }}"),
    ("Indicateur de suivi", 1928, "{{ ligne.indicateur_suivi }}"),
    ("Valeur initiale", 1247, "{{ ligne.valeur_initiale }}"),
    ("Cible", 1473, "{{ ligne.cible }}"),
]

ANNEXES: dict[int, tuple[str, str]] = {
    1: ("ANNEXE 1 — VOLET PERTINENCE DES PRESCRIPTIONS — Plan d’actions", "Indicateur"),
    2: ("ANNEXE 2 — VOLET PERTINENCE DES PARCOURS ET DES SÉJOURS — Plan d’actions", "Thème"),
}


# ---------------------------------------------------------------------------------------------
# Document primitives
# ---------------------------------------------------------------------------------------------


def _el(tag: str, **attrs: str) -> BaseOxmlElement:
    element = OxmlElement(tag)
    for name, value in attrs.items():
        element.set(qn(f"w:{name}"), value)
    return element


def _new_document(
    title: str,
    *,
    landscape: bool,
    footer: str = CONTRACT_FOOTER,
    pages: tuple[str, str] = CONTRACT_PAGES,
) -> DocxDocument:
    doc = Document()
    _drop_thumbnail(doc)
    _set_properties(doc, title)
    _set_defaults(doc)
    _add_styles(doc)
    _set_page(doc, landscape=landscape, footer=footer, pages=pages)
    return doc


def _drop_thumbnail(doc: DocxDocument) -> None:
    """python-docx's template carries a preview image of another document."""
    rels = doc.part.package.rels
    for key in [key for key, rel in rels.items() if rel.reltype == RT.THUMBNAIL]:
        rels.pop(key)


def _set_properties(doc: DocxDocument, title: str) -> None:
    # Fixed values keep the output deterministic. docxtpl renders these strings with Jinja
    # too, so they must hold no tag.
    props = doc.core_properties
    fixed = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
    props.title = title
    props.subject = "CAQES"
    props.author = "ARS Nouvelle-Aquitaine"
    props.comments = "Modèle généré par tools/build_templates.py"
    props.language = "fr-FR"
    props.last_modified_by = ""
    props.revision = 1
    props.created = fixed
    props.modified = fixed


def _set_defaults(doc: DocxDocument) -> None:
    """Liberation Sans and French everywhere, instead of the template's theme fonts."""
    rpr = doc.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    for child in list(rpr):
        rpr.remove(child)
    rpr.append(_el("w:rFonts", ascii=FONT, hAnsi=FONT, cs=FONT, eastAsia=FONT))
    rpr.append(_el("w:sz", val=str(int(BODY_SIZE.pt * 2))))
    rpr.append(_el("w:szCs", val=str(int(BODY_SIZE.pt * 2))))
    rpr.append(_el("w:lang", val="fr-FR", eastAsia="fr-FR", bidi="ar-SA"))
    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = BODY_SIZE
    fmt = normal.paragraph_format
    fmt.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(6)
    fmt.line_spacing = 1.1
    fmt.widow_control = True


def _add_styles(doc: DocxDocument) -> None:
    """Custom paragraph styles; none has an outline level, so no PDF bookmark appears."""
    styles = doc.styles

    def add(name: str, *, size: float | None = None, bold: bool = False) -> ParagraphStyle:
        style = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = styles["Normal"]
        style.quick_style = True
        if size is not None:
            style.font.size = Pt(size)
        style.font.bold = bold
        return style

    title = add("CAQES Titre", size=14, bold=True)
    title.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.paragraph_format.space_after = Pt(12)

    part = add("CAQES Partie", size=12, bold=True)
    part.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    part.paragraph_format.page_break_before = True
    part.paragraph_format.keep_with_next = True
    part.paragraph_format.space_after = Pt(18)

    article = add("CAQES Article", bold=True)
    article.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.LEFT
    article.paragraph_format.keep_with_next = True
    article.paragraph_format.space_before = Pt(14)
    article.paragraph_format.space_after = Pt(8)

    lead = add("CAQES Intertitre")
    lead.font.underline = True
    lead.paragraph_format.keep_with_next = True
    lead.paragraph_format.space_before = Pt(6)
    lead.paragraph_format.space_after = Pt(3)

    for name, level in (("CAQES Liste", 1), ("CAQES Liste 2", 2)):
        item = add(name)
        item.paragraph_format.left_indent = Twips(LIST_INDENT * level)
        item.paragraph_format.first_line_indent = Twips(-LIST_INDENT)
        item.paragraph_format.space_after = Pt(3)
        item.paragraph_format.tab_stops.add_tab_stop(Twips(LIST_INDENT * level))

    tag = add("CAQES Balise", size=8)
    tag.font.color.rgb = GREY
    tag.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.LEFT
    tag.paragraph_format.space_after = Pt(0)

    cell = add("CAQES Tableau", size=9)
    cell.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.LEFT
    cell.paragraph_format.space_after = Pt(0)
    cell.paragraph_format.line_spacing = 1.0

    footer = add("CAQES Pied", size=8)
    footer.font.color.rgb = GREY
    footer.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.LEFT
    footer.paragraph_format.space_after = Pt(0)


def _set_page(
    doc: DocxDocument, *, landscape: bool, footer: str, pages: tuple[str, str] = CONTRACT_PAGES
) -> None:
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    width, height = (A4_LONG, A4_SHORT) if landscape else (A4_SHORT, A4_LONG)
    section.page_width = Twips(width)
    section.page_height = Twips(height)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Twips(MARGIN))
    section.header_distance = Twips(567)
    section.footer_distance = Twips(567)
    _footer(doc, footer, text_width=width - 2 * MARGIN, pages=pages)


def _footer(
    doc: DocxDocument, text: str, *, text_width: int, pages: tuple[str, str] = CONTRACT_PAGES
) -> None:
    """``text`` (« Contrat <référence> ») on the left, « Page X / Y » on the right, as fields.

    ``pages`` holds the words before the page number and between it and the page count.
    """
    footer = doc.sections[0].footer
    footer.is_linked_to_previous = False
    paragraph = footer.paragraphs[0]
    paragraph.style = doc.styles["CAQES Pied"]
    paragraph.paragraph_format.tab_stops.add_tab_stop(Twips(text_width), WD_TAB_ALIGNMENT.RIGHT)
    before, between = pages
    paragraph.add_run(f"{text}\t{before}")
    _field(paragraph, "PAGE")
    paragraph.add_run(between)
    _field(paragraph, "NUMPAGES")


def _field(paragraph: Paragraph, instruction: str) -> None:
    for kind in ("begin", "instr", "separate", "value", "end"):
        run = paragraph.add_run()
        if kind == "instr":
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = f" {instruction} "
            run._r.append(instr)
        elif kind == "value":
            run.text = "1"
        else:
            run._r.append(_el("w:fldChar", fldCharType=kind))


def _paragraph(container: DocxDocument | _Cell, kind: str, text: str) -> Paragraph:
    """Add one block of the model's text to the document or to a table cell."""
    style = {
        LEAD: "CAQES Intertitre",
        DASH: "CAQES Liste",
        BULLET: "CAQES Liste",
        CIRCLE: "CAQES Liste 2",
        TAG: "CAQES Balise",
    }.get(kind, "Normal")
    paragraph = container.add_paragraph(style=style)
    marker = {DASH: "–\t", BULLET: "•\t", CIRCLE: "o\t"}.get(kind, "")
    run = paragraph.add_run(marker + text)
    if kind == STRONG:
        run.bold = True
        paragraph.paragraph_format.keep_with_next = True
    return paragraph


def _blocks(doc: DocxDocument, blocks: Sequence[Block]) -> None:
    for kind, text in blocks:
        _paragraph(doc, kind, text)


def _article_title(doc: DocxDocument, title: str) -> None:
    doc.add_paragraph(title, style="CAQES Article")


def _articles(doc: DocxDocument, articles: Sequence[Article]) -> None:
    for title, blocks in articles:
        _article_title(doc, title)
        _blocks(doc, blocks)


def _table(
    doc: DocxDocument, widths: Sequence[int], *, border: str = "808080", margin: int = 85
) -> Table:
    """A fixed-layout table of the given grid (twips), thin borders, given cell margins."""
    table = doc.add_table(rows=0, cols=len(widths))
    tbl = table._tbl
    tbl_pr = tbl.tblPr
    for child in list(tbl_pr):
        tbl_pr.remove(child)
    tbl_pr.append(_el("w:tblW", w=str(sum(widths)), type="dxa"))
    tbl_pr.append(_el("w:jc", val="center"))
    borders = _el("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        borders.append(_el(f"w:{side}", val="single", sz="4", space="0", color=border))
    tbl_pr.append(borders)
    tbl_pr.append(_el("w:tblLayout", type="fixed"))
    cell_margins = _el("w:tblCellMar")
    for side in ("top", "left", "bottom", "right"):
        size = margin if side in ("left", "right") else 28
        cell_margins.append(_el(f"w:{side}", w=str(size), type="dxa"))
    tbl_pr.append(cell_margins)
    tbl_pr.append(_el("w:tblLook", val="04A0"))
    for grid_col, width in zip(tbl.tblGrid.findall(qn("w:gridCol")), widths, strict=True):
        grid_col.set(qn("w:w"), str(width))
    return table


def _row(
    table: Table,
    spans: Sequence[int],
    *,
    header: bool = False,
    fill: str | None = None,
    center: bool = False,
) -> list[_Cell]:
    """Add a row whose cells cover ``spans`` grid columns each; return the cells.

    Every cell starts with one empty paragraph in the table style: use ``_first``.
    """
    widths = [int(col.get(qn("w:w"))) for col in table._tbl.tblGrid.findall(qn("w:gridCol"))]
    tr = table._tbl.add_tr()
    tr_pr = tr.get_or_add_trPr()
    tr_pr.append(_el("w:cantSplit"))
    if header:
        tr_pr.append(_el("w:tblHeader"))
    cells: list[_Cell] = []
    start = 0
    for span in spans:
        tc = tr.add_tc()
        tc_pr = tc.get_or_add_tcPr()
        tc_pr.append(_el("w:tcW", w=str(sum(widths[start : start + span])), type="dxa"))
        if span > 1:
            tc_pr.append(_el("w:gridSpan", val=str(span)))
        if fill:
            tc_pr.append(_el("w:shd", val="clear", color="auto", fill=fill))
        tc_pr.append(_el("w:vAlign", val="center" if center else "top"))
        start += span
        cell = _Cell(tc, table)
        cell.paragraphs[0].style = table.part.document.styles["CAQES Tableau"]
        cells.append(cell)
    if start != len(widths):
        raise ValueError(f"row covers {start} grid columns, table has {len(widths)}")
    return cells


def _first(
    cell: _Cell,
    text: str = "",
    *,
    bold: bool = False,
    center: bool = False,
    size: float | None = None,
) -> Paragraph:
    paragraph = cell.paragraphs[0]
    _fill(paragraph, text, bold=bold, center=center, size=size)
    return paragraph


def _more(
    cell: _Cell,
    text: str,
    *,
    bold: bool = False,
    center: bool = False,
    size: float | None = None,
    style: str = "CAQES Tableau",
) -> Paragraph:
    paragraph = cell.add_paragraph(style=style)
    _fill(paragraph, text, bold=bold, center=center, size=size)
    return paragraph


def _fill(
    paragraph: Paragraph,
    text: str,
    *,
    bold: bool = False,
    center: bool = False,
    size: float | None = None,
) -> None:
    if center:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    if text:
        run = paragraph.add_run(text)
        run.bold = bold or None
        if size is not None:
            run.font.size = Pt(size)


def _tag_cell(cell: _Cell, tag: str) -> None:
    """The first paragraph of a cell holds a docxtpl tag (the paragraph or cell goes away)."""
    paragraph = cell.paragraphs[0]
    paragraph.style = cell.part.document.styles["CAQES Balise"]
    paragraph.add_run(tag)


def _column_tag_cell(cell: _Cell, tag: str) -> None:
    """A cell holding a ``{%tc … %}`` tag, tinted like the tag rows."""
    _tag_cell(cell, tag)
    tc_pr = cell._tc.get_or_add_tcPr()
    for shading in tc_pr.findall(qn("w:shd")):
        tc_pr.remove(shading)
    tc_pr.find(qn("w:vAlign")).addprevious(_el("w:shd", val="clear", color="auto", fill=TAG_FILL))


def _tag_row(table: Table, tag: str) -> None:
    columns = len(table._tbl.tblGrid.findall(qn("w:gridCol")))
    (cell,) = _row(table, [columns], fill=TAG_FILL)
    _tag_cell(cell, tag)


def _code_and_label(paragraph: Paragraph, code: str, label: str) -> None:
    paragraph.add_run(code).bold = True
    paragraph.add_run(" " + label)


# ---------------------------------------------------------------------------------------------
# The contract, one function per part
# ---------------------------------------------------------------------------------------------


def _title(doc: DocxDocument) -> None:
    doc.add_paragraph(TITLE, style="CAQES Titre")
    reference = doc.add_paragraph("Référence : {{ reference }}")
    reference.alignment = WD_ALIGN_PARAGRAPH.CENTER
    reference.paragraph_format.space_after = Pt(18)


def _parties(doc: DocxDocument) -> None:
    for kind, text in PARTIES:
        paragraph = _paragraph(doc, kind, text)
        paragraph.paragraph_format.space_after = Pt(2)
        if text.startswith(("L’", "Et")):
            paragraph.paragraph_format.space_before = Pt(10)
    doc.paragraphs[-1].paragraph_format.space_after = Pt(14)


def _visas(doc: DocxDocument) -> None:
    _blocks(doc, VISAS)
    doc.paragraphs[-1].paragraph_format.space_before = Pt(10)


def _preambule(doc: DocxDocument) -> None:
    doc.add_paragraph("Préambule", style="CAQES Partie")
    _blocks(doc, PREAMBULE)


def _general_conditions(doc: DocxDocument) -> None:
    doc.add_paragraph("Conditions générales d’application", style="CAQES Partie")
    _blocks(doc, GENERAL_INTRO)
    _articles(doc, GENERAL_ARTICLES)


def _volet1(doc: DocxDocument) -> None:
    _paragraph(doc, TAG, "{%p if volet1 %}")
    doc.add_paragraph(VOLET1_TITLE, style="CAQES Partie")
    _blocks(doc, VOLET1_INTRO)
    _article_title(doc, VOLET1_ARTICLE1_TITLE)
    doc.add_paragraph(VOLET1_NATIONAL_LEAD).paragraph_format.keep_with_next = True
    _national_table(doc)
    regional_lead = doc.add_paragraph(VOLET1_REGIONAL_LEAD)
    regional_lead.paragraph_format.space_before = Pt(12)
    regional_lead.paragraph_format.keep_with_next = True
    _regional_table(doc)
    _articles(doc, VOLET1_ARTICLES)
    _paragraph(doc, TAG, "{%p endif %}")


def _national_table(doc: DocxDocument) -> None:
    """Indicators × sites: a column loop for the sites inside a row loop for the indicators.

    Each row is [indicator][{%tc for%}][site cell][{%tc endfor%} spanning the rest]: the tag
    cells disappear at rendering, the site cell is repeated once per site.
    """
    table = _table(doc, [INDICATOR_COLUMN] + [SITE_COLUMN] * MAX_SITE_COLUMNS, margin=57)
    spans = [1, 1, 1, MAX_SITE_COLUMNS - 2]

    label, loop, site, end = _row(table, spans, header=True, fill=HEADER_FILL, center=True)
    _first(label, "Indicateurs nationaux (IN)", bold=True)
    _column_tag_cell(loop, "{%tc for site in etablissement.sites %}")
    # Small type: with eight sites a column is 1.66 cm wide and a FINESS must fit on a line.
    _first(site, "Finess n°{{ site.numero }}", bold=True, center=True, size=8)
    _more(site, "{{ site.finess }}", center=True, size=7.5)
    _more(site, "{{ site.nom }}", center=True, size=7)
    _column_tag_cell(end, "{%tc endfor %}")

    _tag_row(table, "{%tr for ind in volet1.nationaux %}")
    label, loop, mark, end = _row(table, spans, center=True)
    _code_and_label(_first(label), "{{ ind.code }}", "{{ ind.libelle }}")
    _column_tag_cell(loop, "{%tc for m in ind.marques %}")
    _first(mark, "{{ m }}", bold=True, center=True)
    _column_tag_cell(end, "{%tc endfor %}")
    _tag_row(table, "{%tr endfor %}")


def _regional_table(doc: DocxDocument) -> None:
    """Regional indicators in their groups: a label row when the group has one."""
    table = _table(doc, [PORTRAIT_WIDTH - 3000, 3000])
    label, answer = _row(table, [1, 1], header=True, fill=HEADER_FILL, center=True)
    _first(label, "Indicateurs régionaux (IR)", bold=True)
    _first(answer, "Établissement concerné (OUI/NON)", bold=True, center=True)

    _tag_row(table, "{%tr for groupe in volet1.regionaux %}")
    _tag_row(table, "{%tr if groupe.libelle %}")
    (group,) = _row(table, [2], fill=GROUP_FILL)
    _first(group, "{{ groupe.libelle }} :", bold=True)
    _tag_row(table, "{%tr endif %}")
    _tag_row(table, "{%tr for ind in groupe.indicateurs %}")
    label, answer = _row(table, [1, 1], center=True)
    # Indicators of a group are indented under its label, as in the regional model.
    _tag_cell(label, "{%p if groupe.libelle %}")
    grouped = _more(label, "")
    grouped.paragraph_format.left_indent = Twips(LIST_INDENT)
    _code_and_label(grouped, "{{ ind.code }}", "{{ ind.libelle }}")
    _more(label, "{%p else %}", style="CAQES Balise")
    _code_and_label(_more(label, ""), "{{ ind.code }}", "{{ ind.libelle }}")
    _more(label, "{%p endif %}", style="CAQES Balise")
    _first(answer, "{{ ind.concerne }}", center=True)
    _tag_row(table, "{%tr endfor %}")
    _tag_row(table, "{%tr endfor %}")


def _volet2(doc: DocxDocument) -> None:
    _paragraph(doc, TAG, "{%p if volet2 %}")
    doc.add_paragraph(VOLET2_TITLE, style="CAQES Partie")
    _blocks(doc, VOLET2_INTRO)
    _articles(doc, VOLET2_ARTICLES)
    _paragraph(doc, TAG, "{%p endif %}")


def _signatures(doc: DocxDocument, effective_text: str = EFFECTIVE_DATE) -> None:
    """Effective date, then one column per signatory, the whole block on one page."""
    effective = doc.add_paragraph(effective_text)
    effective.runs[0].bold = True
    effective.paragraph_format.space_before = Pt(24)
    effective.paragraph_format.space_after = Pt(12)
    effective.paragraph_format.keep_with_next = True

    third = PORTRAIT_WIDTH // 3
    table = _table(doc, [third, third, PORTRAIT_WIDTH - 2 * third], border="BFBFBF")
    # Headings and anchors in two rows, so that the anchors line up whatever the headings'
    # length; keep-with-next on the headings keeps both rows on one page.
    headings = _row(table, [1, 1, 1])
    anchors = _row(table, [1, 1, 1])
    for heading, cell, (text, signature, date) in zip(headings, anchors, SIGNATORIES, strict=True):
        _first(heading, text, bold=True, center=True).paragraph_format.keep_with_next = True
        _anchor(cell, signature, space_before=Pt(18))
        _anchor(cell, date, space_before=SIGNATURE_HEIGHT)
    # Keep-with-next down to the end of the document: what follows the block (the contract's
    # « CF. ANNEXE » lines) never lands alone on a last, nearly blank page.
    for paragraph in (p for cell in anchors for p in cell.paragraphs):
        paragraph.paragraph_format.keep_with_next = True
    spacer = doc.add_paragraph()
    spacer.paragraph_format.space_after = Pt(12)
    spacer.paragraph_format.keep_with_next = True


def _anchor(cell: _Cell, anchor: str, *, space_before: Pt) -> None:
    """An anchor for the signature-field placer: one white 8 pt run, printed invisible."""
    paragraph = cell.add_paragraph(style="CAQES Tableau")
    paragraph.paragraph_format.space_before = space_before
    paragraph.paragraph_format.space_after = Pt(4)
    run = paragraph.add_run(anchor)
    run.font.size = Pt(8)
    run.font.color.rgb = WHITE


def _annex_references(doc: DocxDocument) -> None:
    _blocks(doc, ANNEX_REFERENCES)


def build_contract() -> DocxDocument:
    doc = _new_document(
        "Contrat d’amélioration de la qualité et de l’efficience des soins", landscape=False
    )
    _title(doc)
    _parties(doc)
    _visas(doc)
    _preambule(doc)
    _general_conditions(doc)
    _volet1(doc)
    _volet2(doc)
    _signatures(doc)
    _annex_references(doc)
    return doc


# ---------------------------------------------------------------------------------------------
# The avenants
# ---------------------------------------------------------------------------------------------


def _amendment_heading(doc: DocxDocument, title: str, subtitle: str | None = None) -> None:
    doc.add_paragraph(title, style="CAQES Titre")
    if subtitle is not None:
        below = doc.add_paragraph()
        below.alignment = WD_ALIGN_PARAGRAPH.CENTER
        below.add_run(subtitle).bold = True
    reference = doc.add_paragraph("Référence du contrat : {{ reference }}")
    reference.alignment = WD_ALIGN_PARAGRAPH.CENTER
    reference.paragraph_format.space_after = Pt(18)


def _amendment_body(doc: DocxDocument, visas: list[Block], articles: list[Article]) -> None:
    _parties(doc)
    _blocks(doc, visas)
    doc.paragraphs[-1].paragraph_format.space_before = Pt(10)
    _articles(doc, articles)


def build_amendment() -> DocxDocument:
    """Avenant n°k (article 10): the changes in legal wording, in force on 1 January next."""
    doc = _new_document(
        "Avenant au contrat d’amélioration de la qualité et de l’efficience des soins",
        landscape=False,
        footer=AMENDMENT_FOOTER,
    )
    _amendment_heading(doc, AMENDMENT_TITLE)
    _amendment_body(doc, AMENDMENT_VISAS, AMENDMENT_ARTICLES)
    _signatures(doc, AMENDMENT_EFFECTIVE_DATE)
    return doc


def build_termination() -> DocxDocument:
    """Avenant de résiliation of a volet (article 11), effective 31 December of its year."""
    doc = _new_document(
        "Avenant de résiliation d’un volet du contrat d’amélioration de la qualité et de "
        "l’efficience des soins",
        landscape=False,
        footer=TERMINATION_FOOTER,
    )
    _amendment_heading(doc, TERMINATION_TITLE, TERMINATION_SUBTITLE)
    _amendment_body(doc, TERMINATION_VISAS, TERMINATION_ARTICLES)
    _signatures(doc, TERMINATION_EFFECTIVE_DATE)
    return doc


# ---------------------------------------------------------------------------------------------
# The annexes
# ---------------------------------------------------------------------------------------------


def build_annex(number: int) -> DocxDocument:
    title, first_header = ANNEXES[number]
    doc = _new_document(
        title,
        landscape=True,
        footer=ANNEX_FOOTER.replace("{number}", str(number)),
        pages=(ANNEX_PAGES.replace("{number}", str(number)), "/"),
    )
    doc.add_paragraph(title, style="CAQES Titre").paragraph_format.space_after = Pt(4)
    subtitle = doc.add_paragraph(ANNEX_SUBTITLE)
    subtitle.alignment = WD_ALIGN_PARAGRAPH.CENTER
    subtitle.paragraph_format.space_after = Pt(12)
    _annex_table(doc, number, first_header)
    return doc


def _annex_table(doc: DocxDocument, number: int, first_header: str) -> None:
    """The action plan: a header row repeated on each page, one row per action."""
    table = _table(doc, [width for _, width, _ in ANNEX_COLUMNS])
    spans = [1] * len(ANNEX_COLUMNS)
    headers = [first_header] + [header for header, _, _ in ANNEX_COLUMNS[1:]]
    for cell, header in zip(
        _row(table, spans, header=True, fill=HEADER_FILL, center=True), headers, strict=True
    ):
        _first(cell, header, bold=True, center=True)
    _tag_row(table, f"{{%tr for ligne in annexe{number}.lignes %}}")
    cells = _row(table, spans)
    _first(cells[0], "{{ ligne.indicateur }}", bold=True)
    _more(cells[0], "{{ ligne.libelle_indicateur }}")
    for cell, (_, _, text) in zip(cells[1:], ANNEX_COLUMNS[1:], strict=True):
        _first(cell, text)
    _tag_row(table, "{%tr endfor %}")


# ---------------------------------------------------------------------------------------------
# The bordereau de signature (caqes_docs/workflows/bordereau.py fills it)
# ---------------------------------------------------------------------------------------------

BORDEREAU_TITLE = "BORDEREAU DE SIGNATURE"
BORDEREAU_FOOTER = "Bordereau de signature — {{ reference }} ({{ document }})"
BORDEREAU_INTRO = (
    "Ce bordereau atteste les signatures portées par le document ci-dessous, telles que "
    "l’{{ ars.nom_court }} les a vérifiées le {{ verifie_le }}. Il est scellé par la signature "
    "électronique de l’{{ ars.nom_court }}."
)
# (label, value) lines of the document's table.
BORDEREAU_FACTS: list[tuple[str, str]] = [
    ("Référence", "{{ reference }}"),
    ("Document", "{{ document }}"),
    ("Établissement", "{{ etablissement }} (FINESS juridique {{ finess_ej }})"),
    ("Fichier émis", "{{ fichier_emis }}, émis le {{ emis_le }}"),
    ("SHA-256 du fichier émis", "{{ sha256_emis }}"),
    ("Copie signée", "{{ fichier_signe }}"),
    ("SHA-256 de la copie signée", "{{ sha256_signe }}"),
    ("Résultat de la vérification", "{{ resultat }}"),
]
BORDEREAU_SIGNATURE_COLUMNS: list[tuple[int, str]] = [
    (1300, "Partie"),
    (4900, "Signataire et certificat"),
    (1800, "Date et horodatage"),
    (1638, "Vérification"),
]
# One line per reception: bordereau.py cuts each line to what this column holds.
BORDEREAU_EVENT_COLUMNS: list[tuple[int, str]] = [(1850, "Date"), (7788, "Réception")]
BORDEREAU_SEAL = "Scellé pour l’{{ ars.nom_court }}"
BORDEREAU_SIZE = 8  # the digests (64 characters) hold on one line of the table at this size


def _bordereau_cells(table: Table) -> None:
    """Every paragraph mark of ``table`` at the text's size: a line of the table is then as
    high as its 8 pt text, not the 9 pt of the table style (one page holds more rows)."""
    for paragraph in table._tbl.iter(qn("w:p")):
        p_pr = paragraph.get_or_add_pPr()
        r_pr = p_pr.find(qn("w:rPr"))
        if r_pr is None:
            r_pr = _el("w:rPr")
            p_pr.append(r_pr)
        r_pr.append(_el("w:sz", val=str(BORDEREAU_SIZE * 2)))


def _bordereau_heading(doc: DocxDocument, text: str) -> None:
    heading = doc.add_paragraph(text, style="CAQES Article")
    heading.paragraph_format.space_before = Pt(10)
    heading.paragraph_format.space_after = Pt(4)


def _bordereau_facts(doc: DocxDocument) -> None:
    table = _table(doc, [2600, PORTRAIT_WIDTH - 2600])
    for label, value in BORDEREAU_FACTS:
        name, text = _row(table, [1, 1])
        _first(name, label, bold=True, size=BORDEREAU_SIZE)
        _first(text, value, size=BORDEREAU_SIZE)
    _bordereau_cells(table)


def _bordereau_signatures(doc: DocxDocument) -> None:
    _bordereau_heading(doc, "Signatures")
    table = _table(doc, [width for width, _ in BORDEREAU_SIGNATURE_COLUMNS])
    headers = _row(table, [1] * len(BORDEREAU_SIGNATURE_COLUMNS), header=True, fill=HEADER_FILL)
    for cell, (_, header) in zip(headers, BORDEREAU_SIGNATURE_COLUMNS, strict=True):
        _first(cell, header, bold=True, size=BORDEREAU_SIZE)
    _tag_row(table, "{%tr for s in signatures %}")
    party_cell, signer, when, check = _row(table, [1, 1, 1, 1])
    _first(party_cell, "{{ s.partie }}", bold=True, size=BORDEREAU_SIZE)
    _first(signer, "{{ s.signataire }}", bold=True, size=BORDEREAU_SIZE)
    _more(signer, "Certificat : {{ s.sujet }}, émis par {{ s.emetteur }}", size=BORDEREAU_SIZE)
    _first(when, "{{ s.date_signature }}", size=BORDEREAU_SIZE)
    _more(when, "Horodatage : {{ s.horodatage }}", size=BORDEREAU_SIZE)
    _first(check, "{{ s.verification }}", size=BORDEREAU_SIZE)
    _more(check, "Révision {{ s.revision }}", size=BORDEREAU_SIZE)
    _tag_row(table, "{%tr endfor %}")
    _bordereau_cells(table)


def _bordereau_events(doc: DocxDocument) -> None:
    _bordereau_heading(doc, "Réceptions enregistrées au registre")
    table = _table(doc, [width for width, _ in BORDEREAU_EVENT_COLUMNS])
    headers = _row(table, [1, 1], header=True, fill=HEADER_FILL)
    for cell, (_, header) in zip(headers, BORDEREAU_EVENT_COLUMNS, strict=True):
        _first(cell, header, bold=True, size=BORDEREAU_SIZE)
    _tag_row(table, "{%tr for e in evenements %}")
    when, what = _row(table, [1, 1])
    _first(when, "{{ e.date }}", size=BORDEREAU_SIZE)
    _first(what, "{{ e.detail }}", size=BORDEREAU_SIZE)
    _tag_row(table, "{%tr endfor %}")
    _bordereau_cells(table)


def _bordereau_seal(doc: DocxDocument) -> None:
    """The ARS's column of the signature block only: the bordereau is sealed by the ARS."""
    seal = doc.add_paragraph(BORDEREAU_SEAL)
    seal.runs[0].bold = True
    seal.paragraph_format.space_before = Pt(10)
    seal.paragraph_format.keep_with_next = True
    table = _table(doc, [PORTRAIT_WIDTH // 3], border="BFBFBF")
    (cell,) = _row(table, [1])
    _anchor(cell, "/s3_ARS/", space_before=Pt(6))
    _anchor(cell, "/d3_ARS/", space_before=SIGNATURE_HEIGHT)


def build_bordereau() -> DocxDocument:
    """The proof of signature of a complete document, one page, sealed by the ARS."""
    doc = _new_document("Bordereau de signature", landscape=False, footer=BORDEREAU_FOOTER)
    doc.add_paragraph(BORDEREAU_TITLE, style="CAQES Titre")
    intro = doc.add_paragraph(BORDEREAU_INTRO)
    intro.paragraph_format.space_after = Pt(10)
    _bordereau_facts(doc)
    _bordereau_signatures(doc)
    _bordereau_events(doc)
    _bordereau_seal(doc)
    return doc


# ---------------------------------------------------------------------------------------------
# Writing and checking
# ---------------------------------------------------------------------------------------------

BUILDERS: dict[str, Callable[[], DocxDocument]] = {
    "templates/contrat.docx": build_contract,
    "annexes/annexe1.docx": lambda: build_annex(1),
    "annexes/annexe2.docx": lambda: build_annex(2),
    "templates/avenant.docx": build_amendment,
    "templates/resiliation.docx": build_termination,
    "templates/bordereau.docx": build_bordereau,
}


_STYLE_REFERENCES = ("w:pStyle", "w:rStyle", "w:tblStyle")
_STYLE_CHAIN = ("w:basedOn", "w:next", "w:link")


def _slim(doc: DocxDocument) -> None:
    """Keep only the styles the model uses, and drop Word 2010's copy of them.

    python-docx's blank document carries 790 KB of style definitions (every built-in table
    style, twice): every contract of a campaign would be written, compressed and read by
    LibreOffice with them, for nothing.
    """
    for key, rel in list(doc.part.rels.items()):
        if rel.reltype.endswith("/stylesWithEffects"):
            doc.part.rels.pop(key)
    styles = doc.styles.element
    parts = [doc.element, *(rel.target_part.element for rel in doc.part.rels.values()
                            if hasattr(rel.target_part, "element"))]  # fmt: skip
    used = {
        ref.get(qn("w:val"))
        for part in parts
        for tag in _STYLE_REFERENCES
        for ref in part.iter(qn(tag))
    }
    by_id = {style.get(qn("w:styleId")): style for style in styles.iter(qn("w:style"))}
    used |= {sid for sid, style in by_id.items() if style.get(qn("w:default")) == "1"}
    pending = list(used)
    while pending:
        style = by_id.get(pending.pop())
        for tag in _STYLE_CHAIN:
            link = style.find(qn(tag)) if style is not None else None
            if link is not None and link.get(qn("w:val")) not in used:
                used.add(link.get(qn("w:val")))
                pending.append(link.get(qn("w:val")))
    for sid, style in by_id.items():
        if sid not in used:
            styles.remove(style)
    latent = styles.find(qn("w:latentStyles"))
    if latent is not None:
        styles.remove(latent)


def build_all() -> dict[str, bytes]:
    """Relative path → .docx bytes of every model."""
    built: dict[str, bytes] = {}
    for relative, builder in BUILDERS.items():
        doc = builder()
        _slim(doc)
        buffer = io.BytesIO()
        doc.save(buffer)
        built[relative] = buffer.getvalue()
    return built


def docx_parts(data: bytes) -> dict[str, bytes]:
    """The parts of a .docx, XML parts canonicalised: zip timestamps do not matter."""
    parts: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in sorted(archive.namelist()):
            blob = archive.read(name)
            if name.endswith((".xml", ".rels")):
                blob = etree.tostring(etree.fromstring(blob), method="c14n")
            parts[name] = blob
    return parts


def check(root: Path = ROOT) -> list[str]:
    """The models under ``root`` that are missing or differ from what this script builds."""
    stale: list[str] = []
    for relative, data in build_all().items():
        path = root / relative
        try:
            committed = docx_parts(path.read_bytes())
        except (OSError, zipfile.BadZipFile):
            stale.append(relative)
            continue
        if committed != docx_parts(data):
            stale.append(relative)
    return stale


def write_all(root: Path = ROOT) -> list[Path]:
    """Write every model atomically; return their paths."""
    written: list[Path] = []
    for relative, data in build_all().items():
        path = root / relative
        write_bytes(path, data)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Construit les modèles DOCX du contrat CAQES.")
    parser.add_argument(
        "--check",
        action="store_true",
        help="ne rien écrire ; code de sortie 1 si les modèles versionnés ne sont pas à jour",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=ROOT,
        help="dossier contenant templates/ et annexes/ (par défaut : ce dépôt)",
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = check(args.root)
        for relative in stale:
            print(f"{relative} : pas à jour, lancer python tools/build_templates.py")
        return 1 if stale else 0
    for path in write_all(args.root):
        print(f"écrit : {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
