"""The portal's pages. Each parses the request, calls one function of
:mod:`caqes_docs.web.exchange`, :mod:`caqes_docs.web.links` or the task queue, and answers in
French; a library error becomes its French message, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from caqes_docs.errors import CaqesError, RegistryError
from caqes_docs.files import csv_text, local_time
from caqes_docs.parties import ROLES, party
from caqes_docs.registry.contacts import contacts, set_contacts
from caqes_docs.registry.lifecycle import amend, terminate
from caqes_docs.registry.store import DocumentRecord
from caqes_docs.web import exchange, links, mail
from caqes_docs.web.forms import (
    AmendmentForm,
    ContactsForm,
    SignedCopyForm,
    TargetingForm,
    TerminationForm,
)
from caqes_docs.web.models import Job, PartyLink, RefusedUpload
from caqes_docs.web.tasks import batch_task, countersign_task

PARTY_NAMES = {role: party(role).name for role in ROLES}


def _officer(request: HttpRequest) -> str:
    return request.user.get_username()


def _pdf(path: Path, download_name: str) -> FileResponse:
    """A PDF as an attachment, never rendered inline as anything else."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - FileResponse closes it
    except OSError:
        raise Http404("fichier introuvable") from None
    response = FileResponse(
        handle, as_attachment=True, filename=download_name, content_type="application/pdf"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


def _csv(name: str, header: list[str], rows: list[list[Any]]) -> HttpResponse:
    """The toolkit's CSV (``files.csv_text``: BOM, ``;``, French dates, formulas neutralised)."""
    response = HttpResponse(
        csv_text(header, rows).encode("utf-8"), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


def _xlsx(name: str, header: list[str], rows: list[list[Any]]) -> HttpResponse:
    """An Excel workbook of one sheet; text stays text, never a formula."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append([value.replace(tzinfo=None) if isinstance(value, dt.datetime) else value
                      for value in row])  # fmt: skip
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"
            elif isinstance(cell.value, dt.datetime):
                cell.number_format = "DD/MM/YYYY HH:MM"
    buffer = io.BytesIO()
    book.save(buffer)
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


def _moment(iso: str | None) -> dt.datetime | None:
    """A registry time (ISO 8601 text) for the CSV writer, which writes it JJ/MM/AAAA HH:MM."""
    return local_time(iso) if iso else None


def _library_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A library error becomes a French page (status 400), not a server error."""

    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except CaqesError as exc:
            return render(request, "portail/erreur.html", {"message": str(exc)}, status=400)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


# --- officers: dashboard and contracts ------------------------------------------------------------


@never_cache
@require_GET
@login_required
@_library_errors
def dashboard(request: HttpRequest) -> HttpResponse:
    selected = request.GET.get("filtre") or None
    if selected not in (None, *exchange.FILTERS):
        selected = None
    rows = exchange.dashboard(selected)
    export = request.GET.get("format")
    if export in ("csv", "xlsx"):
        header = ["reference", "etablissement", "document", "statut", *ROLES, "en_attente_de",
                  "depuis_jours", "depots_refuses", "dernier_evenement",
                  "date_dernier_evenement", "derniere_relance", "courriel_non_remis"]  # fmt: skip
        table = [
            [item.row.reference, item.row.establishment, item.row.document, item.row.status,
             *(_moment(item.row.signed[role]) for role in ROLES), item.row.waiting_for or "",
             "" if item.waiting_days is None else item.waiting_days, item.refused_uploads,
             item.row.last_event, _moment(item.row.last_event_time),
             _moment(item.last_reminder.isoformat() if item.last_reminder else None),
             item.mail_problem or ""]
            for item in rows
        ]  # fmt: skip
        if export == "xlsx":
            return _xlsx("tableau-de-bord.xlsx", header, table)
        return _csv("tableau-de-bord.csv", header, table)
    return render(
        request,
        "portail/tableau.html",
        {
            "rows": rows,
            "filters": exchange.FILTERS,
            "selected": selected,
            "roles": ROLES,
            "party_names": PARTY_NAMES,
        },
    )


@never_cache
@require_GET
@login_required
@_library_errors
def contract(request: HttpRequest, reference: str) -> HttpResponse:
    return _contract_page(request, reference, None)


def _contract_page(
    request: HttpRequest, reference: str, contacts_form: ContactsForm | None, status: int = 200
) -> HttpResponse:
    with exchange.open_registry() as registry:
        try:
            record = registry.contract(reference)
        except CaqesError:
            raise Http404("contrat inconnu") from None
        current = contacts(registry, record)
        documents = []
        for document in registry.documents(record.id):
            documents.append(
                {
                    "record": document,
                    "signed_count": len(registry.signatures(document.id)),
                    "report": _report_or_error(registry, document),
                    "links": PartyLink.objects.filter(document_id=document.id).order_by(
                        "-created_at"
                    ),
                    "refused": RefusedUpload.objects.filter(document_id=document.id).order_by(
                        "-received_at"
                    ),
                }
            )
        events = registry.events(contract_id=record.id)
    return render(
        request,
        "portail/contrat.html",
        {
            "contract": record,
            "documents": documents,
            "events": list(reversed(events)),
            "party_names": PARTY_NAMES,
            "termination_form": TerminationForm(),
            "amendment_form": AmendmentForm(),
            "contacts": current,
            "contacts_form": contacts_form
            or ContactsForm(initial={item.role.lower(): item.email for item in current}),
            "mail_ars": settings.CAQES_MAIL_ARS,
        },
        status=status,
    )


@require_POST
@login_required
@_library_errors
def change_contacts(request: HttpRequest, reference: str) -> HttpResponse:
    """The parties' addresses of a contract; each change an event, then what became due goes."""
    form = ContactsForm(request.POST)
    if not form.is_valid():
        return _contract_page(request, reference, form, status=400)
    with exchange.open_registry() as registry:
        try:
            made = set_contacts(registry, reference, form.addresses(), _officer(request))
        except RegistryError:
            raise Http404("contrat inconnu") from None
        documents = [
            document.id for document in registry.documents(registry.contract(reference).id)
        ]
    if made:
        run = mail.notify(documents, bordereaux=False)  # what waited for an address goes now
        sent = run.count(mail.SENT) if run else 0
        messages.success(
            request,
            f"{len(made)} adresse(s) changée(s) : "
            + ", ".join(
                f"{PARTY_NAMES[change.party]} → {change.email or 'aucune'}" for change in made
            )
            + (f" ; {sent} courriel(s) envoyé(s) aussitôt (voir l'historique)." if sent else "."),
        )
    else:
        messages.info(request, "Aucune adresse changée.")
    return HttpResponseRedirect(reverse("portail:contrat", args=[reference]) + "#contacts")


def _report_or_error(registry: Any, document: DocumentRecord) -> Any:
    try:
        return exchange.verification_report(registry, document)
    except CaqesError as exc:
        return str(exc)


# A document's files an officer downloads, and what they are.
DOCUMENT_FILES = {
    "emis": "PDF émis",
    "signe": "copie signée",
    "bordereau": "bordereau de signature",
}


@require_GET
@login_required
@_library_errors
def document_file(request: HttpRequest, document_id: int, which: str) -> HttpResponse:
    if which not in DOCUMENT_FILES:
        raise Http404("fichier inconnu")
    what = DOCUMENT_FILES[which]
    with exchange.open_registry() as registry:
        document = exchange.document_by_id(registry, document_id)
        if document is None:
            raise Http404("document inconnu")
        path = {
            "emis": document.issued_path,
            "signe": document.signed_path,
            "bordereau": document.bordereau_path if document.bordereau_path.is_file() else None,
        }[which]
        if path is None:
            raise Http404(f"pas encore de {what}")
        exchange.record_event(
            registry,
            "téléchargement",
            f"{document.label} ({what}) téléchargé par {_officer(request)}",
            document.contract_id,
            document.id,
        )
    # The names of the registry's files (X.pdf, X.signe.pdf, X.bordereau.pdf): downloaded into
    # one folder, ``caqes verify --bordereau`` finds the copy a bordereau describes.
    return _pdf(path, path.name)


@require_GET
@login_required
def refused_file(request: HttpRequest, refused_id: int) -> HttpResponse:
    refused = get_object_or_404(RefusedUpload, id=refused_id)
    if not refused.stored_name:
        raise Http404("fichier non conservé")
    return _pdf(exchange.files_dir("refus") / refused.stored_name, f"refus-{refused.id}.pdf")


@require_POST
@login_required
def new_document(request: HttpRequest, reference: str, kind: str) -> HttpResponse:
    """An avenant (changes file) or a résiliation (volet), issued as ``caqes amend`` and
    ``caqes terminate`` do; the library refuses what the contract's state does not allow."""
    back = HttpResponseRedirect(reverse("portail:contrat", args=[reference]))
    form_class = AmendmentForm if kind == "avenant" else TerminationForm
    form = form_class(request.POST, request.FILES)
    if not form.is_valid():
        problems = "; ".join(error for errors in form.errors.values() for error in errors)
        messages.error(request, f"Document non émis : {problems}")
        return back
    date = form.cleaned_data["date_signature"]
    try:
        with exchange.open_registry() as registry:
            registry.contract(reference)  # unknown reference: 404 below, nothing written
            if kind == "avenant":
                upload = form.cleaned_data["modifications"]
                changes = exchange.files_dir("avenants") / exchange.generated_name(".yaml")
                changes.write_bytes(upload.read())
                issued = amend(registry, reference, changes, date)
            else:
                issued = terminate(registry, reference, form.cleaned_data["volet"], date)
            exchange.record_event(
                registry,
                "émission portail",
                f"{issued.document.label} émis depuis le portail par {_officer(request)}",
                issued.document.contract_id,
                issued.document.id,
            )
    except CaqesError as exc:
        if "inconnu du registre" in str(exc):
            raise Http404("contrat inconnu") from None
        messages.error(request, f"Document non émis : {exc}")
        return back
    messages.success(
        request,
        f"{issued.document.label.capitalize()} émis, date d'effet le "
        f"{issued.effective_date:%d/%m/%Y} ; créez les liens des parties pour le faire signer.",
    )
    return back


# --- officers: links ----------------------------------------------------------------------------


@require_POST
@login_required
@_library_errors
def create_links(request: HttpRequest) -> HttpResponse:
    """New links, returned once as a CSV (contact, party, reference, document, link)."""
    reference = request.POST.get("reference") or None
    with exchange.open_registry() as registry:
        made = links.create_links(
            registry,
            [reference] if reference else None,
            _officer(request),
            renew=request.POST.get("renouveler") == "1",
        )
        documents = {doc.id: doc for doc in registry.documents()}
        for new in made:
            document = documents[new.link.document_id]
            exchange.record_event(
                registry,
                "lien créé",
                f"lien d'accès {PARTY_NAMES[new.link.party]} créé par {_officer(request)}, "
                f"valable jusqu'au {timezone.localtime(new.link.expires_at):%d/%m/%Y}",
                document.contract_id,
                document.id,
            )
    return _csv(
        "liens-signature.csv",
        ["contact", "partie", "reference", "document", "lien", "expire_le"],
        [
            [new.link.contact, PARTY_NAMES[new.link.party], new.link.reference,
             documents[new.link.document_id].label, new.url,
             f"{timezone.localtime(new.link.expires_at):%d/%m/%Y}"]
            for new in made
        ],
    )  # fmt: skip


@require_POST
@login_required
def revoke_link(request: HttpRequest, link_id: int) -> HttpResponse:
    link = links.revoke(link_id)
    if link is None:
        raise Http404("lien inconnu ou déjà révoqué")
    with exchange.open_registry() as registry:
        document = exchange.document_by_id(registry, link.document_id)
        exchange.record_event(
            registry,
            "lien révoqué",
            f"lien d'accès {PARTY_NAMES[link.party]} révoqué par {_officer(request)}",
            document.contract_id if document else None,
            link.document_id if document else None,
        )
    messages.success(request, f"Lien {PARTY_NAMES[link.party]} révoqué.")
    return HttpResponseRedirect(reverse("portail:contrat", args=[link.reference]))


# --- officers: campaign batch and countersignature --------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def campaign(request: HttpRequest) -> HttpResponse:
    form = TargetingForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["fichier"]
        stored = exchange.generated_name(Path(upload.name).suffix.lower())
        with open(exchange.files_dir("ciblages") / stored, "xb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        job = Job.objects.create(
            kind=Job.BATCH,
            label=f"Campagne depuis « {Path(upload.name).name[:200]} »",
            created_by=_officer(request),
            input_name=stored,
        )
        batch_task(job.id)
        return HttpResponseRedirect(reverse("portail:tache", args=[job.id]))
    jobs = Job.objects.order_by("-created_at")[:10]
    return render(request, "portail/campagne.html", {"form": form, "jobs": jobs})


@require_GET
@login_required
def job(request: HttpRequest, job_id: int) -> HttpResponse:
    return render(request, "portail/tache.html", {"job": get_object_or_404(Job, id=job_id)})


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("portail.countersign", raise_exception=True)
@_library_errors
def countersign(request: HttpRequest) -> HttpResponse:
    # A document already in a countersignature under way is not offered twice.
    busy = {
        document
        for job in Job.objects.filter(kind=Job.COUNTERSIGN, status__in=(Job.WAITING, Job.RUNNING))
        for document in job.arguments.get("documents", [])
    }
    if request.method == "POST":
        ids = [
            int(value)
            for value in request.POST.getlist("document")
            if value.isdigit() and int(value) not in busy
        ]
        if not ids:
            messages.error(request, "Cochez au moins un document.")
            return HttpResponseRedirect(reverse("portail:contresignature"))
        job = Job.objects.create(
            kind=Job.COUNTERSIGN,
            label=f"Contresignature ARS de {len(ids)} document(s)",
            created_by=_officer(request),
            arguments={"documents": ids},
        )
        countersign_task(job.id)
        return HttpResponseRedirect(reverse("portail:tache", args=[job.id]))
    rows = exchange.dashboard("ARS")
    return render(
        request,
        "portail/contresignature.html",
        {
            "rows": [item for item in rows if item.document_id not in busy],
            "busy": [item for item in rows if item.document_id in busy],
        },
    )


# --- parties -----------------------------------------------------------------------------------


def _party_link(request: HttpRequest, token: str) -> PartyLink:
    """The link of ``token``, or 404; too many wrong tokens from one address: 429."""
    if links.blocked(request):
        raise _TooManyAttempts
    link = links.find_link(token)
    if link is None:
        links.count_failure(request)
        raise Http404("lien inconnu ou expiré")
    return link


class _TooManyAttempts(Exception):
    pass


def _guarded(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    def wrapper(request: HttpRequest, token: str, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, token, *args, **kwargs)
        except _TooManyAttempts:
            return render(request, "portail/bloque.html", status=429)

    wrapper.__name__ = view.__name__
    return wrapper


@never_cache
@require_http_methods(["GET", "POST"])
@_guarded
@_library_errors
def party_page(request: HttpRequest, token: str) -> HttpResponse:
    link = _party_link(request, token)
    result = None
    form = SignedCopyForm()
    if request.method == "POST":
        result, form = _upload(request, link)
        mail.after_upload(link.document_id)  # receipt or refusal, next invitation; never raises
    with exchange.open_registry() as registry:
        document = exchange.document_by_id(registry, link.document_id)
        if document is None:
            raise Http404("document remplacé")
        if request.method == "GET":
            exchange.record_event(
                registry,
                "ouverture du lien",
                f"lien {PARTY_NAMES[link.party]} ouvert ({links.client_address(request)})",
                document.contract_id,
                document.id,
            )
        signatures = registry.signatures(document.id)
        awaited = exchange.awaited_party(registry, document)
    status = 200 if result is None or result.accepted else 422
    return render(
        request,
        "portail/partie.html",
        {
            "link": link,
            "token": token,
            "document": document,
            "party_name": PARTY_NAMES[link.party],
            "party_names": PARTY_NAMES,
            "signatures": signatures,
            "own_signature": next((s for s in signatures if s.party == link.party), None),
            "awaited": awaited,
            "awaited_name": PARTY_NAMES.get(awaited or "", ""),
            "form": form,
            "result": result,
            "max_mb": settings.CAQES_UPLOAD_MAX_BYTES // (1024 * 1024),
        },
        status=status,
    )


def _upload(request: HttpRequest, link: PartyLink) -> tuple[Any, SignedCopyForm]:
    form = SignedCopyForm(request.POST, request.FILES)
    if not form.is_valid():
        upload = request.FILES.get("fichier")
        reason = "; ".join(error for errors in form.errors.values() for error in errors)
        exchange.refuse_without_file(
            link, upload.name if upload else "", upload.size if upload else 0, reason
        )
        return exchange.UploadResult(False, reason), form
    return exchange.receive_upload(link, form.cleaned_data["fichier"]), SignedCopyForm()


@require_GET
@_guarded
@_library_errors
def party_file(request: HttpRequest, token: str, which: str) -> HttpResponse:
    """The link's document (the copy to sign next, or the final one) or, once complete, its
    bordereau de signature, as the completion mail carries it."""
    link = _party_link(request, token)
    with exchange.open_registry() as registry:
        document = exchange.document_by_id(registry, link.document_id)
        if document is None:
            raise Http404("document remplacé")
        if which == "bordereau":
            path, what = document.bordereau_path, f"bordereau de signature ({document.label})"
            if not path.is_file():
                raise Http404("pas de bordereau de signature")
        else:
            path, what = exchange.latest_copy(document), document.label
        complete = exchange.awaited_party(registry, document) is None
        exchange.record_event(
            registry,
            "téléchargement",
            f"{what} téléchargé par le lien {PARTY_NAMES[link.party]} "
            f"({links.client_address(request)})",
            document.contract_id,
            document.id,
        )
    # Complete: the registry's names (X.signe.pdf, X.bordereau.pdf), so that the bordereau
    # finds its copy beside it; to sign: the name the party page's command line uses.
    if complete:
        return _pdf(path, path.name)
    return _pdf(path, f"{document.reference}-{document.number}-a-signer.pdf")
