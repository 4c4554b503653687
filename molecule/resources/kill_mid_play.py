"""Run a command (an ansible-playbook run) and SIGKILL its whole process group, as a dying
control node would, as soon as a line of its output matches a pattern.

Prints one JSON object: killed (bool), matched_line, seconds (until the kill or the exit), rc
(negative: the signal), and the output's last lines. Exits 0 only if the kill happened: a run
that ends before reaching the pattern did not test anything.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import deque


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pattern", required=True, help="regular expression, searched per line")
    parser.add_argument("--timeout", type=float, required=True, help="seconds, upper bound")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- command ...")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    pattern = re.compile(args.pattern)
    started = time.monotonic()
    # A new session: the kill reaches ansible-playbook's forked workers and their ssh/docker
    # children too, as when the control node itself goes away.
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    tail = deque(maxlen=20)
    matched = None
    for line in process.stdout:
        tail.append(line.rstrip("\n"))
        if pattern.search(line):
            matched = line.strip()
            os.killpg(process.pid, signal.SIGKILL)
            break
        if time.monotonic() - started > args.timeout:
            os.killpg(process.pid, signal.SIGKILL)
            break
    rc = process.wait()
    json.dump(
        {
            "killed": matched is not None,
            "matched_line": matched,
            "seconds": round(time.monotonic() - started, 1),
            "rc": rc,
            "tail": list(tail),
        },
        sys.stdout,
    )
    sys.exit(0 if matched is not None else 1)


if __name__ == "__main__":
    main()
