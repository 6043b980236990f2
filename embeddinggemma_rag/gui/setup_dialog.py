"""First run or models missing: what is needed, then download it or choose files already here."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from embeddinggemma_rag.core.records import Manifest, ModelSpec, ModelStatus, Progress
from embeddinggemma_rag.gui import model_jobs
from embeddinggemma_rag.gui.engine_host import EMBEDDING, GENERATOR, EngineHost
from embeddinggemma_rag.gui.errors import ErrorReporter
from embeddinggemma_rag.gui.jobs import Job
from embeddinggemma_rag.gui.signals import emit
from embeddinggemma_rag.gui.widgets import button, plain_label

_TITLES = {EMBEDDING: "Search model (finds passages)", GENERATOR: "Chat model (writes answers)"}


def format_size(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


class _ModelBox(QGroupBox):
    """One model: what it is, its size and licence, its state, and a way to choose files."""

    def __init__(self, kind: str, dialog: SetupDialog) -> None:
        super().__init__(_TITLES[kind])
        self.kind = kind
        self.about = plain_label()
        self.state = plain_label(name=f"{_TITLES[kind]} state")
        choose = "Choose folder…" if kind == EMBEDDING else "Choose file…"
        name = f"{choose.rstrip('…')} for the {kind} model"
        self.choose_button = button(choose, lambda: dialog.choose_files(kind), name)
        layout = QVBoxLayout(self)
        layout.addWidget(self.about)
        row = QHBoxLayout()
        row.addWidget(self.state, 1)
        row.addWidget(self.choose_button)
        layout.addLayout(row)

    def show_model(self, spec: ModelSpec, status: ModelStatus) -> None:
        size = format_size(sum(f.approx_bytes for f in spec.files))
        offered = f"{spec.name} from {spec.repo_id}, about {size}.\nLicence: {spec.licence}"
        if status.ok and status.configured:
            # Files the user chose: the box must not read as if the app used the download.
            offered = f"Your own model files, below. The download offered instead: {offered}"
        self.about.setText(offered)
        # The problem's first sentence names the file; the rest is the command-line hint.
        problem = status.problem.split(". ", 1)[0]
        self.state.setText(f"Ready: {status.path}" if status.ok else f"Not usable: {problem}.")
        self.state.setToolTip(status.problem)


class SetupDialog(QDialog):
    """Checks the models, offers download (with progress and cancel) or files, checks again."""

    downloading = Signal(bool)  # the status bar shows the network in use

    def __init__(self, host: EngineHost, errors: ErrorReporter, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Set up the models")
        self.setMinimumWidth(560)
        self.host, self.errors = host, errors
        self.statuses: dict[str, ModelStatus] = {}
        self._download: Job | None = None
        intro = plain_label(
            "The app needs two models on this computer. Everything then runs offline: "
            "documents, questions and answers never leave it."
        )
        self.boxes = {kind: _ModelBox(kind, self) for kind in (EMBEDDING, GENERATOR)}
        self.token = QLineEdit()
        self.token.setPlaceholderText("Hugging Face token (only for gated models)")
        self.token.setAccessibleName("Hugging Face token")
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.download_button = button(
            "Download missing models",
            self._on_download_button_clicked,
            tip="Uses the network, only for this download",
        )
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Download progress")
        self.progress.setRange(0, 1000)
        self.progress_label = plain_label(name="Download state")
        self.cancel_button = button("Cancel download", self._on_cancel_button_clicked)
        download_row = QHBoxLayout()
        download_row.addWidget(self.token, 1)
        download_row.addWidget(self.download_button)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        self.buttons = QDialogButtonBox()
        self.continue_button = self.buttons.addButton(
            "Continue", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.addButton("Not now", QDialogButtonBox.ButtonRole.RejectRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        for box in self.boxes.values():
            layout.addWidget(box)
        layout.addLayout(download_row)
        layout.addLayout(progress_row)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.buttons)
        self._set_downloading(False)
        self.continue_button.setEnabled(False)
        self.check()

    def check(self) -> None:
        job = model_jobs.check_models(self.host)
        job.succeeded.connect(self._on_check_job_succeeded)
        job.failed.connect(lambda exc: self.errors.report(exc, "check the models"))

    def _on_check_job_succeeded(self, result: tuple[Manifest, list[ModelStatus]]) -> None:
        manifest, statuses = result
        self.statuses = {s.kind: s for s in statuses}
        for kind, box in self.boxes.items():
            box.show_model(getattr(manifest, kind), self.statuses[kind])
        self.continue_button.setEnabled(self.statuses[EMBEDDING].ok)
        missing = [s for s in statuses if not s.ok]
        self.download_button.setEnabled(bool(missing) and self._download is None)
        self.token.setVisible(any(getattr(manifest, s.kind).gated for s in missing))
        self.adjustSize()  # the texts arrived after the first layout

    def choose_files(self, kind: str) -> None:
        start = str(Path.home())  # not the folder the app was started from
        if kind == EMBEDDING:
            chosen = QFileDialog.getExistingDirectory(self, "Embedding model folder", start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(
                self, "Chat model", start, "GGUF models (*.gguf);;All files (*)"
            )
        if chosen:
            self.import_path(Path(chosen))

    def import_path(self, path: Path) -> None:
        """Check that the files load, record them in the settings, then check everything."""
        self.progress_label.setText(f"Checking {path}…")
        job = model_jobs.import_model(self.host, path)
        job.succeeded.connect(self._on_import_job_succeeded)
        job.failed.connect(self._on_import_job_failed)

    def _on_import_job_succeeded(self, status: ModelStatus) -> None:
        field = "embedding_model" if status.kind == EMBEDDING else "generator_model"
        self.host.settings = self.host.settings.replace(**{field: status.path})
        self.progress_label.setText(f"{status.path} works.")
        self.check()

    def _on_import_job_failed(self, exc: BaseException) -> None:
        self.progress_label.setText("Those files cannot be used; see the message.")
        self.errors.report(exc, "use those model files")

    def _on_download_button_clicked(self) -> None:
        missing = [kind for kind, status in self.statuses.items() if not status.ok]
        which = missing[0] if len(missing) == 1 else "all"
        job = model_jobs.download_models(self.host, which, self.token.text().strip() or None)
        # Each outcome leaves the downloading state before it says anything, so the network
        # indicator never reads "Online" beside "Downloaded and checked." (`finished` comes
        # after the outcome, as a separate event).
        job.progressed.connect(self._on_download_job_progressed)
        job.succeeded.connect(self._on_download_job_succeeded)
        job.cancelled.connect(self._on_download_job_cancelled)
        job.failed.connect(self._on_download_job_failed)
        self._download = job
        self._set_downloading(True)

    def _on_download_job_progressed(self, progress: Progress) -> None:
        if progress.total:
            self.progress.setValue(round(1000 * progress.done / progress.total))
        done, total = format_size(progress.done), format_size(progress.total)
        self.progress_label.setText(f"{progress.message}: {done} of {total}")

    def _on_download_job_succeeded(self, _: object) -> None:
        self._set_downloading(False)
        self.progress_label.setText("Downloaded and checked.")
        self.check()

    def _on_download_job_cancelled(self) -> None:
        self._set_downloading(False)
        self.progress_label.setText("Download cancelled.")

    def _on_download_job_failed(self, exc: BaseException) -> None:
        self._set_downloading(False)
        self.progress_label.setText("The download stopped; see the message.")
        self.errors.report(exc, "download the models")

    def _on_cancel_button_clicked(self) -> None:
        if self._download is not None:
            self._download.cancel()

    def _set_downloading(self, active: bool) -> None:
        if not active:
            self._download = None
        self.progress.setVisible(active)
        self.cancel_button.setVisible(active)
        self.download_button.setEnabled(
            not active and any(not s.ok for s in self.statuses.values())
        )
        emit(self.downloading, active)

    def reject(self) -> None:
        if self._download is not None:
            self._download.cancel()  # closing the screen stops the transfer; it resumes later
        super().reject()
