#!/usr/bin/env python3
"""Write weft's own proto/weaviate/v1/*.proto from the wire-contract listing.

The listing (shared/spec/grpc-descriptors.txt, made by dump_grpc_descriptors.py) names every
file, message, nested message, enum value, field number, label, type, oneof and rpc of the
`weaviate.v1` gRPC API. This script turns those facts into proto3 source; it is a one-shot
bootstrap helper, the .proto files it wrote are committed and reviewed by hand, and
`cargo run -p xtask -- check-protos` proves they still match the listing.

Usage (from the repository root):
    python3 xtask/proto_from_listing.py [../shared/spec/grpc-descriptors.txt] [proto]
"""
import os
import re
import sys

PACKAGE = "weaviate.v1"
# file_replication is server-to-server, health_weaviate is served by the standard grpc.health.v1
SKIP_FILES = {"v1/file_replication.proto", "v1/health_weaviate.proto"}
SCALARS = {
    "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32",
    "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes",
}

RE_FILE = re.compile(r"^file (\S+)  package (\S+)$")
RE_IMPORTS = re.compile(r"^  imports: (.*)$")
RE_SERVICE = re.compile(r"^service (\S+)$")
RE_RPC = re.compile(r"^  rpc (\w+)\((stream )?(\S+)\) returns \((stream )?(\S+)\)")
RE_ENUM = re.compile(r"^( *)enum (\S+) \{ (.*) \}$")
RE_MSG = re.compile(r"^( *)message (\S+)$")
RE_FIELD = re.compile(r"^( *)(\d+) (\S+) +(\S+) +(.+)$")


class Msg:
    def __init__(self, full):
        self.full = full
        self.fields = []  # (number, name, label, type)
        self.enums = []
        self.nested = []


class Enum:
    def __init__(self, full, values):
        self.full = full
        self.values = values


class File:
    def __init__(self, name, package):
        self.name = name
        self.package = package
        self.imports = []
        self.services = []  # (full, [(name, cs, in, ss, out)])
        self.enums = []
        self.messages = []


def parse(path):
    files = []
    cur = None
    stack = []
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.rstrip("\n")
            if not line.strip() or line.startswith("#") or line.startswith("="):
                continue
            if m := RE_FILE.match(line):
                cur = File(m[1], m[2])
                files.append(cur)
                stack = []
                continue
            if m := RE_IMPORTS.match(line):
                cur.imports = [s.strip() for s in m[1].split(",")]
                continue
            if m := RE_SERVICE.match(line):
                cur.services.append((m[1], []))
                continue
            if m := RE_RPC.match(line):
                cur.services[-1][1].append((m[1], bool(m[2]), m[3], bool(m[4]), m[5]))
                continue
            if m := RE_ENUM.match(line):
                depth = len(m[1]) // 2
                values = []
                for part in m[3].split(", "):
                    k, v = part.split("=")
                    values.append((k, int(v)))
                e = Enum(m[2], values)
                if depth == 0:
                    cur.enums.append(e)
                else:
                    stack[depth - 1].enums.append(e)
                continue
            if m := RE_MSG.match(line):
                depth = len(m[1]) // 2
                msg = Msg(m[2])
                del stack[depth:]
                if depth == 0:
                    cur.messages.append(msg)
                else:
                    stack[depth - 1].nested.append(msg)
                stack.append(msg)
                continue
            if m := RE_FIELD.match(line):
                # "%s  %3d ..." : two spaces past the message's indent, then a width-3 number
                depth = (len(m[1]) + len(m[2]) - max(3, len(m[2])) - 2) // 2
                assert depth == len(stack) - 1, line
                stack[-1].fields.append((int(m[2]), m[3], m[4], m[5].strip()))
                continue
            raise SystemExit("unparsed line: %r" % line)
    return files


def all_types(files):
    names = set()

    def walk_msg(m):
        names.add(m.full)
        for e in m.enums:
            names.add(e.full)
        for n in m.nested:
            walk_msg(n)

    for f in files:
        for e in f.enums:
            names.add(e.full)
        for m in f.messages:
            walk_msg(m)
    return names


