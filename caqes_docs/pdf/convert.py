"""DOCX → PDF/A-2b with LibreOffice: a small pool of soffice processes that streams results.

Each worker owns one LibreOffice profile (kept for the pool's lifetime, so it is built once)
and converts a whole LIST of documents per soffice invocation, so start-up (about a second)
is paid rarely. Results are yielded as each document finishes, so that a caller can
post-process document k while soffice converts k+1.

How soffice behaves (LibreOffice 7.4, checked with strace and by reading its output):

- it converts its list in order, one document at a time;
- for a document it has loaded it prints ``convert <in> -> <out> using filter : …`` *before*
  exporting; for one it cannot load it prints ``Error: source file could not be loaded`` (no
  name) and goes on; stdout is flushed per line and stderr is unbuffered, so one merged pipe
  keeps the true order of these events;
- to store a document it creates the lock file ``.~lock.<stem>.pdf#`` in the output folder,
  exports into a ``lu*.tmp`` file there, *copies* that file into ``<stem>.pdf`` in 32 KiB
  chunks, deletes the ``lu*.tmp`` file and last deletes the lock file. The PDF thus exists
  before it is complete; it is complete once the next document's event arrives, the process
  exits, or the PDF exists while neither the lock file nor a ``lu*.tmp`` file does (polled,
  so that a document is delivered without waiting for the next one to load, and so that a
  hang while loading document k+1 is not blamed on document k).

So each invocation converts into a private temporary folder, documents are staged there under
safe unique names (symbolic links), and a finished PDF is moved into place atomically.

Starting soffice takes about a second per process, paid before its first document. A caller
that knows documents are coming (``caqes batch`` while it imports, reads and renders) calls
:meth:`SofficePool.start`: each worker's soffice is started at once, with no document, on the
worker's profile. LibreOffice keeps one process per profile: once the running one listens on
LibreOffice's own pipe (waited for), a later ``soffice --convert-to`` on the same profile hands
its documents to it and waits until they are converted. The events (``convert …``,
``Error: …``) are then printed by the started process, so both outputs are followed. Only the
first invocation of a worker uses its started soffice; it is stopped after that invocation
like any other.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue

from caqes_docs.errors import ConversionError
from caqes_docs.files import atomic_path, system_reason

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "INSTALL_COMMAND",
    "ConversionResult",
    "ConversionTask",
    "CoreRotation",
    "SofficePool",
    "convert_many",
    "started_pool",
    "tasks_into",
]

logger = logging.getLogger(__name__)

INSTALL_COMMAND = (
    "apt-get install -y --no-install-recommends libreoffice-writer-nogui "
    "fonts-liberation fonts-crosextra-carlito fonts-crosextra-caladea"
)
PDFA2_EXPORT = 'pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"}}'
# Without an explicit import filter soffice imports any unreadable file as plain text and
# "succeeds" with a PDF full of garbage.
DOCX_IMPORT_FILTER = "MS Word 2007 XML"
DEFAULT_TIMEOUT_S = 60.0
# After this many invocations in a row that finished no document (two documents in a row that
# each hung twice), soffice itself is taken as broken: the worker's remaining documents fail at
# once instead of each waiting out its time limit twice.
MAX_FRUITLESS_INVOCATIONS = 4
# soffice (LibreOffice 7.4) reads only the first 254 arguments of its command line and
# silently ignores the others (241 of 300 documents converted, exit status 0): a worker
# gives each invocation at most this many documents.
DOCUMENTS_PER_INVOCATION = 200

_CONVERT_LINE = re.compile(r"^convert .*/(\d+)\.docx -> ")
_LOAD_ERROR = "Error: source file could not be loaded"
_POLL_S = 0.2
_LISTEN_POLL_S = 0.05


@dataclass(frozen=True)
class ConversionTask:
    """One document to convert: the DOCX and where its PDF goes.

    A ``durable`` PDF is flushed to disk before it appears at ``target``; a caller that only
    reads the PDF back and deletes it (the signable PDF's parts) skips that cost.
    """

    source: Path
    target: Path
    durable: bool = True


@dataclass(frozen=True)
class ConversionResult:
    """The outcome of one task; ``error`` is a French reason when it failed."""

    task: ConversionTask
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def source(self) -> Path:
        return self.task.source

    @property
    def pdf(self) -> Path | None:
        return self.task.target if self.ok else None

    def message(self) -> str:
        """One line naming the document, for reports."""
        return f"{self.task.source.name} : {self.error or 'converti'}"


def tasks_into(sources: Iterable[Path], out_dir: Path) -> list[ConversionTask]:
    """Tasks writing ``<out_dir>/<stem>.pdf``; two sources with the same stem are refused."""
    tasks: dict[str, ConversionTask] = {}
    for source in map(Path, sources):
        name = f"{source.stem}.pdf"
        if name in tasks:
            raise ConversionError(
                f"{source} : même nom de sortie « {name} » que {tasks[name].source}"
            )
        tasks[name] = ConversionTask(source, Path(out_dir) / name)
    return list(tasks.values())


def _docx_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a DOCX, checked cheaply before soffice sees it."""
    if not path.is_file():
        return "fichier introuvable"
    try:
        with zipfile.ZipFile(path) as archive:
            archive.getinfo("word/document.xml")
    except KeyError:
        return "document Word (.docx) invalide : word/document.xml absent"
    except OSError as exc:
        return f"document Word (.docx) illisible ({system_reason(exc)})"
    except zipfile.BadZipFile:
        return "document Word (.docx) illisible (ce n'est pas une archive .docx valide)"
    return None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _place_atomically(produced: Path, target: Path, durable: bool) -> None:
    """Move a finished file to ``target`` so that readers see all of it or nothing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if durable:
        _fsync(produced)
    try:
        os.replace(produced, target)
    except OSError:  # another file system: copy beside the target, then rename
        with atomic_path(target) as tmp:
            shutil.copyfile(produced, tmp)


def _looks_complete(pdf: Path) -> bool:
    try:
        with pdf.open("rb") as handle:
            head = handle.read(5)
            handle.seek(max(0, pdf.stat().st_size - 1024))
            tail = handle.read()
    except OSError:
        return False
    return head == b"%PDF-" and b"%%EOF" in tail


@dataclass
class _Slot:
    """A task inside one soffice invocation."""

    task: ConversionTask
    output: Path
    loaded: bool = False
    errors: list[str] = field(default_factory=list)


@dataclass
class _Outcome:
    """What one invocation did: how many tasks from the front it settled, and why it stopped."""

    settled: int
    interrupted: str | None = None  # reason the first unsettled task was cut short


class _Invocation:
    """One soffice process converting a list of tasks in order."""

    def __init__(
        self,
        command: list[str],
        tasks: Sequence[ConversionTask],
        run_dir: Path,
        timeout: float,
        emit: Callable[[ConversionResult], None],
        stop: threading.Event,
    ) -> None:
        self._timeout = timeout
        self._emit = emit
        self._stop = stop
        in_dir, out_dir = run_dir / "in", run_dir / "out"
        in_dir.mkdir()
        out_dir.mkdir()
        self._slots: list[_Slot] = []
        staged: list[str] = []
        for index, task in enumerate(tasks):
            link = in_dir / f"{index:05d}.docx"
            link.symlink_to(task.source.resolve())
            staged.append(str(link))
            self._slots.append(_Slot(task, out_dir / f"{index:05d}.pdf"))
        self._command = [*command, "--outdir", str(out_dir), *staged]
        self._current = 0
        self._clock = time.monotonic()

    def run(self, standby: subprocess.Popen[bytes] | None = None) -> _Outcome:
        """Convert the tasks; ``standby``, a soffice already running on the same profile,
        receives them from this invocation's soffice and converts them (see the module)."""
        proc = _spawn(self._command)
        outputs = [proc] if standby is None else [proc, standby]
        try:
            reason = self._follow(proc, outputs)
        finally:
            for process in outputs:
                _kill(process)
        if reason is None:
            reason = self._finish(proc.returncode)
        return _Outcome(self._current, reason)

    def _follow(
        self, proc: subprocess.Popen[bytes], outputs: list[subprocess.Popen[bytes]]
    ) -> str | None:
        """Read the events of ``outputs`` until ``proc`` exits; a reason if a task overran."""
        pending: dict[int, bytes] = {}
        with selectors.DefaultSelector() as selector:
            for process in outputs:
                assert process.stdout is not None
                selector.register(process.stdout.fileno(), selectors.EVENT_READ)
                pending[process.stdout.fileno()] = b""
            assert proc.stdout is not None
            own = proc.stdout.fileno()
            while own in pending:
                if self._stop.is_set():
                    return "conversion annulée"
                self._settle_if_stored()
                left = self._clock + self._timeout - time.monotonic()
                if left <= 0:
                    return f"délai de conversion dépassé ({self._timeout:g} s)"
                for key, _ in selector.select(min(left, _POLL_S)):
                    self._read(key.fd, pending, selector)
            # stdout closed: soffice is exiting; its shutdown still counts against the clock
            left = max(0.0, self._clock + self._timeout - time.monotonic())
            try:
                proc.wait(timeout=left)
            except subprocess.TimeoutExpired:
                return f"délai de conversion dépassé ({self._timeout:g} s)"
            # the started soffice printed its events before letting ``proc`` go: read them
            while pending and (ready := selector.select(0)):
                for key, _ in ready:
                    self._read(key.fd, pending, selector)
        return None

    def _read(self, fd: int, pending: dict[int, bytes], selector: selectors.BaseSelector) -> None:
        """Handle the complete lines now readable on ``fd``; forget ``fd`` at its end."""
        chunk = os.read(fd, 65536)
        if not chunk:
            selector.unregister(fd)
            del pending[fd]
            return
        *lines, pending[fd] = (pending[fd] + chunk).split(b"\n")
        for line in lines:
            self._on_line(line.decode("utf-8", "replace").strip())

    def _on_line(self, line: str) -> None:
        logger.debug("soffice: %s", line)
        match = _CONVERT_LINE.match(line)
        if match:
            index = int(match.group(1))
            self._settle_before(index)
            self._slots[index].loaded = True
        elif line.startswith(_LOAD_ERROR):
            # the document that failed is the next one soffice had not loaded yet
            failed = self._current + (1 if self._current_loaded() else 0)
            self._settle_before(failed)
            if failed < len(self._slots):
                self._fail(self._slots[failed], "LibreOffice n'a pas pu ouvrir le document")
        elif line.startswith("Error") and self._current_loaded():
            self._slots[self._current].errors.append(line)

    def _settle_if_stored(self) -> None:
        if not self._current_loaded():
            return
        slot = self._slots[self._current]
        out_dir = slot.output.parent
        if (
            slot.output.exists()
            and not (out_dir / f".~lock.{slot.output.name}#").exists()
            and not any(out_dir.glob("lu*.tmp"))
        ):
            self._settle(slot)

    def _current_loaded(self) -> bool:
        return self._current < len(self._slots) and self._slots[self._current].loaded

    def _settle_before(self, index: int) -> None:
        while self._current < min(index, len(self._slots)):
            self._settle(self._slots[self._current])

    def _settle(self, slot: _Slot) -> None:
        """The current task is over: deliver its PDF or its failure."""
        if not slot.loaded:
            self._fail(slot, "LibreOffice n'a pas traité le document")
        elif slot.errors:
            self._fail(slot, f"LibreOffice n'a pas pu exporter le PDF ({slot.errors[0]})")
        elif not _looks_complete(slot.output):
            self._fail(slot, "LibreOffice n'a produit aucun PDF complet")
        else:
            try:
                _place_atomically(slot.output, slot.task.target, slot.task.durable)
            except OSError as exc:
                self._fail(slot, f"écriture de {slot.task.target} impossible ({exc})")
            else:
                self._advance(ConversionResult(slot.task, None, self._elapsed()))

    def _fail(self, slot: _Slot, reason: str) -> None:
        self._advance(ConversionResult(slot.task, reason, self._elapsed()))

    def _advance(self, result: ConversionResult) -> None:
        self._current += 1
        self._clock = time.monotonic()
        self._emit(result)

    def _elapsed(self) -> float:
        return time.monotonic() - self._clock

    def _finish(self, returncode: int) -> str | None:
        """soffice exited by itself: settle what it finished, or report the crash."""
        self._settle_if_stored()
        if returncode != 0:
            return f"LibreOffice s'est arrêté pendant la conversion (code {returncode})"
        self._settle_before(len(self._slots))
        return None


def _spawn(command: list[str]) -> subprocess.Popen[bytes]:
    """soffice in its own process group (a hang is killed whole), stdout and stderr merged."""
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _listening(standby: subprocess.Popen[bytes], timeout: float, stop: threading.Event) -> bool:
    """Wait until ``standby`` listens on LibreOffice's pipe; False if it exits or stalls first.

    Before that, another soffice on the same profile would not hand its documents over but
    load LibreOffice itself, two of them on one profile. The pipe is a Unix socket bound to
    ``/tmp/OSL_PIPE_<uid>_SingleOfficeIPC_<hash>``: it is found in ``/proc/net/unix`` among
    the sockets the standby's processes hold. Without ``/proc`` (not Linux), False.
    """
    deadline = time.monotonic() + timeout
    while not stop.is_set() and standby.poll() is None and time.monotonic() < deadline:
        pipes = _office_pipes()
        if pipes is None:
            return False
        if pipes & _sockets_of_group(standby.pid):
            return True
        time.sleep(_LISTEN_POLL_S)
    return False


def _office_pipes() -> set[str] | None:
    """The inodes of the sockets bound to a LibreOffice pipe; None where /proc cannot tell."""
    try:
        lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    except OSError:
        return None
    # Num RefCount Protocol Flags Type St Inode Path
    return {
        fields[6]
        for fields in map(str.split, lines)
        if len(fields) > 7 and "SingleOfficeIPC_" in fields[7]
    }


def _sockets_of_group(group: int) -> set[str]:
    """The inodes of the sockets open in the processes of process group ``group``."""
    inodes: set[str] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            if int(stat.rpartition(")")[2].split()[2]) != group:  # pgrp, after state and ppid
                continue
            for fd in os.scandir(Path(entry.path, "fd")):
                link = os.readlink(fd.path)
                if link.startswith("socket:["):
                    inodes.add(link[len("socket:[") : -1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
    return inodes


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process`` and its group if still running; reap it and close its pipe."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


class _Worker:
    """One profile, one soffice at a time, one list of tasks."""

    def __init__(self, root: Path, command: Callable[[Path], list[str]], timeout: float) -> None:
        self._root = root
        self._profile = root / "profile"
        self._command = command
        self._timeout = timeout

    def run(
        self,
        tasks: Sequence[ConversionTask],
        emit: Callable[[ConversionResult], None],
        stop: threading.Event,
        standby: subprocess.Popen[bytes] | None = None,
    ) -> None:
        """Convert ``tasks`` in order; ``standby`` (a soffice started on this worker's
        profile, see :meth:`SofficePool.start`) takes the first invocation's documents."""
        pending = deque(tasks)
        retried: set[int] = set()
        fruitless = 0
        if standby is not None and not _listening(standby, self._timeout, stop):
            _kill(standby)
            standby = None
        while pending and not stop.is_set():
            run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=self._root))
            try:
                invocation = _Invocation(
                    self._command(self._profile),
                    list(itertools.islice(pending, DOCUMENTS_PER_INVOCATION)),
                    run_dir,
                    self._timeout,
                    emit,
                    stop,
                )
                outcome = invocation.run(standby if standby and standby.poll() is None else None)
            finally:
                if standby is not None:
                    _kill(standby)
                    standby = None
                shutil.rmtree(run_dir, ignore_errors=True)
            for _ in range(outcome.settled):
                pending.popleft()
            fruitless = 0 if outcome.settled else fruitless + 1
            if outcome.interrupted is None or not pending or stop.is_set():
                continue
            if fruitless >= MAX_FRUITLESS_INVOCATIONS:
                reason = f"LibreOffice ne répond plus ({outcome.interrupted})"
                while pending:
                    emit(ConversionResult(pending.popleft(), reason))
                return
            task = pending[0]
            if id(task) in retried:
                pending.popleft()
                emit(ConversionResult(task, f"{outcome.interrupted}, deux essais"))
            else:
                retried.add(id(task))  # tried again first thing in the next invocation


def soffice_command(executable: str, profile: Path, *, convert: bool = True) -> list[str]:
    """A headless soffice converting DOCX files to PDF/A-2b, with its own profile folder.

    Without ``convert``, the same soffice waiting for documents (see :meth:`SofficePool.start`).
    """
    command = [
        executable,
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--invisible",
        "--nologo",
        "--nodefault",
        "--norestore",
        "--nolockcheck",
    ]
    if convert:
        command += [f"--infilter={DOCX_IMPORT_FILTER}", "--convert-to", PDFA2_EXPORT]
    return command


class SofficePool:
    """Converts DOCX files to PDF/A-2b with ``workers`` soffice processes side by side.

    ``soffice`` is the executable to run (a path or a name on ``PATH``); ``timeout`` is the
    time allowed to each document (counted from the end of the previous one, so the first
    document of an invocation also covers soffice's start-up). A document that overruns is
    killed with its process group and tried once more; the rest of that worker's list
    continues in a new invocation. One ``convert`` runs at a time on a pool.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        soffice: str | os.PathLike[str] = "soffice",
    ) -> None:
        executable = shutil.which(os.fspath(soffice))
        if executable is None:
            raise ConversionError(
                f"LibreOffice est introuvable (« {os.fspath(soffice)} ») ; "
                f"installez-le avec : {INSTALL_COMMAND}"
            )
        self._executable = executable
        self._workers = max(1, workers or os.cpu_count() or 1)
        self._timeout = timeout
        self._tmp = tempfile.TemporaryDirectory(prefix="caqes-soffice-")
        self._busy = threading.Lock()
        self._standby: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def workers(self) -> int:
        return self._workers

    @property
    def work_dir(self) -> Path:
        """The pool's private folder: one ``worker-N/profile`` per worker, removed on close."""
        return Path(self._tmp.name)

    def start(self) -> SofficePool:
        """Start every worker's soffice now, before the documents exist; returns the pool.

        Each one loads LibreOffice while the caller prepares the documents, and converts the
        first documents :meth:`convert` gives its worker. Calling it again, or on a pool
        whose workers already started, does nothing more. :meth:`close` stops what was not
        used.
        """
        for index in range(self._workers):
            if index not in self._standby:
                profile = self._worker_root(index) / "profile"
                self._standby[index] = _spawn(
                    soffice_command(self._executable, profile, convert=False)
                )
        return self

    def _worker_root(self, index: int) -> Path:
        root = Path(self._tmp.name) / f"worker-{index}"
        root.mkdir(exist_ok=True)
        return root

    def close(self) -> None:
        """Stop the started soffice processes not used, remove the profiles; the pool cannot
        be used afterwards."""
        while self._standby:
            _kill(self._standby.popitem()[1])
        self._tmp.cleanup()

    def __enter__(self) -> SofficePool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _command(self, profile: Path) -> list[str]:
        return soffice_command(self._executable, profile)

    def convert(self, tasks: Iterable[ConversionTask]) -> Iterator[ConversionResult]:
        """Yield one result per task, in completion order, as soon as each is final.

        The tasks are split into contiguous runs, one per worker, so documents given next
        to each other (a contract and its annexes) are converted by the same soffice, one
        after the other. Closing the iterator early kills the soffice processes.
        """
        if not self._busy.acquire(blocking=False):
            raise ConversionError("ce convertisseur LibreOffice est déjà en cours d'utilisation")
        try:
            yield from self._convert(list(tasks))
        finally:
            self._busy.release()

    def _convert(self, tasks: list[ConversionTask]) -> Iterator[ConversionResult]:
        runnable: list[ConversionTask] = []
        for task in tasks:
            problem = _docx_problem(task.source)
            if problem is None:
                runnable.append(task)
            else:
                yield ConversionResult(task, problem)
        results: Queue[ConversionResult] = Queue()
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=self._run_worker,
                args=(index, chunk, results.put, stop),
                name=f"soffice-{index}",
                daemon=True,
            )
            for index, chunk in enumerate(_split(runnable, self._workers))
        ]
        for thread in threads:
            thread.start()
        try:
            for _ in runnable:
                yield results.get()
        finally:
            stop.set()
            for thread in threads:
                thread.join()

    def _run_worker(
        self,
        index: int,
        tasks: Sequence[ConversionTask],
        emit: Callable[[ConversionResult], None],
        stop: threading.Event,
    ) -> None:
        worker = _Worker(self._worker_root(index), self._command, self._timeout)
        settled: set[int] = set()

        def deliver(result: ConversionResult) -> None:
            settled.add(id(result.task))
            emit(result)

        try:
            worker.run(tasks, deliver, stop, self._standby.pop(index, None))
        except Exception as exc:  # a thread must never leave the consumer waiting
            logger.exception("soffice worker %d failed", index)
            for task in tasks:
                if id(task) not in settled:
                    emit(ConversionResult(task, f"erreur du convertisseur ({exc})"))


