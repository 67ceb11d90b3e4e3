"""The whole round in a real browser: Debian's Chromium driven by Selenium, against the
portal served by ``caqes serve`` (gunicorn and the huey consumer) on 127.0.0.1.

An officer logs in, uploads the example targeting file, waits for the batch and opens a
contract; the establishment opens its link, downloads its PDF, uploads a copy signed with its
demo certificate and sees it recorded, then a tampered copy refused; the dashboard shows the
signature; the CPAM signs through its link and the officer countersigns from the portal.
Screenshots go to ``$CAQES_SCREENSHOTS`` (default: the test's temporary folder).
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.issued import IssuedRecord
from caqes_docs.registry.store import Registry
from caqes_docs.signatures.pki import create_demo_pki
from caqes_docs.signatures.signing import load_p12, sign_documents
from caqes_docs.workflows.demo import example_establishments

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "demo-portail"
OFFICER_PASSWORD = "mot-de-passe-de-l-agent"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="chromium et chromium-driver (Debian) sont nécessaires : tools/system-deps.sh",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _caqes(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "caqes_docs", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``caqes serve`` on a fresh data folder with a demo PKI and an officer."""
    data = tmp_path_factory.mktemp("portail")
    create_demo_pki(data / "pki", example_establishments(), PASSWORD)
    (data / "pki" / "mot-de-passe.txt").write_text(PASSWORD + "\n", encoding="utf-8")
    port = _free_port()
    env = {
        **os.environ,
        "CAQES_DATA_DIR": str(data),
        "CAQES_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CAQES_FINESS_EXTRACT": str(EXAMPLES / "finess-extrait.csv"),
        "CAQES_TASKS_IMMEDIATE": "",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    secret = data / "agent.txt"
    secret.write_text(OFFICER_PASSWORD + "\n", encoding="utf-8")
    _caqes("web", "createuser", "agent", "--contresignature", "--password-file", str(secret),
           "--data", str(data), env=env)  # fmt: skip
    log = open(data / "serve.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "caqes_docs", "serve", "--port", str(port), "--data", str(data)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, (data / "serve.log").read_text()
                assert time.monotonic() < deadline, "le portail ne démarre pas"
                time.sleep(0.3)
        yield url, data
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    downloads = tmp_path_factory.mktemp("telechargements")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--window-size=1280,1100", "--lang=fr-FR",
        f"--user-data-dir={tmp_path_factory.mktemp('profil-chromium')}",
    ):  # fmt: skip
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Chromium takes its interface language (file picker, date fields) from the environment.
    french = {**os.environ, "LANGUAGE": "fr", "LANG": "fr_FR.UTF-8"}
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER), env=french))
    driver.downloads = downloads  # type: ignore[attr-defined]
    try:
        yield driver
    finally:
        driver.quit()


def _screenshot(driver: webdriver.Chrome, name: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1280, max(900, min(int(height), 4000)))
    driver.save_screenshot(str(folder / f"{name}.png"))


def _downloaded(driver: webdriver.Chrome, suffix: str, timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in driver.downloads.iterdir() if p.name.endswith(suffix)]  # type: ignore[attr-defined]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"aucun téléchargement {suffix}")


