"""The wheel a notebook's install cell takes in Colab (``make wheel``): built, installed without the checkout, and
imported from there, with the recipe files, the license and the console scripts, and nothing of the checkout's
research or entry-file folders."""
import os
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_wheel_installs_the_library_with_its_recipes(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path / "dist"), ROOT], check=True, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").iterdir()
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"keras_ssl", "tflite_export", "keras_ssl-0.1.0.dist-info"}
    assert "keras_ssl/configs/recipes/prune40_int8.json" in names
    assert "keras_ssl-0.1.0.dist-info/LICENSE" in names
    entry_points = zipfile.ZipFile(wheel).read("keras_ssl-0.1.0.dist-info/entry_points.txt").decode()
    assert "keras-ssl-export = keras_ssl.cli.export:run" in entry_points
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                    "--target", str(site), str(wheel)], check=True, cwd=tmp_path)
    # Outside the checkout, with the wheel's copy first on the path: what a Colab runtime imports.
    probe = ("import json, os, keras_ssl, keras_ssl.configs as c; "
             "print(keras_ssl.__file__); "
             "print(json.load(open(os.path.join(os.path.dirname(c.__file__), 'recipes', 'prune40_int8.json')))"
             "['steps'][0]['kind'])")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(site)}, check=True)
    module_file, first_step = result.stdout.split()
    assert module_file.startswith(str(site)) and first_step == "prune"
