"""Settings: model files, threads, chunking, Matryoshka dimension, retrieval and answering."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from embeddinggemma_rag.core.records import (
    MATRYOSHKA_DIMENSIONS,
    MAX_MODEL_TOKENS,
    SEARCH_MODES,
    ConfigError,
    Settings,
)
from embeddinggemma_rag.gui.widgets import button, plain_label


def _spin(low: int, high: int, value: int, step: int = 1, suffix: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setValue(value)
    spin.setSuffix(suffix)
    return spin


class _PathField(QWidget):
    """A path with a Browse button; empty means the default model in the models folder."""

    def __init__(self, value: Path | None, folder: bool, placeholder: str) -> None:
        super().__init__()
        self.folder = folder
        self.edit = QLineEdit(str(value) if value else "")
        self.edit.setPlaceholderText(placeholder)
        self.edit.setMinimumWidth(420)
        browse = button("Browse…", self._on_browse_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(browse)

    def value(self) -> Path | None:
        text = self.edit.text().strip()
        return Path(text).expanduser() if text else None

    def _on_browse_clicked(self) -> None:
        if self.folder:
            chosen = QFileDialog.getExistingDirectory(self, "Embedding model folder")
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Chat model", "", "GGUF (*.gguf)")
        if chosen:
            self.edit.setText(chosen)


class SettingsDialog(QDialog):
    """Edits a copy of the settings; `result_settings` holds the validated new ones."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(720)  # model paths are long: they must be readable
        self.settings = settings
        self.result_settings: Settings | None = None
        s = settings
        self.embedding_model = _PathField(s.embedding_model, True, "default (models folder)")
        self.generator_model = _PathField(s.generator_model, False, "default (models folder)")
        self.threads = _spin(1, os.cpu_count() or 1, s.threads)
        self.chunk_tokens = _spin(64, MAX_MODEL_TOKENS, s.chunk_tokens, 64, " tokens")
        self.chunk_overlap = _spin(0, MAX_MODEL_TOKENS // 2, s.chunk_overlap_tokens, 16, " tokens")
        self.dimension = QComboBox()
        for dimension in MATRYOSHKA_DIMENSIONS:
            self.dimension.addItem(str(dimension), dimension)
        self.dimension.setCurrentIndex(self.dimension.findData(s.dimension))
        self.top_k = _spin(1, 50, s.top_k)
        self.search_mode = QComboBox()
        self.search_mode.addItems(list(SEARCH_MODES))
        self.search_mode.setCurrentText(s.search_mode)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.05)
        self.temperature.setValue(s.temperature)
        self.max_answer = _spin(16, 8192, s.max_answer_tokens, 32, " tokens")
        self.context = _spin(512, 131072, s.context_tokens, 512, " tokens")
        self.library_folder = plain_label(str(s.data_dir), "Library folder", wrap=False)
        self.library_folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        open_folder = button("Open", self._on_open_folder_clicked, "Open the library folder")
        library_row = QWidget()
        row = QHBoxLayout(library_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.library_folder, 1)
        row.addWidget(open_folder)
        basic: list[tuple[str, QWidget, str]] = [
            ("&Embedding model", self.embedding_model, "Folder in the published ONNX layout"),
            ("C&hat model", self.generator_model, "A .gguf file with a chat template"),
            ("&Library folder", library_row, "Where the index and conversations are kept"),
            (
                "&Passages",
                self.top_k,
                "Passages retrieved for each question; the answer model reads as many of them "
                "as fit its prompt (about 3 at the default sizes, more with a larger context)",
            ),
            ("Te&mperature", self.temperature, "Low keeps answers close to the passages"),
        ]
        advanced: list[tuple[str, QWidget, str]] = [
            ("CPU &threads", self.threads, "Physical cores are best; more only adds contention"),
            ("&Chunk size", self.chunk_tokens, f"At most {MAX_MODEL_TOKENS} (the model's limit)"),
            ("Chunk &overlap", self.chunk_overlap, "Under half a chunk"),
            ("&Dimension", self.dimension, "Smaller vectors: less memory, a little less exact"),
            ("&Search mode", self.search_mode, "hybrid = meaning and keywords together"),
            ("&Answer length", self.max_answer, "Most tokens an answer may take"),
            ("Conte&xt size", self.context, "Larger: more passages, longer wait before answering"),
        ]
        self.basic = QGroupBox("Basic")
        self.advanced = QGroupBox("Advanced: indexing and answering")
        for box, rows in ((self.basic, basic), (self.advanced, advanced)):
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
            for label, widget, tip in rows:
                widget.setToolTip(tip)
                widget.setAccessibleName(label.replace("&", ""))
                form.addRow(label, widget)
        self.problem = plain_label(name="Settings problem")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.restore_button = buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        self.restore_button.clicked.connect(self.restore_defaults)
        layout = QVBoxLayout(self)
        layout.addWidget(self.basic)
        layout.addWidget(self.advanced)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)

    def restore_defaults(self) -> None:
        """Every field to its default (the models: the ones in the models folder); nothing
        is saved until OK."""
        d = Settings(data_dir=self.settings.data_dir)
        self.embedding_model.edit.setText("")
        self.generator_model.edit.setText("")
        self.threads.setValue(d.threads)
        self.chunk_tokens.setValue(d.chunk_tokens)
        self.chunk_overlap.setValue(d.chunk_overlap_tokens)
        self.dimension.setCurrentIndex(self.dimension.findData(d.dimension))
        self.top_k.setValue(d.top_k)
        self.search_mode.setCurrentText(d.search_mode)
        self.temperature.setValue(d.temperature)
        self.max_answer.setValue(d.max_answer_tokens)
        self.context.setValue(d.context_tokens)

    def _on_open_folder_clicked(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.settings.data_dir)))

    def edited(self) -> Settings:
        """The settings as edited; raises ConfigError when they do not hold together."""
        return self.settings.replace(
            embedding_model=self.embedding_model.value(),
            generator_model=self.generator_model.value(),
            threads=self.threads.value(),
            chunk_tokens=self.chunk_tokens.value(),
            chunk_overlap_tokens=self.chunk_overlap.value(),
            dimension=int(self.dimension.currentData()),
            top_k=self.top_k.value(),
            search_mode=self.search_mode.currentText(),
            temperature=round(self.temperature.value(), 2),
            max_answer_tokens=self.max_answer.value(),
            context_tokens=self.context.value(),
        )

    def accept(self) -> None:
        try:
            self.result_settings = self.edited()
        except ConfigError as error:
            self.problem.setText(error.message)  # stays open, nothing typed is lost
            return
        super().accept()
