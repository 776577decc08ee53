"""Download the documentation pages' bundled assets from npm and check them against their pins.

The pins (package, version, file, SHA-256) are in src/sqr_reports/apidocs/bundled.py; the copies
are in src/sqr_reports/apidocs/static/<package>/ (see its README.md). Needs `npm` (the npm
registry); run from the repository root:

    .venv/bin/python scripts/docs_assets.py            # re-download the pinned versions, check
                                                       # every file, and (re)write the copies
    .venv/bin/python scripts/docs_assets.py --check    # check the copies only (no network)

To move to another version: `--version swagger-ui-dist=5.36.0` (or `redoc=2.5.5`) downloads it,
copies its files and prints their digests; review the diff, put the version and the digests in
bundled.py and static/README.md, then run the script without options: it must pass.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from sqr_reports.apidocs.bundled import PACKAGES, BundledPackage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="check the copies, download nothing")
    parser.add_argument(
        "--version",
        action="append",
        default=[],
        metavar="PACKAGE=VERSION",
        help="download this version instead of the pinned one (prints its digests)",
    )
    args = parser.parse_args(argv)
    if args.check:
        return 0 if all(_check_copies(package) for package in PACKAGES) else 1
    versions = dict(item.split("=", 1) for item in args.version)
    unknown = set(versions) - {package.npm for package in PACKAGES}
    if unknown:
        parser.error(f"unknown package(s): {', '.join(sorted(unknown))}")
    ok = True
    with tempfile.TemporaryDirectory(prefix="docs-assets-") as scratch:
        for package in PACKAGES:
            version = versions.get(package.npm, package.version)
            ok &= _fetch(package, version, Path(scratch), pinned=version == package.version)
    return 0 if ok else 1


def _fetch(package: BundledPackage, version: str, scratch: Path, *, pinned: bool) -> bool:
    """`npm pack` (which checks the tarball against the registry's integrity digest), then every
    file against its pin, then copy; an unpinned version is copied and its digests printed."""
    spec = f"{package.npm}@{version}"
    # npm from PATH, with a pinned package name: nothing here comes from untrusted input.
    packed = subprocess.run(  # noqa: S603
        ["npm", "pack", spec, "--json", "--pack-destination", str(scratch)],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    )
    tarball = scratch / json.loads(packed.stdout)[0]["filename"]
    contents: dict[str, bytes] = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for file in package.files:
            member = tar.extractfile(file.source)
            if member is None:
                sys.exit(f"{spec}: {file.source} is not a regular file")
            contents[file.name] = member.read()
    ok = True
    for file in package.files:
        digest = hashlib.sha256(contents[file.name]).hexdigest()
        if pinned and digest != file.sha256:
            print(f"{spec} {file.name}: sha256 {digest}, pinned {file.sha256}: NOT copied")
            ok = False
    if not ok:
        return False
    package.folder.mkdir(parents=True, exist_ok=True)
    for file in package.files:
        target = package.folder / file.name
        if not target.exists() or target.read_bytes() != contents[file.name]:
            target.write_bytes(contents[file.name])
        digest = hashlib.sha256(contents[file.name]).hexdigest()
        state = "ok" if pinned else "NEW, pin it in bundled.py and static/README.md"
        print(f"{spec} {file.name}: {len(contents[file.name])} bytes, sha256 {digest} ({state})")
    return True


def _check_copies(package: BundledPackage) -> bool:
    ok = True
    for file in package.files:
        path = package.folder / file.name
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"
        if digest != file.sha256:
            print(f"{path}: sha256 {digest}, pinned {file.sha256}")
            ok = False
    print(f"{package.url_segment}: {'ok' if ok else 'MISMATCH'}")
    return ok


if __name__ == "__main__":
    sys.exit(main())
