"""Find unit files on disk, apply drop-ins and templates, and enable/disable/mask them.

Directory layout (``systemd.unit(5)``, highest priority first): the persistent admin
directory (``/etc/systemd/system``), the runtime directory (``/run/systemd/system``, where
fleet links its units) and vendor directories (``/lib/systemd/system``). For a unit NAME:

- the fragment is the first ``NAME`` found; for an instance ``foo@x.service`` without its own
  file, the template ``foo@.service`` is used;
- the fragment is *masked* if it is a link to ``/dev/null`` or an empty file;
- drop-ins are every ``*.conf`` in ``foo@.service.d/`` (templates) then ``NAME.d/`` across
  all directories; a file name in a higher-priority directory hides the same name below; they
  are applied in file-name order;
- ``NAME.wants/`` and ``NAME.requires/`` entries add Wants=/Requires= (what ``enable``
  writes).

This module does file I/O; it stays synchronous because unit files are small and loading
happens on ``daemon-reload``, not per request.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

from pycoreos.units.config import UnitConfig, build_config
from pycoreos.units.errors import NoSuchUnitError, UnitFileError, UnitMaskedError
from pycoreos.units.names import SpecifierContext, parse_name
from pycoreos.units.unitfile import UnitFile, parse_unit

__all__ = ["LoadState", "LoadedUnit", "UnitPaths", "load_unit"]

# Built-in targets so that "WantedBy=multi-user.target" works on a bare node.
BUILTIN_UNITS = {
    "multi-user.target": "[Unit]\nDescription=Multi-User System\n",
    "default.target": "[Unit]\nDescription=Default target\nRequires=multi-user.target\n"
    "After=multi-user.target\n",
}


class LoadState(enum.StrEnum):
    """What systemd reports as ``LoadState``."""

    LOADED = "loaded"
    NOT_FOUND = "not-found"
    ERROR = "error"
    MASKED = "masked"


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitPaths:
    """Unit directories. ``persistent`` gets enable/mask links; ``runtime`` gets fleet's units."""

    persistent: Path
    runtime: Path
    vendor: tuple[Path, ...] = ()

    @classmethod
    def under(cls, root: Path) -> UnitPaths:
        """The standard layout below ``root`` (``/`` for a real host)."""
        return cls(
            persistent=root / "etc/systemd/system",
            runtime=root / "run/systemd/system",
            vendor=(root / "lib/systemd/system",),
        )

    @property
    def search(self) -> tuple[Path, ...]:
        """All directories, highest priority first."""
        return (self.persistent, self.runtime, *self.vendor)

    def create(self) -> None:
        """Create the writable directories."""
        self.persistent.mkdir(parents=True, exist_ok=True)
        self.runtime.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedUnit:
    """The result of loading one unit name; ``config`` is set only when ``state`` is loaded."""

    name: str
    state: LoadState
    config: UnitConfig | None = None
    error: UnitFileError | None = None
    unit_file: UnitFile | None = None
    fragment_path: str = ""

    def require_config(self) -> UnitConfig:
        """The config, or the typed error explaining why there is none."""
        from pycoreos.units.errors import UnitLoadError

        if self.state is LoadState.MASKED:
            raise UnitMaskedError(self.name)
        if self.state is LoadState.NOT_FOUND:
            raise NoSuchUnitError(self.name)
        if self.error is not None:
            raise UnitLoadError(self.name, self.error)
        assert self.config is not None
        return self.config


def _is_masked(path: Path) -> bool:
    try:
        if path.is_symlink() and os.readlink(path) == "/dev/null":
            return True
        return path.resolve() == Path("/dev/null") or path.stat().st_size == 0
    except OSError:
        return False


def _find(paths: UnitPaths, name: str) -> Path | None:
    for d in paths.search:
        p = d / name
        if p.is_symlink() or p.exists():
            return p
    return None


def _link_dir_entries(paths: UnitPaths, dirname: str) -> tuple[str, ...]:
    names: list[str] = []
    for d in paths.search:
        sub = d / dirname
        if sub.is_dir():
            names.extend(e for e in sorted(os.listdir(sub)) if e not in names)
    return tuple(names)


def _dropins(paths: UnitPaths, names: list[str]) -> list[Path]:
    chosen: dict[str, Path] = {}
    for n in names:
        for d in paths.search:
            sub = d / f"{n}.d"
            if not sub.is_dir():
                continue
            for entry in sorted(os.listdir(sub)):
                if entry.endswith(".conf") and entry not in chosen:
                    chosen[entry] = sub / entry
    return [chosen[k] for k in sorted(chosen) if not _is_masked(chosen[k])]


