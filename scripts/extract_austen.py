"""Extract Jane Austen's novels from the Debian package ``r-cran-janeaustenr`` into helpers/shipped.

The package stores the novels as R objects (character vectors, one element per line of the
Project Gutenberg text) in an R lazy-load database (``data/Rdata.rdx`` + ``data/Rdata.rdb``). This
script reads that database without R: the ``.rdx`` index (a gzipped R serialization) gives each
object's offset and length in the ``.rdb`` file; each blob is a zlib-compressed R serialization
stream (XDR format), of which we need only character vectors, lists and attributes.

    apt-get download r-cran-janeaustenr && dpkg -x r-cran-janeaustenr_*.deb deb/
    python scripts/extract_austen.py deb/usr/lib/R/site-library/janeaustenr

writes ``helpers/shipped/austen_<novel>.txt.gz`` for the novels in ``SHIPPED_NOVELS`` and prints
their sha256 for the asset manifest. The texts are public domain (Project Gutenberg); the R
package that collects them is MIT-licensed (Julia Silge).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import struct
import zlib
from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[1] / "helpers" / "shipped"
# evaluation and calibration texts of Lab 4 (see helpers.data.load_austen)
SHIPPED_NOVELS = ("persuasion", "prideprejudice")

# R serialization type codes (R Internals, "Serialization Formats")
NILVALUE, REF, SYM, LIST, CHAR, LGL, INT, REAL, STR, VEC = 254, 255, 1, 2, 9, 10, 13, 14, 16, 19
SPECIAL_ENVS = {242, 241, 253, 252, 251, 247}  # empty/base/global env, unbound, missing, base ns


class RReader:
    """A minimal reader of R's XDR serialization (enough for vectors, lists and attributes)."""

    def __init__(self, data: bytes):
        self.f = io.BytesIO(data)
        self.refs: list = []
        if self.f.read(2) != b"X\n":
            raise ValueError("not an XDR R serialization stream")
        version = self.int()
        self.int(), self.int()  # writer's R version, minimal reader version
        if version == 3:
            self.f.read(self.int())  # native encoding name

    def int(self) -> int:
        return struct.unpack(">i", self.f.read(4))[0]

    def length(self) -> int:
        n = self.int()
        if n == -1:  # long vector: two more ints
            hi, lo = self.int(), self.int()
            n = (hi << 32) + lo
        return n

    def item(self):
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind == NILVALUE or kind in SPECIAL_ENVS:
            return None
        if kind == REF:
            index = flags >> 8 or self.int()
            return self.refs[index - 1]
        if kind == SYM:
            name = self.item()
            self.refs.append(name)
            return name
        if kind == LIST:  # pairlist: attributes, tag, car, cdr
            attrs = self.item() if has_attr else None
            tag = self.item() if has_tag else None
            head = [(tag, self.item())]
            rest = self.item()
            del attrs
            return head + (rest or [])
        if kind == CHAR:
            n = self.int()
            return None if n == -1 else self.f.read(n).decode("utf-8", errors="replace")
        if kind in (LGL, INT):
            n = self.length()
            value = list(struct.unpack(f">{n}i", self.f.read(4 * n)))
        elif kind == REAL:
            n = self.length()
            value = list(struct.unpack(f">{n}d", self.f.read(8 * n)))
        elif kind in (STR, VEC):
            value = [self.item() for _ in range(self.length())]
        else:
            raise ValueError(f"R type {kind} is not supported by this small reader")
        if has_attr:
            attributes = dict(self.item())
            if "names" in attributes and kind == VEC:
                return dict(zip(attributes["names"], value))
        return value


def _unzip_blob(blob: bytes) -> bytes:
    # each blob: 4-byte big-endian uncompressed length, then a zlib stream
    return zlib.decompress(blob[4:])


def read_lazyload(prefix: Path) -> dict[str, object]:
    """Read every object of the R lazy-load database ``prefix.rdx`` / ``prefix.rdb``."""
    index = RReader(gzip.decompress(prefix.with_suffix(".rdx").read_bytes())).item()  # an .rds file
    rdb = prefix.with_suffix(".rdb").read_bytes()
    objects = {}
    for name, (offset, size) in index["variables"].items():
        objects[name] = RReader(_unzip_blob(rdb[offset: offset + size])).item()
    return objects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("package_dir", type=Path, help="the installed janeaustenr folder (holds data/Rdata.rdx)")
    parser.add_argument("--out", type=Path, default=SHIPPED)
    args = parser.parse_args()
    novels = read_lazyload(args.package_dir / "data" / "Rdata")
    print("objects in the package:", ", ".join(sorted(novels)))
    for name in SHIPPED_NOVELS:
        text = "\n".join(line or "" for line in novels[name]) + "\n"
        path = args.out / f"austen_{name}.txt.gz"
        # mtime=0: the same text always gives the same bytes (and sha256)
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
            gz.write(text.encode("utf-8"))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{path.name}: {len(novels[name])} lines, {len(text):,} characters, "
              f"{path.stat().st_size:,} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
