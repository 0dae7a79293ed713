"""No function shares one mutable default between its calls: a config instance as a default is built once, at
import, and a caller that changes it changes every later call's default."""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MUTABLE = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)


def shared_defaults(source, path="<source>"):
    """``path:line function(arg=...)`` for each default that is a mutable literal or a call (e.g. ``Config()``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            positional = args.posonlyargs + args.args
            pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
            for arg, default in pairs:
                if isinstance(default, MUTABLE + (ast.Call,)):
                    found.append(f"{path}:{default.lineno} {getattr(node, 'name', 'lambda')}({arg.arg}=...)")
    return found


def test_no_function_has_a_shared_mutable_default():
    found = []
    for top in ("keras_ssl", "tflite_export", "studies"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    found += shared_defaults(open(path, encoding="utf-8").read(), os.path.relpath(path, ROOT))
    assert found == []


def test_the_check_finds_shared_defaults():
    assert len(shared_defaults("def f(a, config=Config(), *, b=[], c=None, d=(1,)):\n    pass\n")) == 2