def load_unit(name: str, paths: UnitPaths, ctx: SpecifierContext | None = None) -> LoadedUnit:
    """Load unit ``name`` from ``paths``; never raises for problems in the files.

    Problems become ``LoadState.ERROR`` with ``error`` set (file, line, key), as systemd
    keeps a unit with a bad file listed with load state ``error``.

    Raises:
        ValueError: if ``name`` is not a valid unit name (caller misuse).
    """
    uname = parse_name(name)
    fragment = _find(paths, name)
    if fragment is None and uname.template is not None:
        fragment = _find(paths, uname.template)
    if fragment is not None and _is_masked(fragment):
        return LoadedUnit(name=name, state=LoadState.MASKED, fragment_path=str(fragment))
    try:
        if fragment is None:
            if name not in BUILTIN_UNITS:
                return LoadedUnit(name=name, state=LoadState.NOT_FOUND)
            base = parse_unit(BUILTIN_UNITS[name], file=f"<builtin {name}>")
        else:
            base = parse_unit(fragment.read_text(errors="surrogateescape"), file=str(fragment))
        dropin_names = [n for n in (uname.template, name) if n]
        dropin_files = _dropins(paths, dropin_names)
        dropins = [
            parse_unit(p.read_text(errors="surrogateescape"), file=str(p)) for p in dropin_files
        ]
        merged = base.merged(*dropins)
        config = build_config(
            merged,
            name,
            ctx,
            extra_wants=_link_dir_entries(paths, f"{name}.wants"),
            extra_requires=_link_dir_entries(paths, f"{name}.requires"),
            fragment_path=str(fragment or ""),
            dropin_paths=tuple(str(p) for p in dropin_files),
        )
    except UnitFileError as e:
        return LoadedUnit(
            name=name, state=LoadState.ERROR, error=e, fragment_path=str(fragment or "")
        )
    except OSError as e:
        err = UnitFileError(f"cannot read: {e.strerror}", file=str(fragment or name))
        return LoadedUnit(name=name, state=LoadState.ERROR, error=err)
    return LoadedUnit(
        name=name,
        state=LoadState.LOADED,
        config=config,
        unit_file=merged,
        fragment_path=str(fragment or ""),
    )


def list_unit_names(paths: UnitPaths) -> list[str]:
    """Every unit file name in the directories (templates excluded), sorted."""
    names: set[str] = set()
    for d in paths.search:
        if not d.is_dir():
            continue
        for entry in os.listdir(d):
            try:
                un = parse_name(entry)
            except ValueError:
                continue
            if not un.is_template and not (d / entry).is_dir():
                names.add(entry)
    return sorted(names)


def enable(name: str, paths: UnitPaths, *, runtime: bool = False) -> list[str]:
    """Link ``name`` into the ``.wants/``/``.requires/`` of its ``[Install]`` targets.

    Returns:
        systemctl-style change lines (``Created symlink A -> B.``).

    Raises:
        NoSuchUnitError, UnitMaskedError, UnitLoadError: if the unit cannot be loaded.
    """
    lu = load_unit(name, paths)
    cfg = lu.require_config()
    base = paths.runtime if runtime else paths.persistent
    changes: list[str] = []
    links = [(t, "wants") for t in cfg.install.wanted_by]
    links += [(t, "requires") for t in cfg.install.required_by]
    for target, kind in links:
        d = base / f"{target}.{kind}"
        d.mkdir(parents=True, exist_ok=True)
        link = d / name
        if link.is_symlink() or link.exists():
            continue
        link.symlink_to(lu.fragment_path or "/dev/null")
        changes.append(f"Created symlink {link} \u2192 {lu.fragment_path}.")
    for also in cfg.install.also:
        if also != name:
            changes += enable(also, paths, runtime=runtime)
    return changes


def disable(name: str, paths: UnitPaths) -> list[str]:
    """Remove every ``.wants/``/``.requires/`` link to ``name`` in the writable directories."""
    changes: list[str] = []
    for base in (paths.persistent, paths.runtime):
        if not base.is_dir():
            continue
        for sub in sorted(base.iterdir()):
            if sub.is_dir() and sub.name.endswith((".wants", ".requires")):
                link = sub / name
                if link.is_symlink() or link.exists():
                    link.unlink()
                    changes.append(f"Removed {link}.")
    return changes


def is_enabled(name: str, paths: UnitPaths) -> str:
    """``enabled``, ``disabled``, ``static`` (no [Install]), ``masked`` or ``not-found``."""
    lu = load_unit(name, paths)
    if lu.state is LoadState.MASKED:
        return "masked"
    if lu.state is LoadState.NOT_FOUND:
        return "not-found"
    for base in (paths.persistent, paths.runtime):
        if base.is_dir():
            for sub in base.iterdir():
                if sub.name.endswith((".wants", ".requires")) and (sub / name).is_symlink():
                    return "enabled"
    cfg = lu.config
    if cfg is not None and not (cfg.install.wanted_by or cfg.install.required_by):
        return "static"
    return "disabled"


def mask(name: str, paths: UnitPaths, *, runtime: bool = False) -> list[str]:
    """Link ``name`` to /dev/null in the persistent (or runtime) directory."""
    parse_name(name)
    base = paths.runtime if runtime else paths.persistent
    base.mkdir(parents=True, exist_ok=True)
    link = base / name
    if link.is_symlink() and os.readlink(link) == "/dev/null":
        return []
    if link.exists() or link.is_symlink():
        raise FileExistsError(f"Failed to mask unit: File {link} already exists.")
    link.symlink_to("/dev/null")
    return [f"Created symlink {link} \u2192 /dev/null."]


def unmask(name: str, paths: UnitPaths) -> list[str]:
    """Remove /dev/null links for ``name``."""
    changes: list[str] = []
    for base in (paths.persistent, paths.runtime):
        link = base / name
        if link.is_symlink() and os.readlink(link) == "/dev/null":
            link.unlink()
            changes.append(f"Removed {link}.")
    return changes
