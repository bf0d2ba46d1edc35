"""helpers.assets: the manifest, verified fetch (shipped, system path, download) and its errors."""

import gzip
import hashlib
from dataclasses import replace

import pytest

from helpers import assets
from helpers.assets import MANIFEST, Asset, AssetError, fetch
from helpers.env import CACHE_VARIABLE


def test_shipped_assets_verify():
    for name, asset in MANIFEST.items():
        if asset.package:
            path = fetch(name, download=False)
            assert path.parent == assets.SHIPPED
            assert assets.sha256_of(path) == asset.sha256


def test_manifest_has_licences_and_hints():
    for asset in MANIFEST.values():
        assert asset.licence and (asset.package or asset.paths or asset.urls), asset.name
        assert len(asset.sha256) == 64 and asset.install_hint


def test_unknown_asset_lists_the_known_ones():
    with pytest.raises(AssetError, match="unknown asset 'nope'.*vgg_fmnist"):
        fetch("nope")


@pytest.fixture
def fake_asset(tmp_path, monkeypatch):
    """A manifest entry for a small file, with the cache in tmp_path and downloads faked."""
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    payload = b"weights" * 100
    asset = Asset(name="toy", sha256=hashlib.sha256(payload).hexdigest(), filename="toy.bin",
                  urls=("https://mirror-a.invalid/toy.bin", "https://mirror-b.invalid/toy.bin"),
                  install_hint="install the toy package", description="a toy file")
    monkeypatch.setitem(MANIFEST, "toy", asset)
    calls = []

    def fake_download(url, dest, timeout=30):
        calls.append(url)
        if "mirror-a" in url:
            raise OSError("Temporary failure in name resolution")
        dest.write_bytes(payload)

    monkeypatch.setattr(assets, "_download", fake_download)
    return asset, payload, calls


def test_download_falls_back_to_next_mirror(fake_asset, tmp_path):
    asset, payload, calls = fake_asset
    path = fetch("toy")
    assert path.read_bytes() == payload and len(calls) == 2
    assert fetch("toy") == path and len(calls) == 2  # cached now: no second download


def test_corrupted_cache_is_fetched_again(fake_asset, tmp_path):
    asset, payload, calls = fake_asset
    cached = tmp_path / "cache" / "assets" / "toy.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    assert fetch("toy").read_bytes() == payload
    assert calls  # it downloaded again


def test_offline_error_says_what_to_do(fake_asset, monkeypatch):
    def offline(url, dest, timeout=30):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(assets, "_download", offline)
    with pytest.raises(AssetError) as err:
        fetch("toy")
    message = str(err.value)
    assert "not available" in message and "Network is unreachable" in message
    assert "What to do: install the toy package" in message


def test_wrong_download_is_rejected(fake_asset, monkeypatch):
    monkeypatch.setattr(assets, "_download", lambda url, dest, timeout=30: dest.write_bytes(b"html error page"))
    with pytest.raises(AssetError, match="wrong sha256"):
        fetch("toy")


def test_no_download_when_told(fake_asset):
    asset, payload, calls = fake_asset
    with pytest.raises(AssetError, match="not found"):
        fetch("toy", download=False)
    assert calls == []


def test_system_path_with_gunzip_hash(tmp_path, monkeypatch):
    """Debian recompresses .gz files: the manifest hashes the decompressed bytes."""
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    raw = bytes(range(256)) * 10
    gz = tmp_path / "data.gz"
    with gzip.open(gz, "wb", compresslevel=1) as f:
        f.write(raw)
    asset = Asset(name="gz", sha256=hashlib.sha256(raw).hexdigest(), filename="data.gz",
                  paths=(str(gz),), gunzip_hash=True)
    monkeypatch.setitem(MANIFEST, "gz", asset)
    assert fetch("gz", download=False) == gz
    monkeypatch.setitem(MANIFEST, "gz", replace(asset, sha256="0" * 64))
    with pytest.raises(AssetError, match="sha256 does not match"):
        fetch("gz", download=False)
    assert gz.exists()  # a system file is reported, never deleted


def test_missing_shipped_checkpoint_says_how_to_rebuild(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    monkeypatch.setattr(assets, "SHIPPED", tmp_path / "empty")
    with pytest.raises(AssetError, match=r"(?s)vgg_fmnist.pt not found.*scripts/train_dense_vgg.py"):
        fetch("vgg_fmnist")
