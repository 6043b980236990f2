"""The status bar: the models' state, the library's size, and a visible offline indicator."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from embeddinggemma_rag.gui.engine_host import EMBEDDING, GENERATOR

_MODEL_NAMES = {EMBEDDING: "Search model", GENERATOR: "Chat model"}


class AppStatusBar(QStatusBar):
    """Permanent labels on the right; transient messages (errors, notes) on the left."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._models: dict[str, QLabel] = {}
        for which, name in _MODEL_NAMES.items():
            label = QLabel(f"{name}: not loaded")
            label.setAccessibleName(f"{name} state")
            self._models[which] = label
            self.addPermanentWidget(label)
        self.library_label = QLabel("Library: not opened")
        self.library_label.setAccessibleName("Library size")
        self.addPermanentWidget(self.library_label)
        self.network_label = QLabel()
        self.network_label.setAccessibleName("Network state")
        self.addPermanentWidget(self.network_label)
        self.set_downloading(False)

    def set_model_state(self, which: str, state: str) -> None:
        label = self._models[which]
        label.setText(f"{_MODEL_NAMES[which]}: {state.split(' (')[0]}")
        label.setToolTip(f"{_MODEL_NAMES[which]}: {state}")

    def model_state(self, which: str) -> str:
        return self._models[which].text()

    def set_library_size(self, documents: int, chunks: int) -> None:
        """Indexed documents only: a failed or skipped file is not one the app can answer from."""
        docs = f"{documents:,} document{'' if documents == 1 else 's'}"
        passages = f"{chunks:,} passage{'' if chunks == 1 else 's'}"
        self.library_label.setText(f"Library: {docs} · {passages}")

    def set_downloading(self, downloading: bool) -> None:
        """Offline unless the user started a model download: nothing else uses the network."""
        if downloading:
            self.network_label.setText("● Online: downloading models")
            self.network_label.setToolTip("A model download you started is using the network.")
        else:
            self.network_label.setText("● Offline")
            self.network_label.setToolTip(
                "Nothing leaves this computer: documents, questions and answers stay here. "
                "Only a model download you start uses the network."
            )
