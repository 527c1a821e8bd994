#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate the single header single_include/kexue/kexue.hpp from include/kexue.

    python3 tools/amalgamate.py                     # (re)write single_include/kexue/kexue.hpp
    python3 tools/amalgamate.py --check             # exit 1 if the file on disk is stale
    python3 tools/amalgamate.py --line-directives   # emit #line directives back to the part files
    python3 tools/amalgamate.py --output PATH       # write (or check) another file
    python3 tools/amalgamate.py --check-umbrella    # exit 1 if a public header is not reached from the umbrella

Starting from include/kexue/kexue.hpp, every `#include <kexue/...>` (or "kexue/...") is replaced by the
text of that header, recursively, in include order, each header once. All other includes (std, Eigen,
xsimd, ...) stay as they are. Each part loses its `#pragma once`, a `// #include <kexue/...>` marker is left
where it began, and the whole is wrapped in one KEXUE_SINGLE_INCLUDE_HPP guard under a banner carrying the
version. The output is deterministic (no timestamps, no absolute paths) and written atomically.

A kexue include inside `#if` is inlined where it stands; including the same header again from a context
that the first `#if` does not enclose would silently lose it, so that is reported as an error.
"""

import argparse
import difflib
import os
import re
import sys
import tempfile

REPO_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DEFAULT_OUTPUT = os.path.join("single_include", "kexue", "kexue.hpp")
UMBRELLA = "kexue/kexue.hpp"
GUARD = "KEXUE_SINGLE_INCLUDE_HPP"

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])(kexue/[^>"]+)[>"]')
PRAGMA_ONCE_RE = re.compile(r"^\s*#\s*pragma\s+once\b")
COND_OPEN_RE = re.compile(r"^\s*#\s*if(n?def)?\b")
COND_ELSE_RE = re.compile(r"^\s*#\s*(elif|elifdef|elifndef|else)\b")
COND_END_RE = re.compile(r"^\s*#\s*endif\b")
VERSION_RE = re.compile(r"^\s*#\s*define\s+KEXUE_VERSION_(MAJOR|MINOR|PATCH)\s+(\d+)", re.M)


class AmalgamationError(Exception):
    pass


def rel(path):
    """Repository-relative path with forward slashes (keeps the output free of absolute paths)."""
    try:
        r = os.path.relpath(path, REPO_ROOT)
    except ValueError:  # different drive on Windows
        r = path
    if r.startswith(".."):
        r = path
    return r.replace(os.sep, "/")


def strip_comments(line, in_block):
    """Returns (line without comments, whether a /* comment is still open at its end).

    String and character literals are skipped so that "//" or "/*" inside them is not a comment.
    (Raw string literals are not understood; R20 keeps #include text out of them.)"""
    out = []
    i, n = 0, len(line)
    quote = None
    while i < n:
        c = line[i]
        if in_block:
            if line.startswith("*/", i):
                in_block = False
                out.append(" ")
                i += 2
            else:
                i += 1
            continue
        if quote:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(line[i + 1])
                i += 2
                continue
            if c == quote:
                quote = None
            i += 1
            continue
        if line.startswith("//", i):
            break
        if line.startswith("/*", i):
            in_block = True
            i += 2
            continue
        if c == "'" and i > 0 and line[i - 1].isalnum() and line[i - 1 : i + 1] not in ("L'", "u'", "U'"):
            out.append(c)  # digit separator, as in 1'000'000
            i += 1
            continue
        if c in "\"'":
            quote = c
        out.append(c)
        i += 1
    return "".join(out), in_block


class Amalgamator:
    def __init__(self, include_dir, line_directives):
        self.include_dir = include_dir
        self.line_directives = line_directives
        self.first_context = {}  # header name -> #if context of its first (inlined) inclusion
        self.out = []
        self.parts = 0

    def resolve(self, name, where):
        path = os.path.join(self.include_dir, *name.split("/"))
        if not os.path.isfile(path):
            raise AmalgamationError(f"{where}: includes <{name}>, but {rel(path)} does not exist")
        return path

    def inline(self, path, context):
        self.parts += 1
        display = rel(path)
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        if self.line_directives:
            self.out.append(f'#line 1 "{display}"')
        conds = []  # this file's open #if frames, each (file, line of the current branch)
        in_block_comment = False
        pragma_stripped = False
        for number, line in enumerate(lines, start=1):
            # Directives are matched on the line without comments, so a commented-out #include stays.
            code, in_block_comment = strip_comments(line, in_block_comment)
            if not pragma_stripped and PRAGMA_ONCE_RE.match(code):
                pragma_stripped = True
                if self.line_directives:
                    self.out.append("")  # keep the line numbering
                continue
            if COND_OPEN_RE.match(code):
                conds.append((display, number))
            elif COND_ELSE_RE.match(code):
                if not conds:
                    raise AmalgamationError(f"{display}:{number}: #else/#elif without #if")
                conds[-1] = (display, number)
            elif COND_END_RE.match(code):
                if not conds:
                    raise AmalgamationError(f"{display}:{number}: #endif without #if")
                conds.pop()

            m = INCLUDE_RE.match(code)
            if not m:
                self.out.append(line)
                continue
            child = os.path.normpath(m.group(2)).replace(os.sep, "/")
            here = context + tuple(conds)
            self.out.append(f"// #include <{child}>")
            if child in self.first_context:
                first = self.first_context[child]
                if here[: len(first)] != first:
                    raise AmalgamationError(
                        f"{display}:{number}: <{child}> was first inlined inside a conditional block "
                        f"({first[-1][0]}:{first[-1][1]}) that does not enclose this include; "
                        f"include it unconditionally first")
                continue
            child_path = self.resolve(child, f"{display}:{number}")
            self.first_context[child] = here
            self.inline(child_path, here)
            if self.line_directives:
                self.out.append(f'#line {number + 1} "{display}"')
        if conds:
            raise AmalgamationError(f"{display}: unterminated #if (opened at line {conds[-1][1]})")
        if in_block_comment:
            raise AmalgamationError(f"{display}: unterminated /* comment")


def read_version(include_dir):
    path = os.path.join(include_dir, "kexue", "version.hpp")
    try:
        with open(path, encoding="utf-8") as f:
            found = dict(VERSION_RE.findall(f.read()))
    except OSError as e:
        raise AmalgamationError(f"cannot read the version: {e}")
    try:
        return f"{found['MAJOR']}.{found['MINOR']}.{found['PATCH']}"
    except KeyError:
        raise AmalgamationError(f"{rel(path)}: KEXUE_VERSION_MAJOR/MINOR/PATCH not all defined")


def public_headers(include_dir):
    """Every header under <include_dir>/kexue except detail/, as "kexue/..." names, sorted."""
    root = os.path.join(include_dir, "kexue")
    found = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d != "detail")
        for name in sorted(files):
            if name.endswith(".hpp"):
                found.append(rel_to(os.path.join(directory, name), include_dir))
    return sorted(found)


