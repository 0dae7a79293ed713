"""Makes MediaPipe's own metadata writers importable from the mediapipe wheels that lack their one native piece.

``mediapipe/tasks/python/metadata/metadata.py`` (mediapipe 0.10.30 to 1.2.3) imports
``mediapipe.tasks.cc.metadata.python._pywrap_metadata_version``, a pybind module those wheels no longer ship, so
``metadata_writers`` fails with ``No module named 'mediapipe.tasks.cc'``.  The module has one function,
``GetMinimumMetadataParserVersion(bytes) -> str``; below is a pure-Python port of
``mediapipe/tasks/cc/metadata/metadata_version.cc``, checked against the compiled function (tflite-support 0.4.4)
on metadata of every version level from 1.0.0 to 1.5.0.  ``install()`` registers it only when the real one is
missing.  The writers themselves, the schema and the flatbuffer packing are MediaPipe's.
"""
import sys
import types

from mediapipe.tasks.metadata import metadata_schema_py_generated as _fb

# Schema members added after 1.0.0 and the parser version that introduced them (metadata_version.cc).
_V_VOCAB = (1, 0, 1)
_V_SUBGRAPH_PROCESS_UNITS = (1, 1, 0)
_V_BERT_OR_SENTENCEPIECE = (1, 1, 0)
_V_TENSOR_GROUPS = (1, 2, 0)
_V_REGEX_TOKENIZER = (1, 2, 1)
_V_AUDIO_PROPERTIES = (1, 3, 0)
_V_SCANN_INDEX_FILE = (1, 4, 0)
_V_ASSOCIATED_FILE_VERSION = (1, 4, 1)
_V_CUSTOM_METADATA = (1, 5, 0)


def _files(versions, table, length, getter):
    for i in range(getattr(table, length)()):
        f = getattr(table, getter)(i)
        if f.Type() == _fb.AssociatedFileType.VOCABULARY:
            versions.append(_V_VOCAB)
        if f.Type() == _fb.AssociatedFileType.SCANN_INDEX_FILE:
            versions.append(_V_SCANN_INDEX_FILE)
        if f.Version() is not None:
            versions.append(_V_ASSOCIATED_FILE_VERSION)


def _units(versions, table, length, getter):
    for i in range(getattr(table, length)()):
        t = getattr(table, getter)(i).OptionsType()
        if t in (_fb.ProcessUnitOptions.BertTokenizerOptions, _fb.ProcessUnitOptions.SentencePieceTokenizerOptions):
            versions.append(_V_BERT_OR_SENTENCEPIECE)
        if t == _fb.ProcessUnitOptions.RegexTokenizerOptions:
            versions.append(_V_REGEX_TOKENIZER)


def _tensor(versions, tensor):
    _files(versions, tensor, "AssociatedFilesLength", "AssociatedFiles")
    _units(versions, tensor, "ProcessUnitsLength", "ProcessUnits")
    content = tensor.Content()
    if content is not None and content.ContentPropertiesType() == _fb.ContentProperties.AudioProperties:
        versions.append(_V_AUDIO_PROPERTIES)


def GetMinimumMetadataParserVersion(buffer):  # noqa: N802 (the pybind name)
    """The lowest metadata parser version that reads ``buffer`` (a ModelMetadata flatbuffer), e.g. "1.0.0"."""
    buffer = bytes(buffer)
    if not _fb.ModelMetadata.ModelMetadataBufferHasIdentifier(buffer, 0):
        raise ValueError("The model metadata is not a valid FlatBuffer buffer.")
    model = _fb.ModelMetadata.GetRootAsModelMetadata(buffer, 0)
    versions = [(1, 0, 0)]
    for s in range(model.SubgraphMetadataLength()):
        sub = model.SubgraphMetadata(s)
        for i in range(sub.InputTensorMetadataLength()):
            _tensor(versions, sub.InputTensorMetadata(i))
        for i in range(sub.OutputTensorMetadataLength()):
            _tensor(versions, sub.OutputTensorMetadata(i))
        _files(versions, sub, "AssociatedFilesLength", "AssociatedFiles")
        # The C++ tests "field present" (non-null vector); flatbuffers-python reports that with *IsNone().
        if not sub.InputProcessUnitsIsNone():
            versions.append(_V_SUBGRAPH_PROCESS_UNITS)
            _units(versions, sub, "InputProcessUnitsLength", "InputProcessUnits")
        if not sub.OutputProcessUnitsIsNone():
            versions.append(_V_SUBGRAPH_PROCESS_UNITS)
            _units(versions, sub, "OutputProcessUnitsLength", "OutputProcessUnits")
        if not sub.InputTensorGroupsIsNone():
            versions.append(_V_TENSOR_GROUPS)
        if not sub.OutputTensorGroupsIsNone():
            versions.append(_V_TENSOR_GROUPS)
        if not sub.CustomMetadataIsNone():
            versions.append(_V_CUSTOM_METADATA)
    _files(versions, model, "AssociatedFilesLength", "AssociatedFiles")
    return ".".join(str(n) for n in max(versions))


def install():
    """Registers mediapipe.tasks.cc.metadata.python._pywrap_metadata_version unless the real one imports."""
    name = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"
    try:
        __import__(name)
        return False
    except ImportError:
        pass
    parts = name.split(".")
    for i in range(3, len(parts)):  # mediapipe.tasks.cc ... (mediapipe.tasks itself is real)
        pkg = ".".join(parts[:i])
        if pkg not in sys.modules:
            mod = types.ModuleType(pkg)
            mod.__path__ = []
            sys.modules[pkg] = mod
            setattr(sys.modules[".".join(parts[:i - 1])], parts[i - 1], mod)
    leaf = types.ModuleType(name)
    leaf.GetMinimumMetadataParserVersion = GetMinimumMetadataParserVersion
    sys.modules[name] = leaf
    setattr(sys.modules[".".join(parts[:-1])], parts[-1], leaf)
    return True
