"""Verify the assets the labs use and say what is missing (run by `make setup`).

Shipped files must be intact (exit 1 otherwise). The full Fashion-MNIST set is optional for the
fast profile: when it is missing this installs Debian's `dataset-fashion-mnist` if it can (root
with apt-get), else tries one download, else prints what to do.
"""

import os
import shutil
import subprocess
import sys

from helpers.assets import MANIFEST, AssetError, fetch

FULL_SET = [name for name in MANIFEST if name.startswith("fashion_mnist_") and name != "fashion_mnist_subset"]


def main() -> int:
    ok = True
    for name, asset in MANIFEST.items():
        if asset.package:
            try:
                print(f"[OK] {name}: {fetch(name)}")
            except AssetError as exc:
                print(f"[FAIL] {exc}")
                ok = False
    try:
        for name in FULL_SET:
            fetch(name, download=False)
        print("[OK] full Fashion-MNIST set (full profile)")
    except AssetError:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            print("installing Debian's dataset-fashion-mnist for the full profile ...")
            subprocess.run(["apt-get", "install", "-y", "-q", "dataset-fashion-mnist"], check=False,
                           stdout=subprocess.DEVNULL)
        try:
            for name in FULL_SET:
                fetch(name)
            print("[OK] full Fashion-MNIST set (full profile)")
        except AssetError as exc:
            print("[WARN] the full profile needs the full Fashion-MNIST set; the fast profile works without it.")
            print(exc)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