def rel_to(path, base):
    return os.path.relpath(path, base).replace(os.sep, "/")


def amalgamate(include_dir, umbrella_path, line_directives):
    if not os.path.isfile(umbrella_path):
        raise AmalgamationError(
            f"the umbrella header {rel(umbrella_path)} does not exist (it must include every public header)")
    version = read_version(include_dir)
    a = Amalgamator(include_dir, line_directives)
    a.first_context[UMBRELLA] = ()
    a.inline(umbrella_path, ())
    body = "\n".join(a.out).rstrip("\n")
    banner = [
        "// SPDX-License-Identifier: MIT",
        f"// kexue {version}: single-header distribution ({a.parts} headers).",
        "// Generated by tools/amalgamate.py from include/kexue -- do not edit.",
        "// Regenerate with: python3 tools/amalgamate.py",
        "",
        f"#ifndef {GUARD}",
        f"#define {GUARD}",
        "",
    ]
    missing = [h for h in public_headers(include_dir) if h not in a.first_context]
    return "\n".join(banner) + "\n" + body + "\n\n" + f"#endif  // {GUARD}\n", missing


def write_atomically(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".amalgamate-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv=None):
    p = argparse.ArgumentParser(description="Generate single_include/kexue/kexue.hpp from include/kexue.")
    p.add_argument("--output", default=None, help=f"output file (default: {DEFAULT_OUTPUT} in the repository)")
    p.add_argument("--line-directives", action="store_true", help="emit #line directives back to the part files")
    p.add_argument("--check", action="store_true", help="do not write; exit 1 if the output file is stale")
    p.add_argument("--check-umbrella", action="store_true",
                   help="do not write; exit 1 if a public header (outside detail/) is not reached from the umbrella")
    p.add_argument("--include-dir", default=os.path.join(REPO_ROOT, "include"),
                   help="directory holding kexue/ (default: include/ in the repository)")
    p.add_argument("--umbrella", default=None,
                   help="entry header (default: <include-dir>/kexue/kexue.hpp); for testing the tool")
    args = p.parse_args(argv)

    output = args.output or os.path.join(REPO_ROOT, DEFAULT_OUTPUT)
    umbrella = args.umbrella or os.path.join(args.include_dir, *UMBRELLA.split("/"))
    try:
        text, missing = amalgamate(os.path.abspath(args.include_dir), os.path.abspath(umbrella),
                                   args.line_directives)
    except AmalgamationError as e:
        print(f"amalgamate.py: error: {e}", file=sys.stderr)
        return 2

    if missing:
        print(f"amalgamate.py: {'error' if args.check_umbrella else 'warning'}: {len(missing)} public header(s) "
              "not reached from include/kexue/kexue.hpp (add them to the umbrella, or move them to detail/):",
              file=sys.stderr)
        for h in missing:
            print(f"    #include <{h}>", file=sys.stderr)
    if args.check_umbrella:
        if not missing:
            print("amalgamate.py: every public header is reached from the umbrella")
        return 1 if missing else 0

    command = "python3 tools/amalgamate.py" + (" --line-directives" if args.line_directives else "")
    if args.output:
        command += f" --output {args.output}"
    try:
        with open(output, encoding="utf-8", newline="") as f:
            current = f.read()
    except FileNotFoundError:
        current = None

    if args.check:
        if current == text:
            print(f"amalgamate.py: {rel(output)} is up to date")
            return 0
        if current is None:
            print(f"amalgamate.py: {rel(output)} is missing.", file=sys.stderr)
        else:
            print(f"amalgamate.py: {rel(output)} is stale (differs from include/kexue):", file=sys.stderr)
            diff = list(difflib.unified_diff(current.splitlines(), text.splitlines(), "committed", "generated",
                                             n=1, lineterm=""))
            for line in diff[:40]:
                print("  " + line, file=sys.stderr)
            if len(diff) > 40:
                print(f"  ... ({len(diff) - 40} more diff lines)", file=sys.stderr)
        print(f"Run this from the repository root and commit the result:\n    {command}", file=sys.stderr)
        return 1

    if current == text:
        print(f"amalgamate.py: {rel(output)} unchanged")
    else:
        write_atomically(output, text)
        print(f"amalgamate.py: wrote {rel(output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
