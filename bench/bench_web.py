"""Page timings of the exchange portal under a small load, on 127.0.0.1 only.

Issues N contracts (default 20) with the real batch, signs each establishment's copy with a
demo PKI, starts ``caqes serve`` (gunicorn, 2 workers, and the huey consumer) on a free port,
then, with N concurrent clients and one bounded round each: opens the party page, downloads
the PDF, uploads the signed copy (verified and recorded), uploads a tampered copy (refused);
then an officer loads the dashboard and a contract page a few times. Prints median, 90th
percentile and maximum per step. The machine is shared: read the figures as orders of size.

    .venv/bin/python bench/bench_web.py [--contrats 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.cookiejar
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-portail"


class Session:
    """A browser-like client: cookies, CSRF token from the page's form."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> tuple[float, int, bytes]:
        start = time.perf_counter()
        with self.opener.open(self.base + path, timeout=120) as response:
            body = response.read()
            return time.perf_counter() - start, response.status, body

    def post(self, path: str, fields: dict[str, str], file: bytes | None = None):  # type: ignore[no-untyped-def]
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in fields.items():
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            parts.append(f"{head}{value}\r\n".encode())
        if file is not None:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="fichier"; '
                f'filename="copie.pdf"\r\nContent-Type: application/pdf\r\n\r\n'.encode()
                + file
                + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        request = urllib.request.Request(
            self.base + path,
            data=body,
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Referer": self.base + path,
            },
        )
        start = time.perf_counter()
        try:
            with self.opener.open(request, timeout=300) as response:
                return time.perf_counter() - start, response.status, response.read()
        except urllib.error.HTTPError as error:
            return time.perf_counter() - start, error.code, error.read()


def csrf(body: bytes) -> str:
    found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    assert found, "jeton CSRF absent de la page"
    return found.group(1).decode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare(data: Path, count: int, base: str) -> tuple[list[tuple[str, bytes, bytes]], str]:
    """Contracts, signed and tampered copies, links; returns (link, good, bad) per contract."""
    from caqes_docs.issued import IssuedRecord
    from caqes_docs.registry.store import Registry
    from caqes_docs.signatures.pki import create_demo_pki
    from caqes_docs.signatures.signing import load_p12, sign_documents
    from caqes_docs.workflows.batch import run_batch

    targeting = data / "ciblage.csv"
    subprocess.run(
        [sys.executable, ROOT / "bench" / "make_targeting.py", str(count), targeting], check=True
    )
    started = time.perf_counter()
    report = run_batch(targeting, data / "contrats", registry=data / "caqes.db")
    print(f"émission de {len(report.generated)} contrats : {time.perf_counter() - started:.1f} s")
    with Registry.open(data / "caqes.db") as registry:
        documents = registry.documents()
        contracts = {c.reference: c for c in registry.contracts()}
    pki = create_demo_pki(
        data / "pki",
        [(c.finess_ej, c.establishment) for c in contracts.values()],
        PASSWORD,
    )
    (data / "pki" / "mot-de-passe.txt").write_text(PASSWORD + "\n", encoding="utf-8")
    os.environ["CAQES_PUBLIC_URL"] = base
    from caqes_docs.web import bootstrap

    bootstrap.configure(data)
    bootstrap.prepare_database()
    officer = bootstrap.create_officer("bench", countersign=True)
    from caqes_docs.web import exchange, links

    with exchange.open_registry() as registry:
        made = {
            new.link.document_id: new.url
            for new in links.create_links(registry, None, "bench")
            if new.link.party == "ETAB"
        }
    work = data / "signes"
    work.mkdir()
    rounds = []
    for document in documents:
        key = load_p12(
            pki.establishments[contracts[document.reference].finess_ej], PASSWORD.encode()
        )
        signed = work / f"{document.reference}.pdf"
        [result] = sign_documents(
            [document.issued_path], "ETAB", key, output=signed,
            issued=IssuedRecord(document.issued_sha256, document.issued_size),
        )  # fmt: skip
        assert result.ok, result.error
        good = signed.read_bytes()
        bad = bytearray(good)
        bad[len(bad) // 2] ^= 1
        rounds.append((made[document.id], good, bytes(bad)))
    return rounds, officer


def party_round(base: str, link: str, good: bytes, bad: bytes) -> dict[str, float]:
    session = Session(base)
    path = urllib.parse.urlparse(link).path
    times = {}
    times["page de la partie"], _, body = session.get(path)
    times["téléchargement du PDF"], _, _ = session.get(path + "document.pdf")
    # Refused first: once the signed copy is recorded, the link no longer offers the form.
    times["dépôt refusé"], status, answer = session.post(
        path, {"csrfmiddlewaretoken": csrf(body)}, bad
    )
    assert status == 422, status
    times["dépôt accepté"], status, answer = session.post(
        path, {"csrfmiddlewaretoken": csrf(answer)}, good
    )
    assert status == 200 and "Copie signée reçue".encode() in answer, status
    return times


def report(name: str, values: list[float]) -> None:
    values = sorted(values)
    p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
    print(
        f"{name:<26} n={len(values):>3}  médiane {statistics.median(values) * 1000:7.0f} ms  "
        f"p90 {p90 * 1000:7.0f} ms  max {values[-1] * 1000:7.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contrats", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-portail-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    rounds, officer_password = prepare(data, args.contrats, base)
    env = {**os.environ, "CAQES_DATA_DIR": str(data)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "caqes_docs", "serve", "--port", str(port),
         "--workers", str(args.workers), "--data", str(data)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("le portail ne démarre pas") from None
                time.sleep(0.3)
        alone = Session(base)
        path = urllib.parse.urlparse(rounds[0][0]).path
        for _ in range(4 * args.workers):  # warm-up: first imports and templates per worker
            alone.get(path)
        report("page de la partie, seule", [alone.get(path)[0] for _ in range(5)])
        report("téléchargement, seul", [alone.get(path + "document.pdf")[0] for _ in range(5)])
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(len(rounds)) as pool:
            results = list(pool.map(lambda r: party_round(base, *r), rounds))
        wall = time.perf_counter() - started
        print(f"{len(rounds)} parties en parallèle, gunicorn {args.workers} processus : "
              f"{wall:.1f} s au total")  # fmt: skip
        for step in results[0]:
            report(step, [result[step] for result in results])
        officer = Session(base)
        _, _, body = officer.get("/connexion/")
        officer.post("/connexion/", {"csrfmiddlewaretoken": csrf(body), "username": "bench",
                                     "password": officer_password})  # fmt: skip
        dashboard = [officer.get("/")[0] for _ in range(5)]
        report("tableau de bord (agent)", dashboard)
        reference = re.search(rb'href="/contrats/([^/"]+)/"', officer.get("/")[2]).group(1)  # type: ignore[union-attr]
        page = [officer.get(f"/contrats/{reference.decode()}/")[0] for _ in range(5)]
        report("page d'un contrat (agent)", page)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(f"données : {data}")


if __name__ == "__main__":
    main()
