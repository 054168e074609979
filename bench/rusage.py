"""Run a command and print its peak resident memory on stderr: RUSAGE_MAXRSS_KB=<kb>."""

import resource
import subprocess
import sys

code = subprocess.call(sys.argv[1:])
print(f"RUSAGE_MAXRSS_KB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}", file=sys.stderr)
raise SystemExit(code)
