"""Research records: each folder is one study with its code, binary (``main.py``) and README of dated numbers.

Studies import the library; the library never imports a study, and studies are not installed with the package.
"""
