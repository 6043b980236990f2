"""Indexing progress under the library: files and passages done, rate, time left, pause, cancel."""

from __future__ import annotations

import os
import time

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from embeddinggemma_rag.core.records import IngestProgress
from embeddinggemma_rag.gui.jobs import Job
from embeddinggemma_rag.gui.signals import emit
from embeddinggemma_rag.gui.widgets import button, plain_label

# Percent: QProgressBar repaints at once on every visible change (about 2 ms each), so finer
# steps would only cost the GUI thread time.
BAR_STEPS = 100
BAR_EVERY_SECONDS = 0.25


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return "under a second"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def describe_progress(progress: IngestProgress) -> str:
    """`IngestProgress` in words. Time left comes from the work done (bytes read and
    embedded), not from files: a batch of files is embedded together, so files stall."""
    done, total = progress.files_done, progress.files_total
    elapsed = max(progress.elapsed_seconds, 1e-6)
    files = f"{done:,} of {total:,} file{'' if total == 1 else 's'}"
    passages = progress.chunks_done
    parts = [files, f"{passages:,} passage{'' if passages == 1 else 's'} embedded"]
    if progress.chunks_done and elapsed > 1:
        parts.append(f"{progress.chunks_done / elapsed:.1f} passages/s")
    work, work_total = progress.work_done, progress.work_total
    if 0 < work < work_total and elapsed > 2:
        parts.append(f"about {format_duration(elapsed / work * (work_total - work))} left")
    return " · ".join(parts)


class IngestBar(QWidget):
    """Follows one ingest job at a time; hidden when nothing is being indexed."""

    cancel_clicked = Signal()  # the owner cancels the job and the queued ingests

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._job: Job | None = None
        self._started = 0.0
        self._bar_set = 0.0
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Indexing progress")
        self.summary = plain_label(name="Indexing summary")
        self.current = plain_label(name="File being indexed", wrap=False)
        self.pause_button = button("Pause", self._on_pause_button_clicked, "Pause indexing")
        self.cancel_button = button("Cancel", self._on_cancel_button_clicked, "Cancel indexing")
        buttons = QHBoxLayout()
        buttons.addWidget(self.bar, 1)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        layout.addWidget(self.current)
        self.hide()

    def follow(self, job: Job) -> None:
        self._job = job
        self._started = time.monotonic()
        self.bar.setRange(0, 0)  # busy until the walk has counted the files
        self.summary.setText("Looking for files…")
        self.current.clear()
        self.pause_button.setText("Pause")
        self.pause_button.setEnabled(True)
        self.cancel_button.setEnabled(True)
        job.progressed.connect(self._on_job_progressed)
        job.paused_changed.connect(self._on_job_paused_changed)
        job.finished.connect(self._on_job_finished)
        self.show()

    def _on_job_progressed(self, progress: IngestProgress) -> None:
        if self.sender() is not self._job:
            return
        if progress.work_total:
            value = round(BAR_STEPS * progress.work_done / progress.work_total)
            if self.bar.maximum() != BAR_STEPS:
                self.bar.setRange(0, BAR_STEPS)
            # setValue repaints the window's pending changes at once (the whole library
            # tree, while it fills): a few times a second is enough for a bar.
            now = time.monotonic()
            if value != self.bar.value() and now - self._bar_set >= BAR_EVERY_SECONDS:
                self.bar.setValue(value)
                self._bar_set = now
        self.summary.setText(describe_progress(progress))
        name = os.path.basename(progress.current_file)
        step = getattr(progress, "current_step", "")  # e.g. "reading page 3 of 40 by OCR"
        self.current.setText((f"Reading {name}" + (f": {step}" if step else "")) if name else "")
        self.current.setToolTip(progress.current_file)

    def _on_job_paused_changed(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setAccessibleName("Resume indexing" if paused else "Pause indexing")
        if paused:
            self.current.setText("Paused — questions can still be asked")

    def _on_pause_button_clicked(self) -> None:
        if self._job is not None:
            self._job.set_paused(not self._job.paused)

    def _on_cancel_button_clicked(self) -> None:
        self.cancel_button.setEnabled(False)
        self.pause_button.setEnabled(False)
        self.summary.setText("Cancelling… what was indexed is kept")
        emit(self.cancel_clicked)

    def _on_job_finished(self) -> None:
        if self.sender() is self._job:
            self._job = None
            self.hide()
