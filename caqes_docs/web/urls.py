from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from caqes_docs.web import views
from caqes_docs.web.forms import LoginForm

portal = [
    path("", views.dashboard, name="tableau"),
    path(
        "connexion/",
        auth_views.LoginView.as_view(
            template_name="portail/connexion.html",
            authentication_form=LoginForm,
            redirect_authenticated_user=True,
        ),
        name="connexion",
    ),
    path("deconnexion/", auth_views.LogoutView.as_view(), name="deconnexion"),
    path("contrats/<str:reference>/", views.contract, name="contrat"),
    path("contrats/<str:reference>/contacts/", views.change_contacts, name="contacts"),
    re_path(
        r"^contrats/(?P<reference>[^/]+)/(?P<kind>avenant|resiliation)/$",
        views.new_document,
        name="nouveau-document",
    ),
    path("documents/<int:document_id>/<str:which>.pdf", views.document_file, name="document"),
    path("refus/<int:refused_id>.pdf", views.refused_file, name="refus"),
    path("liens/", views.create_links, name="liens"),
    path("liens/<int:link_id>/revoquer/", views.revoke_link, name="revoquer"),
    path("campagne/", views.campaign, name="campagne"),
    path("taches/<int:job_id>/", views.job, name="tache"),
    path("contresignature/", views.countersign, name="contresignature"),
    path("lien/<str:token>/", views.party_page, name="partie"),
    path(
        "lien/<str:token>/document.pdf",
        views.party_file,
        {"which": "document"},
        name="partie-document",
    ),
    path(
        "lien/<str:token>/bordereau.pdf",
        views.party_file,
        {"which": "bordereau"},
        name="partie-bordereau",
    ),
]

urlpatterns = [path("", include((portal, "portail"), namespace="portail"))]
