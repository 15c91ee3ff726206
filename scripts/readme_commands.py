"""Prints every shell command README.md shows, one per line, in order: the lines of
```sh/```text blocks and the `inline code` spans that start with a program a reader would
type (cargo, bash, relukit, pip, python). Used by scripts/check-readme.sh."""

import re
import sys

PROGRAMS = ("cargo ", "bash ", "relukit", "pip ", "python ")


def commands(text):
    seen = []
    in_block = None
    for line in text.splitlines():
        fence = re.match(r"^```(\w*)", line)
        if fence:
            in_block = None if in_block is not None else fence.group(1)
            continue
        if in_block is not None:
            if in_block in ("sh", "text", "bash", "console"):
                command = line.split("  #")[0].split(" # ")[0].strip()
                if command.startswith(PROGRAMS) and not command.startswith("relukit::"):
                    seen.append(command)
            continue
        for span in re.findall(r"`([^`]+)`", line):
            if span.startswith(PROGRAMS) and not span.startswith(("relukit::", "relukit.")) and " " in span:
                seen.append(span.strip())
    unique = []
    for command in seen:
        if command not in unique:
            unique.append(command)
    return unique


if __name__ == "__main__":
    print("\n".join(commands(open(sys.argv[1], encoding="utf-8").read())))
