#!/usr/bin/env python3
"""Fails when a function outside the tests is longer than the limit (80 lines by default).

A long function is several stages under one name: name them. Reads every `.rs` file under the
given directories, skips `#[cfg(test)]` modules and `tests.rs` files, and counts a function
from its `fn` line to the line of its closing brace (comments and blank lines included).

Usage: .ci/long_functions.py [--max N] DIR [DIR ...]
"""
import os
import re
import sys

FN = re.compile(r"^(\s*)(?:pub(?:\([a-z]+\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")


def functions(path):
    lines = open(path).read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if re.match(r"\s*#\[cfg\(test\)\]", line):
            return  # the tests module runs to the end of the file, by this project's layout
        match = FN.match(line)
        if match:
            indent = match.group(1)
            start = i
            # The body ends at the first line that closes at the fn's own indentation.
            j = i
            while j < len(lines) and not lines[j].rstrip().endswith("{") and not lines[j].rstrip().endswith(";"):
                j += 1
            if j < len(lines) and lines[j].rstrip().endswith(";"):
                i = j + 1
                continue
            j += 1
            while j < len(lines) and lines[j] != indent + "}":
                j += 1
            yield match.group(2), start + 1, j - start + 1
            i = j + 1
            continue
        i += 1


def main(args):
    limit = 80
    if args[:1] == ["--max"]:
        limit, args = int(args[1]), args[2:]
    long = []
    for root in args:
        for folder, _, names in os.walk(root):
            for name in sorted(names):
                if name.endswith(".rs") and name != "tests.rs" and not name.endswith("_tests.rs"):
                    path = os.path.join(folder, name)
                    for fn, line, length in functions(path):
                        if length > limit:
                            long.append(f"{path}:{line}: fn {fn} is {length} lines")
    for entry in long:
        print(entry)
    print(f"{len(long)} functions over {limit} lines in {', '.join(args)}")
    return 1 if long else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
