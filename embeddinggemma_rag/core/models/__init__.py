"""The models: the manifest and the model files on disk (verify, import, download), and the
embedding model run by onnxruntime, which turns a passage or a question into a vector.
"""