def type_ref(target, scope, known):
    """Shortest name for `target` (a full name) that protobuf resolves to it from `scope`."""
    parts = target.split(".")
    for k in range(1, len(parts) + 1):
        cand = parts[-k:]
        first = cand[0]
        s = scope
        resolved = None
        while True:
            prefix = s + "." if s else ""
            if prefix + first in known or (prefix + first) in ("google", "weaviate"):
                resolved = prefix + ".".join(cand)
                break
            if not s:
                break
            s = s.rsplit(".", 1)[0] if "." in s else ""
        if resolved == target:
            return ".".join(cand)
    return "." + target


def render_type(t, scope, known):
    if t.startswith("map<"):
        k, v = t[4:-1].split(",", 1)
        return "map<%s, %s>" % (render_type(k, scope, known), render_type(v, scope, known))
    if t.startswith("enum "):
        t = t[5:]
    if t in SCALARS:
        return t
    if t.startswith("google.protobuf."):
        return t
    return type_ref(t, scope, known)


def emit_enum(e, ind, out):
    out.append("%senum %s {" % (ind, e.full.rsplit(".", 1)[1]))
    for k, v in e.values:
        out.append("%s  %s = %d;" % (ind, k, v))
    out.append("%s}" % ind)


def emit_msg(m, ind, out, known):
    name = m.full.rsplit(".", 1)[1]
    if not m.fields and not m.enums and not m.nested:
        out.append("%smessage %s {}" % (ind, name))
        return
    out.append("%smessage %s {" % (ind, name))
    scope = m.full
    done_oneofs = set()
    for num, fname, label, ftype in m.fields:
        t = render_type(ftype, scope, known)
        if label.startswith("oneof:"):
            oneof = label[len("oneof:"):]
            if oneof in done_oneofs:
                continue
            done_oneofs.add(oneof)
            out.append("%s  oneof %s {" % (ind, oneof))
            for n2, f2, l2, t2 in m.fields:
                if l2 == label:
                    out.append("%s    %s %s = %d;" % (ind, render_type(t2, scope, known), f2, n2))
            out.append("%s  }" % ind)
        elif label == "singular" or label == "map":
            out.append("%s  %s %s = %d;" % (ind, t, fname, num))
        elif label in ("optional", "repeated"):
            out.append("%s  %s %s %s = %d;" % (ind, label, t, fname, num))
        else:
            raise SystemExit("unknown label %r in %s" % (label, m.full))
    for e in m.enums:
        out.append("")
        emit_enum(e, ind + "  ", out)
    for n in m.nested:
        out.append("")
        emit_msg(n, ind + "  ", out, known)
    out.append("%s}" % ind)


def emit_file(f, known):
    out = [
        "// weft's own description of the Weaviate gRPC wire contract (package weaviate.v1).",
        "// Written from the field facts in shared/spec/grpc-descriptors.txt by",
        "// xtask/proto_from_listing.py; checked by `cargo run -p xtask -- check-protos`.",
        "syntax = \"proto3\";",
        "",
        "package %s;" % f.package,
        "",
    ]
    if f.imports:
        for imp in f.imports:
            if imp.startswith("v1/"):
                imp = "weaviate/" + imp
            out.append('import "%s";' % imp)
        out.append("")
    for sname, rpcs in f.services:
        out.append("service %s {" % sname.rsplit(".", 1)[1])
        for name, cs, tin, ss, tout in rpcs:
            out.append("  rpc %s(%s%s) returns (%s%s);" % (
                name, "stream " if cs else "", type_ref(tin, PACKAGE, known),
                "stream " if ss else "", type_ref(tout, PACKAGE, known)))
        out.append("}")
        out.append("")
    for e in f.enums:
        emit_enum(e, "", out)
        out.append("")
    for m in f.messages:
        emit_msg(m, "", out, known)
        out.append("")
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def main():
    listing = sys.argv[1] if len(sys.argv) > 1 else "../shared/spec/grpc-descriptors.txt"
    root = sys.argv[2] if len(sys.argv) > 2 else "proto"
    files = parse(listing)
    known = all_types(files)
    for f in files:
        if f.name in SKIP_FILES:
            continue
        assert f.package == PACKAGE, f.package
        dest = os.path.join(root, "weaviate", f.name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "w", encoding="utf-8") as fh:
            fh.write(emit_file(f, known))
        print("wrote", dest)


if __name__ == "__main__":
    main()
