"""Build script. Metadata and options live in setup.cfg; only the package list is computed here.

The repository keeps ``cli/`` and ``trained_weights/`` at its top level and setup.cfg's
``package_dir`` maps them into the package as ``enhance.cli`` and ``enhance.trained_weights``;
setup.cfg's ``find:`` cannot list mapped packages, so they are added to the found ones here.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["enhance", "enhance.*"])
    + ["enhance.cli", "enhance.trained_weights"],
)
