"""Every public module, class, function and method in the shipped packages has a docstring.

Pure ``ast``: nothing is imported, so the check takes well under a second and needs no TensorFlow.
"""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PATTERNS = ("keras_ssl/**/*.py", "tflite_export/*.py", "experiments/**/*.py")


def _missing_docstrings(path):
    """``path: module`` / ``path:line name`` for each public item of one file without a docstring."""
    rel = path.relative_to(ROOT)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    missing = [] if ast.get_docstring(tree) else [f"{rel}: module"]
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_") \
                and not ast.get_docstring(node):
            missing.append(f"{rel}:{node.lineno} {node.name}")
        if isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef) and not sub.name.startswith("_") and not ast.get_docstring(sub):
                    missing.append(f"{rel}:{sub.lineno} {node.name}.{sub.name}")
    return missing


def test_public_items_have_docstrings():
    paths = [path for pattern in PATTERNS for path in sorted(ROOT.glob(pattern))]
    assert paths, f"no Python files found under {ROOT}"
    missing = [item for path in paths for item in _missing_docstrings(path)]
    assert not missing, f"{len(missing)} public items without a docstring:\n" + "\n".join(missing)