class CoreRotation:
    """Runs a caller's own work on each usable core in turn while soffice processes convert.

    With one soffice per core, whatever else the program computes (merging, fields, hashing)
    takes its CPU from them. Left to the scheduler, the thread doing it stays on one core, so
    one soffice loses all of it and ends its list up to a second after the others (measured
    with bench/bench_signable.py: 0.45 s apart on average against 0.19 s when taking turns).
    Only where a thread may choose its cores (Linux), and only when the soffice processes
    occupy every core: otherwise a free core is better left to the scheduler to find.
    """

    def __init__(self, workers: int) -> None:
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
        self._cores = itertools.cycle(cores) if 1 < len(cores) <= workers else None

    @contextmanager
    def next_core(self) -> Iterator[None]:
        """Keep the calling thread on the next core for the duration of the block."""
        allowed = self._pin()
        try:
            yield
        finally:
            if allowed is not None:
                os.sched_setaffinity(0, allowed)

    def _pin(self) -> set[int] | None:
        if self._cores is None:
            return None
        allowed = os.sched_getaffinity(0)
        try:
            os.sched_setaffinity(0, {next(self._cores)})  # 0: the calling thread only
        except OSError:  # the usable cores changed since: leave the choice to the system
            return None
        return allowed


def _split(tasks: list[ConversionTask], parts: int) -> list[list[ConversionTask]]:
    """Contiguous runs of near-equal length, at most ``parts`` of them, none empty."""
    parts = min(parts, len(tasks))
    if parts == 0:
        return []
    size, extra = divmod(len(tasks), parts)
    runs, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        runs.append(tasks[start:end])
        start = end
    return runs


@contextmanager
def started_pool(
    workers: int | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    soffice: str | os.PathLike[str] = "soffice",
) -> Iterator[SofficePool | None]:
    """A pool whose soffice processes start at once (:meth:`SofficePool.start`), closed on exit.

    For a caller that will have documents to convert after some work of its own (imports,
    reading, rendering). This module imports only the standard library, so it can be called
    before anything heavy is imported. Yields None when LibreOffice is missing: that matters
    only if something must be converted, and the conversion then says so.
    """
    try:
        pool = SofficePool(workers, timeout=timeout, soffice=soffice)
    except ConversionError:
        yield None
        return
    with pool:
        yield pool.start()


def convert_many(
    sources: Iterable[Path],
    out_dir: Path,
    *,
    workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    soffice: str | os.PathLike[str] = "soffice",
) -> Iterator[ConversionResult]:
    """Convert ``sources`` into ``out_dir/<stem>.pdf`` with a fresh pool, streaming results."""
    tasks = tasks_into(sources, out_dir)
    with SofficePool(workers, timeout=timeout, soffice=soffice) as pool:
        yield from pool.convert(tasks)