def _log_in(driver: webdriver.Chrome, url: str, wait: WebDriverWait) -> None:
    driver.get(url + "/")
    driver.find_element(By.NAME, "username").send_keys("agent")
    driver.find_element(By.NAME, "password").send_keys(OFFICER_PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(lambda d: "Tableau de bord" in d.title)


def _no_policy_violation(driver: webdriver.Chrome) -> None:
    messages = [entry["message"] for entry in driver.get_log("browser")]
    assert not [m for m in messages if "Content Security Policy" in m], messages


def test_the_whole_round_in_a_browser(
    server: tuple[str, Path], browser: webdriver.Chrome, tmp_path: Path
) -> None:
    url, data = server
    shots = Path(os.environ.get("CAQES_SCREENSHOTS") or tmp_path / "captures")
    wait = WebDriverWait(browser, 30)

    # The officer logs in and runs the campaign from the example targeting file.
    _log_in(browser, url, wait)
    _no_policy_violation(browser)
    browser.get(url + "/campagne/")
    browser.find_element(By.NAME, "fichier").send_keys(
        str(EXAMPLES / "ciblage-nouvelle-aquitaine-2022.xlsx")
    )
    browser.find_element(By.CSS_SELECTOR, "#ciblage button[type=submit]").click()
    WebDriverWait(browser, 300, poll_frequency=1).until(
        lambda d: d.find_element(By.ID, "etat").get_attribute("data-etat") in ("terminé", "échec")
    )
    assert browser.find_element(By.ID, "etat").get_attribute("data-etat") == "terminé"
    assert "11 contrat(s) émis" in browser.page_source
    assert "la clé de contrôle" in browser.find_element(By.ID, "refus").text
    _screenshot(browser, "1-campagne-terminee", shots)

    # The dashboard lists them; the officer makes the links (CSV) and opens a contract.
    browser.get(url + "/")
    browser.find_element(By.XPATH, "//button[contains(., 'Créer les liens manquants')]").click()
    links = list(
        csv.DictReader(_downloaded(browser, ".csv").open(encoding="utf-8-sig"), delimiter=";")
    )
    assert len(links) == 33
    etab = links[0]
    assert etab["partie"] == "Établissement"
    browser.get(f"{url}/contrats/{etab['reference']}/")
    assert "NON VALIDE" not in browser.page_source and "lien créé" in browser.page_source
    _screenshot(browser, "2-contrat", shots)

    # On another contract, the officer corrects the establishment's address: a typo is refused
    # beside the field; the correction is an event (and the invitation goes, with a new link).
    browser.get(f"{url}/contrats/{links[-1]['reference']}/")
    field = browser.find_element(By.NAME, "etab")
    field.clear()
    field.send_keys("secretariat@chu-fictif")
    browser.find_element(By.CSS_SELECTOR, "#formulaire-contacts button[type=submit]").click()
    assert (
        "adresse électronique mal formée"
        in browser.find_element(By.ID, "contacts").find_element(By.XPATH, "following::form[1]").text
    )
    assert "(Optionnel)" in browser.page_source and "Optional" not in browser.page_source
    _screenshot(browser, "2b-adresse-refusee", shots)
    field = browser.find_element(By.NAME, "etab")
    field.clear()
    field.send_keys("secretariat@chu-fictif.fr")
    browser.find_element(By.CSS_SELECTOR, "#formulaire-contacts button[type=submit]").click()
    assert "1 adresse(s) changée(s) : Établissement → secretariat@chu-fictif.fr" in (
        browser.page_source
    )
    assert "secretariat@chu-fictif.fr, par agent" in browser.find_element(By.ID, "historique").text

    # The establishment opens its link, downloads, signs with its certificate, uploads.
    browser.delete_all_cookies()
    browser.get(etab["lien"])
    assert etab["reference"] in browser.find_element(By.TAG_NAME, "h1").text
    browser.find_element(By.ID, "telecharger").click()
    downloaded = _downloaded(browser, "-a-signer.pdf")
    _screenshot(browser, "3-page-partie", shots)
    with Registry.open(data / "caqes.db") as registry:
        document = next(d for d in registry.documents() if d.reference == etab["reference"])
        contract = registry.contract(etab["reference"])
        finess = contract.finess_ej
        establishment = contract.current_version.contract().establishment
    cpam_key = establishment.cpam or load_campaign().cpam_for(finess)[0]
    signed = tmp_path / "copie-signee.pdf"
    key = load_p12(data / "pki" / f"etab-{finess}.p12", PASSWORD.encode())
    [result] = sign_documents(
        [downloaded], "ETAB", key, output=signed,
        issued=IssuedRecord(document.issued_sha256, document.issued_size),
    )  # fmt: skip
    assert result.ok, result.error
    tampered = tmp_path / "copie-modifiee.pdf"
    raw = bytearray(signed.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    tampered.write_bytes(bytes(raw))

    browser.find_element(By.NAME, "fichier").send_keys(str(signed))
    browser.find_element(By.CSS_SELECTOR, "#depot button[type=submit]").click()
    verdict = wait.until(lambda d: d.find_element(By.ID, "resultat"))
    assert "Copie signée reçue et vérifiée" in verdict.text
    assert "Signature(s) enregistrée(s) : ETAB" in verdict.text
    _screenshot(browser, "4-depot-accepte", shots)

    # A tampered copy through the CPAM's link is refused, and says why.
    cpam = next(
        row for row in links if row["reference"] == etab["reference"] and row["partie"] == "CPAM"
    )
    browser.get(cpam["lien"])
    browser.find_element(By.NAME, "fichier").send_keys(str(tampered))
    browser.find_element(By.CSS_SELECTOR, "#depot button[type=submit]").click()
    refusal = wait.until(lambda d: d.find_element(By.ID, "resultat"))
    assert "Fichier refusé" in refusal.text
    _screenshot(browser, "5-depot-refuse", shots)
    _no_policy_violation(browser)

    # The officer's dashboard shows the establishment's signature, the CLI too.
    _log_in(browser, url, wait)
    row = browser.find_element(By.XPATH, f"//tr[td/a[text()='{etab['reference']}']]")
    cells = [cell.text.lower() for cell in row.find_elements(By.TAG_NAME, "td")]
    assert cells[3].startswith("signé") and cells[4] == "—"  # ETAB signed, CPAM not yet
    assert cells[6] == "cpam depuis 0 j"
    _screenshot(browser, "6-tableau-de-bord", shots)
    status = subprocess.run(
        [sys.executable, "-m", "caqes_docs", "status", "--csv", "--registry", data / "caqes.db"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    line = next(line for line in status.stdout.splitlines() if etab["reference"] in line)
    assert "CPAM" in line

    # The CPAM signs the copy its link offers; the officer countersigns from the portal.
    browser.delete_all_cookies()
    browser.get(cpam["lien"])
    browser.find_element(By.ID, "telecharger").click()
    for old in browser.downloads.iterdir():  # type: ignore[attr-defined]
        if old.name.endswith("-a-signer.pdf"):
            old.unlink()
    browser.find_element(By.ID, "telecharger").click()
    cpam_copy = tmp_path / "copie-cpam.pdf"
    [result] = sign_documents(
        [_downloaded(browser, "-a-signer.pdf")], "CPAM",
        load_p12(data / "pki" / f"cpam-{cpam_key}.p12", PASSWORD.encode()), output=cpam_copy,
        issued=IssuedRecord(document.issued_sha256, document.issued_size),
        trust_roots=[data / "pki" / "root-ca.pem"],
    )  # fmt: skip
    assert result.ok, result.error
    browser.find_element(By.NAME, "fichier").send_keys(str(cpam_copy))
    browser.find_element(By.CSS_SELECTOR, "#depot button[type=submit]").click()
    assert "CPAM ; en attente : ARS" in wait.until(lambda d: d.find_element(By.ID, "resultat")).text
    _log_in(browser, url, wait)
    browser.get(url + "/contresignature/")
    assert etab["reference"] in browser.find_element(By.ID, "contresigner").text
    _screenshot(browser, "7-contresignature", shots)
    browser.find_element(By.CSS_SELECTOR, "#contresigner button[type=submit]").click()
    WebDriverWait(browser, 120, poll_frequency=1).until(
        lambda d: d.find_element(By.ID, "etat").get_attribute("data-etat") in ("terminé", "échec")
    )
    assert "contresigné" in browser.find_element(By.ID, "resultats").text.lower()
    browser.get(url + "/?filtre=complet")
    assert etab["reference"] in browser.find_element(By.ID, "tableau").text
    _screenshot(browser, "8-tableau-complet", shots)
