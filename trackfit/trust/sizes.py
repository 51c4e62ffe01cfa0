"""What skops would unpack from a model file, counted and capped before it reads any."""

import json

from .policy import Refused

# What skops reads from a model file (a zip: schema.json, then each member a "file" key of
# the schema names, once per object that names it) is capped before it reads any of it:
# at most UNPACK_RATIO times the file's own size (a skops file MLflow writes is stored,
# not deflated: what it reads is about its size), or UNPACK_FLOOR for a small file, and
# never more than MAX_UNPACKED. The built-ins fitted on 1M rows write at most ~14 GB
# (extra-trees' 100 fully grown trees), read ~1.8 times their size at most (knn).
MAX_UNPACKED = 64 * 2**30
UNPACK_RATIO = 20
UNPACK_FLOOR = 256 * 2**20
MAX_SCHEMA = 64 * 2**20  # schema.json, parsed whole by skops
MAX_MEMBERS = 100_000  # members of the zip, and objects of the schema naming one


def unpacked(source, size):
    """The bytes skops would read from the skops file ``source`` (a path or a file object)
    of ``size`` bytes, counted from its zip directory and schema.json before any member is
    read; Refused past the caps above (MAX_UNPACKED and its neighbours)."""
    import zipfile

    allowed = min(MAX_UNPACKED, max(UNPACK_FLOOR, UNPACK_RATIO * size))
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                raise Refused(f"its model file holds {len(members)} members, more than the "
                              f"{MAX_MEMBERS} trackfit reads from a skops file")
            sizes = {member.filename: member.file_size for member in members}
            total = sum(member.file_size for member in members)
            if sizes.get("schema.json", MAX_SCHEMA + 1) > MAX_SCHEMA:
                raise Refused(f"its model file is not a skops file of at most "
                              f"{size_text(MAX_SCHEMA)} of schema.json")
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, ValueError, RecursionError, OSError, EOFError) as exc:
        raise Refused(f"its model file is not a skops file ({type(exc).__name__})") from None
    read = _referenced(schema, sizes)
    if max(total, read) > allowed:
        raise Refused(
            f"its model file would unpack to {size_text(max(total, read))} when loaded, past "
            f"the cap of {size_text(allowed)} for a file of {size_text(size)} ({UNPACK_RATIO} "
            f"times its size, at least {size_text(UNPACK_FLOOR)}, at most "
            f"{size_text(MAX_UNPACKED)}): a zip bomb, not a model saved by MLflow")
    return read


def _referenced(schema, sizes):
    """What skops reads of the members ``schema`` names: each object naming one reads it,
    unless an object of the same ``__id__`` came before (skops loads that one once)."""
    by_id, read, count, stack = {}, 0, 0, [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
            name = node.get("file")
            if not isinstance(name, str):
                continue
            count += 1
            if count > MAX_MEMBERS:
                raise Refused(f"its model file's schema names members more than "
                              f"{MAX_MEMBERS} times")
            size = sizes.get(name, 0)
            saved_id = node.get("__id__")
            if saved_id and isinstance(saved_id, int):  # the largest one of that id, once
                by_id[saved_id] = max(by_id.get(saved_id, 0), size)
            else:
                read += size
    return read + sum(by_id.values())


def size_text(count):
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"
