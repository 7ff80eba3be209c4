"""``python -m tests.peak_memory <dumpmatch arguments>``: runs a dumpmatch command in this process, then prints
its peak resident memory in KiB as the last line of stdout (and exits with the command's code).

The peak is the kernel's high-water mark of this process's own memory (``VmHWM``). ``getrusage``'s
``ru_maxrss`` is not used where /proc exists: Linux carries the forking parent's peak over ``exec`` into
the child's, so a child of a big test process would report at least the parent's size.
"""

from __future__ import annotations

import re
import resource
import sys

from pipelines.cli import main


def peak_kib() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            found = re.search(r"VmHWM:\s+(\d+) kB", status.read())
    except OSError:
        found = None
    return int(found.group(1)) if found else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    code = main(sys.argv[1:])
    print(peak_kib())
    sys.exit(code)
