"""The portal's forms, with DSFR markup through django-dsfr."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from dsfr.forms import DsfrBaseForm

from caqes_docs.inputs.models import check_email
from caqes_docs.registry.amendments import VOLET_LABELS

TARGETING_SUFFIXES = (".xlsx", ".xls", ".ods", ".csv")


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.0f} Mo"


class SignedCopyForm(DsfrBaseForm):
    fichier = forms.FileField(
        label="Copie signée (PDF)",
        help_text="Le PDF téléchargé sur cette page, une fois signé avec votre certificat.",
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"}),
    )

    def clean_fichier(self):  # type: ignore[no-untyped-def]
        upload = self.cleaned_data["fichier"]
        if upload.size > settings.CAQES_UPLOAD_MAX_BYTES:
            raise forms.ValidationError(
                f"fichier trop volumineux ({_megabytes(upload.size)}, au plus "
                f"{_megabytes(settings.CAQES_UPLOAD_MAX_BYTES)})"
            )
        return upload


class TargetingForm(DsfrBaseForm):
    fichier = forms.FileField(
        label="Fichier de ciblage",
        help_text="Classeur XLSX, XLS ou ODS, ou CSV séparé par « ; » (voir le README).",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(TARGETING_SUFFIXES)}),
    )

    def clean_fichier(self):  # type: ignore[no-untyped-def]
        upload = self.cleaned_data["fichier"]
        suffix = Path(upload.name or "").suffix.lower()
        if suffix not in TARGETING_SUFFIXES:
            raise forms.ValidationError(
                f"type de fichier non pris en charge (« {suffix or 'sans extension'} ») : "
                f"attendu {', '.join(TARGETING_SUFFIXES)}"
            )
        if upload.size > settings.CAQES_UPLOAD_MAX_BYTES:
            raise forms.ValidationError(f"fichier trop volumineux ({_megabytes(upload.size)})")
        return upload


class LoginForm(DsfrBaseForm, AuthenticationForm):
    """Django's login form in DSFR markup."""


class TerminationForm(DsfrBaseForm):
    volet = forms.TypedChoiceField(
        label="Volet à résilier",
        choices=[(number, f"Volet {number} — {label}") for number, label in VOLET_LABELS.items()],
        coerce=int,
    )
    date_signature = forms.DateField(
        label="Date de signature prévue",
        help_text="Elle fixe la date d'effet : le 31 décembre de son année (article 11).",
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class AmendmentForm(DsfrBaseForm):
    modifications = forms.FileField(
        label="Fichier des modifications (YAML)",
        help_text="Comme pour caqes amend : voir examples/avenants/avenant-exemple.yaml.",
        widget=forms.ClearableFileInput(attrs={"accept": ".yaml,.yml"}),
    )
    date_signature = forms.DateField(
        label="Date de signature prévue",
        help_text="Elle fixe la date d'effet : le 1er janvier suivant (article 10).",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean_modifications(self):  # type: ignore[no-untyped-def]
        upload = self.cleaned_data["modifications"]
        if Path(upload.name or "").suffix.lower() not in (".yaml", ".yml"):
            raise forms.ValidationError("fichier YAML attendu (.yaml ou .yml)")
        if upload.size > 1024 * 1024:
            raise forms.ValidationError("fichier de modifications trop volumineux (1 Mo au plus)")
        return upload


class ContactsForm(DsfrBaseForm):
    """The parties' e-mail addresses of one contract (blank: none), by role."""

    etab = forms.CharField(label="Établissement", required=False, max_length=254)
    cpam = forms.CharField(label="CPAM", required=False, max_length=254)
    ars = forms.CharField(
        label="ARS",
        required=False,
        max_length=254,
        help_text="Sans effet quand les réglages du portail nomment les agents destinataires.",
    )

    def clean(self):  # type: ignore[no-untyped-def]
        cleaned = super().clean()
        for name in ("etab", "cpam", "ars"):
            try:
                cleaned[name] = check_email(cleaned.get(name))
            except ValueError as exc:
                self.add_error(name, str(exc))
        return cleaned

    def addresses(self) -> dict[str, str | None]:
        """Role → address, once the form is valid."""
        return {name.upper(): self.cleaned_data[name] for name in ("etab", "cpam", "ars")}
