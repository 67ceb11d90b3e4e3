"""The exchange portal: a Django interface over the library, like :mod:`caqes_docs.cli`.

Officers follow the campaign (dashboard, contract pages, batch, ARS countersignature); each
party of each document reaches exactly its own document through an access link. Every
contract, signature and registry rule stays in the library; this package parses requests,
calls one library function and turns its errors into French.

Settings: :mod:`caqes_docs.web.settings` (local use, 127.0.0.1) and
:mod:`caqes_docs.web.production` (behind an HTTPS reverse proxy).
"""
