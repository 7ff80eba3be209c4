"""FLEX_TEMPLATE_PYTHON_PY_FILE: the Dataflow launcher runs this file; the logic is in pipelines/flex.py."""

import sys

from pipelines import flex

if __name__ == "__main__":
    sys.exit(flex.main())
