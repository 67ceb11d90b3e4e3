"""The portal's own state: access links, refused uploads kept aside, background jobs.

Everything about contracts, documents and signatures stays in the registry; these rows only
point at registry documents by ID and reference.
"""

from __future__ import annotations

from django.db import models


class PartyLink(models.Model):
    """One party's access to one document.

    The token given out is ``<selector>.<secret>``; only the secret's SHA-256 is stored, and
    compared in constant time (:mod:`caqes_docs.web.links`).
    """

    selector = models.CharField(max_length=32, unique=True)
    secret_sha256 = models.CharField(max_length=64)
    reference = models.CharField(max_length=100)
    document_id = models.IntegerField()
    party = models.CharField(max_length=8)
    contact = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = (models.Index(fields=["document_id", "party"]),)


class RefusedUpload(models.Model):
    """A file a party uploaded and verification refused, kept aside under a generated name."""

    link = models.ForeignKey(PartyLink, null=True, on_delete=models.SET_NULL)
    reference = models.CharField(max_length=100)
    document_id = models.IntegerField()
    party = models.CharField(max_length=8)
    stored_name = models.CharField(max_length=64, blank=True)
    original_name = models.CharField(max_length=300)
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.BigIntegerField()
    reason = models.TextField()
    received_at = models.DateTimeField(auto_now_add=True)


class Job(models.Model):
    """A long piece of work run by the task queue, with its progress for the officer."""

    BATCH = "batch"
    COUNTERSIGN = "contresignature"
    KINDS = ((BATCH, "campagne"), (COUNTERSIGN, "contresignature ARS"))
    WAITING, RUNNING, DONE, FAILED = "en attente", "en cours", "terminé", "échec"

    kind = models.CharField(max_length=20, choices=KINDS)
    status = models.CharField(max_length=20, default=WAITING)
    label = models.CharField(max_length=300)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    total = models.IntegerField(default=0)
    done = models.IntegerField(default=0)
    input_name = models.CharField(max_length=64, blank=True)
    arguments = models.JSONField(default=dict)
    result = models.JSONField(default=dict)
    error = models.TextField(blank=True)

    class Meta:
        permissions = (("countersign", "Contresigner au nom de l'ARS"),)

    @property
    def percent(self) -> int:
        return 100 if self.status == self.DONE else int(100 * self.done / max(self.total, 1))

    @property
    def finished(self) -> bool:
        return self.status in (self.DONE, self.FAILED)
