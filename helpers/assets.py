"""One manifest of every file the labs need, and a verified ``fetch``.

Each asset lists where it can come from, tried in order:

* ``package``: a file shipped inside ``helpers/shipped`` (always there after ``pip install``);
* ``path``: a file installed by a system package (e.g. Debian's ``dataset-fashion-mnist``);
* ``url``: a download into the cache directory (only when the machine is online).

Every copy is checked against the manifest's sha256 before it is used; a corrupted cached
download is removed and fetched again. When no source works, :class:`AssetError` says exactly
what to install or download.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .env import cache_dir

SHIPPED = Path(__file__).resolve().parent / "shipped"


class AssetError(RuntimeError):
    """An asset could not be found or verified; the message says what to do."""


@dataclass(frozen=True)
class Asset:
    name: str
    sha256: str  # of the file's bytes, or of its decompressed bytes when ``gunzip_hash``
    filename: str
    package: str | None = None  # file name under helpers/shipped
    paths: tuple[str, ...] = ()  # system paths (e.g. from a Debian package)
    urls: tuple[str, ...] = ()
    gunzip_hash: bool = False  # hash the decompressed content (mirrors recompress .gz files)
    install_hint: str = ""
    licence: str = ""
    description: str = ""


_FMNIST_DEB = "/usr/share/datasets/fashion-mnist"
_FMNIST_URLS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
)
_FMNIST_HINT = (
    "On Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist`; elsewhere connect to the "
    "internet once so it can be downloaded (about 30 MB), or set LABS_PROFILE=fast to use the "
    "subset shipped with the repository."
)


def _fmnist(name: str, fname: str, sha256: str) -> Asset:
    return Asset(
        name=name,
        sha256=sha256,
        filename=fname,
        paths=(f"{_FMNIST_DEB}/{fname}",),
        urls=tuple(base + fname for base in _FMNIST_URLS),
        gunzip_hash=True,
        install_hint=_FMNIST_HINT,
        licence="MIT (Zalando Research)",
        description="Fashion-MNIST, full set",
    )


def _shipped(name: str, filename: str, sha256: str, description: str, licence: str, rebuild: str = "") -> Asset:
    """A file that ships inside the repository as package data; ``rebuild`` says how to make it again."""
    return Asset(
        name=name, sha256=sha256, filename=filename, package=filename, description=description, licence=licence,
        install_hint="It ships inside the repository: reinstall helpers (`pip install -e .`)"
        + (f" or rebuild it with {rebuild}." if rebuild else "."),
    )


def _built(name: str, filename: str, sha256: str, description: str, script: str, verb: str = "built") -> Asset:
    """A file this repository builds with ``scripts/<script>`` and ships as package data."""
    return _shipped(name, filename, sha256, description, f"MIT (this repository); {verb} by scripts/{script}",
                    rebuild=f"`python scripts/{script}` (see its docstring)")


MANIFEST: dict[str, Asset] = {
    a.name: a
    for a in [
        _fmnist("fashion_mnist_train_images", "train-images-idx3-ubyte.gz",
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        _fmnist("fashion_mnist_train_labels", "train-labels-idx1-ubyte.gz",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        _fmnist("fashion_mnist_test_images", "t10k-images-idx3-ubyte.gz",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        _fmnist("fashion_mnist_test_labels", "t10k-labels-idx1-ubyte.gz",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        _shipped("fashion_mnist_subset", "fashion_mnist_subset.npz",
                 "11895745cf3746a46e3c2a8b75483fe8b3c0efc64ab1d0041517e7ac808c7ef1",
                 "fixed stratified subset of Fashion-MNIST for the fast profile", "MIT (Zalando Research)"),
        *[
            _shipped(f"austen_{novel}", f"austen_{novel}.txt.gz", sha, f"Jane Austen, {title} (Lab 4 {use} text)",
                     "public domain (Project Gutenberg text, via the MIT-licensed R package janeaustenr)",
                     rebuild="scripts/extract_austen.py from the Debian package r-cran-janeaustenr")
            for novel, title, use, sha in [
                ("persuasion", "Persuasion", "evaluation",
                 "bee85b3570864d7a37b27248f4813e199170acc363ef5bb9398173f62e8f8798"),
                ("prideprejudice", "Pride and Prejudice", "calibration",
                 "4fa1220ac785f04d24ec0ba1307db3a15728885efa53d45e5f202b10d6957c42"),
            ]
        ],
        _built("ofa_supernet_fmnist", "ofa_supernet_fmnist.pt",
               "22bb19bcc111cb2d8a95144d1066f9e7008aa42c04909afa544834abd3932979",
               "once-for-all supernet trained on Fashion-MNIST (Lab 3)", "train_supernet.py"),
        _built("nas_arch_table", "nas_arch_table.json.gz",
               "18dd194b061d6c99706efb730c2d67343bba212acd4f604c1c7d0a343c2bb1e8",
               "2,000 sampled subnets of the Lab 3 supernet with their held-out accuracy", "train_supernet.py"),
        _shipped("awq_smollm2_w4g64", "awq_smollm2_w4g64.pt",
                 "562773ed83299e15beee155b76e9a405c6a8797a5e66b6ac9b4dc1d4d43b4bc2",
                 "AWQ scales and clipping thresholds of SmolLM2-135M-Instruct, W4 g64, from the reference Lab 4 "
                 "(Lab 5)", "Apache-2.0 (derived from SmolLM2-135M-Instruct); built by scripts/build_awq_asset.py",
                 rebuild="`python scripts/build_awq_asset.py` (see its docstring)"),
        _built("vgg_fmnist", "vgg_fmnist.pt", "5395828139925e56e86dff84fefc2c2edcf91f7dd016c22178faa8990fd89b4a",
               "dense VGG trained on Fashion-MNIST (Labs 1-2)", "train_dense_vgg.py", verb="trained"),
    ]
}


def sha256_of(path: Path, gunzip: bool = False) -> str:
    digest = hashlib.sha256()
    opener = gzip.open if gunzip else open
    with opener(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(asset: Asset, path: Path) -> bool:
    try:
        return sha256_of(path, asset.gunzip_hash) == asset.sha256
    except (OSError, EOFError, gzip.BadGzipFile):
        return False


def _download(url: str, dest: Path, timeout: float = 30) -> None:
    tmp = dest.with_suffix(dest.suffix + ".part")
    with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
        shutil.copyfileobj(response, out)
    tmp.replace(dest)


def fetch(name: str, download: bool = True) -> Path:
    """Return a verified local path for asset ``name`` (see the module docstring)."""
    if name not in MANIFEST:
        raise AssetError(f"unknown asset {name!r}; known assets: {', '.join(sorted(MANIFEST))}")
    asset = MANIFEST[name]
    tried = []
    candidates = []
    if asset.package:
        candidates.append(SHIPPED / asset.package)
    candidates += [Path(p) for p in asset.paths]
    cached = cache_dir() / "assets" / asset.filename
    candidates.append(cached)
    for path in candidates:
        if path.exists():
            if _verified(asset, path):
                return path
            tried.append(f"{path} exists but its sha256 does not match (corrupted or a different version)")
            if path == cached:
                path.unlink()  # a corrupted download: fetch it again below
        else:
            tried.append(f"{path} not found")
    if download and asset.urls:
        cached.parent.mkdir(parents=True, exist_ok=True)
        for url in asset.urls:
            try:
                _download(url, cached)
            except Exception as exc:  # offline, DNS, HTTP error: try the next mirror
                tried.append(f"download {url} failed ({type(exc).__name__}: {exc})")
                continue
            if _verified(asset, cached):
                return cached
            cached.unlink()
            tried.append(f"download {url} gave a file with the wrong sha256")
    detail = "\n  - ".join(tried)
    raise AssetError(
        f"asset {name!r} ({asset.description}) is not available.\n  - {detail}\n"
        f"What to do: {asset.install_hint}"
    )
