"""A Django mail backend that writes each message to a file of its own, for the demo and tests.

Django's file backend appends every message of a connection to one ``.log`` file named after
the second and the connection object's id: messages sent within one second by connections that
reuse an id land in the same file. An officer who opens the demo's mail folder expects one
message per file, which a mail reader opens: this backend (Django's documented extension point,
:class:`~django.core.mail.backends.base.BaseEmailBackend`) writes
``AAAAMMJJ-HHMMSS-<objet>-xxxxxx.eml`` files, named after their subject, atomically, in
``EMAIL_FILE_PATH``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.utils.text import slugify

from caqes_docs.files import write_bytes


class MessageFilesBackend(BaseEmailBackend):
    def __init__(self, file_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.folder = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        self.folder.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            # The subject says what the message is and about which contract.
            subject = slugify(message.subject)[:90].strip("-")
            name = f"{dt.datetime.now():%Y%m%d-%H%M%S}-{subject}-{uuid.uuid4().hex[:6]}.eml"
            write_bytes(self.folder / name, message.message().as_bytes(linesep="\n"))
        return len(email_messages)
