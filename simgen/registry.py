"""One mechanism for what a config picks by name: scene recipes, label kinds, export formats and
trainers each have a :class:`Registry`.

simgen registers its own entries explicitly, in the module that defines the registry or in the
package that ships them. A user's own package adds more without touching simgen, in either of
two ways:

- an **entry point** in the registry's group, declared in the package's metadata, e.g. in its
  pyproject.toml::

      [project.entry-points."simgen.label_kinds"]
      edges = "mypkg.kinds:EDGES"

  Entry points are looked up (importlib.metadata) when a name is missed or the names are
  listed, and a plugin is imported when it is first used;
- a **dotted path** where a name is expected: ``mypkg.kinds:EDGES`` or ``mypkg.kinds.EDGES``
  (a module stands for its registry's default attribute, e.g. a recipe module's ``RECIPE``),
  e.g. ``output.labels=[mypkg.kinds:EDGES]``.

Either way the object passes the registry's own check when it is registered. An unknown name
is one SimgenError line listing the names there are (with a did-you-mean); a plugin that cannot
be imported or fails the check is one line naming it. Entry points and dotted paths are code:
they run with the user's rights (docs/explanation/trust-model.md).
"""

from __future__ import annotations

import importlib
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterator, Optional, TypeVar, Union, overload

from simgen.errors import SimgenError, did_you_mean

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

T = TypeVar("T")
_MISSING: Any = object()


class UnknownName(SimgenError):
    """A name that is neither registered, nor an entry point of the registry's group, nor a
    dotted path to an importable object."""


def is_dotted(name: str) -> bool:
    """Whether ``name`` is a dotted path (``pkg.mod:OBJ`` or ``pkg.mod.OBJ``), not a plain name."""
    return ":" in name or "." in name


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


@dataclass(frozen=True)
class _Lazy:
    """A registered entry imported on first use: ``module:attribute``."""

    target: str


PLAIN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
"""A name an entry may take (it may name a folder or appear in a config value): a letter, then
letters, digits, '_' or '-'."""


class Registry(Generic[T]):
    """Named objects of one kind (e.g. label kinds), extendable by entry points and dotted paths.

    ``kind`` names the objects in messages ("label kind"); ``group`` is the entry-point group
    (``simgen.label_kinds``). ``name_of(obj)`` is an object's own name, if it has one: an entry
    point must use it, and an object reached by a dotted path registers under it (the path
    becomes an alias); without it, an object registers under the name it was reached by.
    ``cls``: the type every entry is (anything else is one line naming ``where`` and what it is);
    ``check(obj, where)`` then raises a one-line SimgenError (naming ``where``) unless ``obj`` is a
    well-formed entry. ``attr``: the attribute a module stands for when a dotted path (or an
    entry point) names a module. ``hint``: how to add one, for the unknown-name error.

    The registry reads like a mapping of names: ``name in registry``, ``registry[name]``,
    iteration over :meth:`names`, :meth:`values`, :meth:`items`.
    """

    def __init__(self, kind: str, group: str, *, name_of: Optional[Callable[[T], str]] = None,
                 cls: Optional[type] = None, check: Optional[Callable[[Any, str], None]] = None,
                 attr: Optional[str] = None, hint: Optional[str] = None):
        self.kind = kind
        self.hint = hint or f"your own: a dotted path mypkg.module:OBJECT, or an entry point in the group {group}"
        self.group = group
        self._name_of = name_of
        self._cls = cls
        self._custom_check = check
        self._attr = attr
        self._entries: dict[str, Union[T, _Lazy]] = {}
        self._aliases: dict[str, str] = {}
        """Dotted path used -> the name its object registered under (the path itself without name_of)."""
        self._path_only: set[str] = set()
        """Names registered only because a dotted path was used: not among :meth:`names`."""
        self._from_plugins: set[str] = set()
        """Names registered from an entry point."""
        self._plugins: Optional[dict[str, list[EntryPoint]]] = None
        """The group's entry points by name (None: not looked up yet)."""
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ adding

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T) -> T: ...
    @overload
    def register(self, name: T) -> T: ...
    @overload
    def register(self, name: str, *, lazy: str) -> None: ...

    def register(self, name: Any, obj: Any = _MISSING, *, lazy: Optional[str] = None) -> Any:
        """Add ``obj`` under ``name`` and return it. ``@registry.register("name")`` decorates;
        ``register(obj)`` uses the object's own name (``name_of``); ``register(name,
        lazy="pkg.mod:OBJ")`` imports the object when it is first used. A name taken by another
        object is a SimgenError."""
        if not isinstance(name, str):
            if obj is not _MISSING or self._name_of is None:
                raise TypeError(f"{self.kind} registry: register(name, obj)")
            return self.register(self._name_of(name), name)
        if lazy is not None:
            with self._lock:
                if name in self._entries and self._entries[name] != _Lazy(lazy):
                    raise SimgenError(f"{self.kind} {name!r} is registered twice")
                self._entries[name] = _Lazy(lazy)
            return None
        if obj is _MISSING:
            def decorate(o: T) -> T:
                return self.register(name, o)
            return decorate
        with self._lock:
            self._add(name, obj, f"{self.kind} {name!r}")
            self._path_only.discard(name)
            return obj

    def _check(self, obj: Any, where: str) -> None:
        """The entry's type (``cls``), then the registry's own ``check``."""
        if self._cls is not None and not isinstance(obj, self._cls):
            raise SimgenError(f"{where} is not a {self._cls.__module__}.{self._cls.__qualname__} "
                              f"(it is a {type(obj).__name__})")
        if self._custom_check is not None:
            self._custom_check(obj, where)

    def _add(self, name: str, obj: Any, where: str, path: Optional[str] = None) -> T:
        """Check ``obj`` (``where`` names it in errors) and register it under ``name``; ``path``:
        the dotted path it was reached by."""
        with self._lock:
            self._check(obj, where)
            own = self._name_of(obj) if self._name_of is not None else None
            if own is not None and own != name:
                raise SimgenError(f"{where}: its name is {own!r}, not {name!r}; register it under its own name")
            old = self._entries.get(name, _MISSING)
            if old is not _MISSING and not isinstance(old, _Lazy) and old is not obj and old != obj \
                    and not (path is not None and self._aliases.get(path) == name):  # a reloaded module
                raise SimgenError(f"{where}: the {self.kind} name {name!r} is taken by {self._taken_by(name)}; "
                                  "give it another name")
            self._entries[name] = obj
            return obj

    def _taken_by(self, name: str) -> str:
        if name in self._from_plugins:
            return "another plugin's"
        if name in self._path_only:
            return "one named by a dotted path"
        return "simgen's own"

    # ------------------------------------------------------------------ looking up

    def get(self, name: str) -> T:
        """The entry ``name``: registered, an entry point of the group, or a dotted path; a
        one-line SimgenError (:class:`UnknownName` when there is none) otherwise. A dotted path
        is looked up in its module each time (cheap once imported; a reloaded module gives its
        new object)."""
        with self._lock:
            if name in self._aliases:
                return self._load_path(name)
            found = self._known(name)
            if found is not _MISSING:
                return found
            if not is_dotted(name):
                self._plugins = None  # installed since the last look-up?
                if name in self._entry_points():
                    return self._load_plugin(name)
                raise UnknownName(self.unknown_message(name))
            return self._load_path(name)

    def names(self, plugins: bool = True) -> list[str]:
        """The names to choose from: those registered in code (simgen's own) in registration
        order, with the plugins already used; then the group's entry points not used yet, sorted.
        Objects reached by a dotted path are not listed (their path names them). ``plugins=False``:
        those registered in code only."""
        with self._lock:
            if not plugins:
                return [n for n in self._entries if n not in self._path_only and n not in self._from_plugins]
            own = [n for n in self._entries if n not in self._path_only]
            return own + sorted(n for n in self._entry_points() if n not in self._entries)

    def values(self, plugins: bool = True) -> list[T]:
        """Every entry in registration order: those of :meth:`names` (imported now if they were
        not yet), and those reached by a dotted path so far. ``plugins=False``: those registered
        in code only."""
        with self._lock:
            names = self.names(plugins)
            for name in names:
                self.get(name)
            return [v for n, v in self._entries.items() if plugins or n in names]  # type: ignore[misc]

    def items(self) -> list[tuple[str, T]]:
        with self._lock:
            values = self.values()
            return list(zip(list(self._entries), values))

    def unknown_message(self, name: str, choices: Optional[list[str]] = None) -> str:
        """The one line for an unknown ``name``: the choices, a did-you-mean, how to add one."""
        choices = self.names() if choices is None else choices
        guess = did_you_mean(name, choices)
        return (f"unknown {self.kind} {name!r}; choose one of {choices}" + (f"; {guess}" if guess else "")
                + f" ({self.hint})")

    def __contains__(self, name: object) -> bool:
        """Whether ``name`` names an entry (a dotted path is imported to find out; a plugin that
        is there but broken raises its SimgenError)."""
        if not isinstance(name, str):
            return False
        try:
            self.get(name)
        except UnknownName:
            return False
        return True

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"<{self.kind} registry {self.group}: {', '.join(self._entries)}>"

    # ------------------------------------------------------------------ loading

    def _known(self, name: str) -> Any:
        """The entry registered as ``name`` (or under a dotted path already used), else _MISSING."""
        name = self._aliases.get(name, name)
        entry = self._entries.get(name, _MISSING)
        if isinstance(entry, _Lazy):
            obj = _import(entry.target, self._attr, f"{self.kind} {name!r} ({entry.target})")
            return self._add(name, obj, f"{self.kind} {entry.target}")
        if entry is _MISSING and self._plugins is not None and name in self._plugins:
            return self._load_plugin(name)
        return entry

    def _entry_points(self) -> dict[str, list[EntryPoint]]:
        if self._plugins is None:
            from importlib.metadata import entry_points

            found: dict[str, list[EntryPoint]] = {}
            for ep in entry_points(group=self.group):
                found.setdefault(ep.name, []).append(ep)
            self._plugins = found
        return self._plugins

    def _load_plugin(self, name: str) -> T:
        eps = self._entry_points()[name]
        where = f"{self.kind} plugin {name!r} ({_origin(eps[0])})"
        if len({ep.value for ep in eps}) > 1:
            raise SimgenError(f"{self.kind} plugin {name!r} is given by several installed packages "
                              f"({'; '.join(_origin(ep) for ep in eps)}); uninstall all but one")
        try:
            obj = eps[0].load()
        except Exception as e:  # noqa: BLE001 (a plugin may fail in any way: one line naming it)
            raise SimgenError(f"{where} cannot be loaded: {_one_line(e)}") from None
        if self._attr is not None and _is_module(obj):
            obj = getattr(obj, self._attr, None)
        self._add(name, obj, where)
        self._from_plugins.add(name)
        return obj

    def _load_path(self, path: str) -> T:
        try:
            obj = _import(path, self._attr, f"{self.kind} {path}")
        except ModuleNotFoundError as e:
            raise UnknownName(f"{self.unknown_message(path)}; no module named {e.name!r}") from None
        where = f"{self.kind} {path}"
        self._check(obj, where)  # before its name is read
        name = self._name_of(obj) if self._name_of is not None else path
        if name not in self._entries:
            self._path_only.add(name)
        self._add(name, obj, where, path)
        self._aliases[path] = name
        return obj


def _is_module(obj: Any) -> bool:
    import types

    return isinstance(obj, types.ModuleType)


def _origin(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{ep.value} from {dist.name} {dist.version}" if dist is not None else ep.value


def _import(path: str, attr: Optional[str], where: str) -> Any:
    """The object of ``pkg.mod:OBJ`` / ``pkg.mod.OBJ`` (a module: its ``attr``, if given).
    ModuleNotFoundError when the module named is not there; a one-line SimgenError when it fails
    to import or has no such object."""
    module_name, colon, rest = path.partition(":")
    candidates = [(module_name, rest)] if colon else [(path, "")] + (
        [(path.rpartition(".")[0], path.rpartition(".")[2])] if "." in path else [])
    for i, (mod, attrs) in enumerate(candidates):
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            missing_is_ours = e.name is not None and (mod == e.name or mod.startswith(e.name + "."))
            if missing_is_ours and i + 1 < len(candidates):
                continue  # pkg.mod.OBJ: not a module, so an object of pkg.mod
            if missing_is_ours:
                raise
            raise SimgenError(f"{where} cannot be imported: {_one_line(e)}") from None
        except Exception as e:  # noqa: BLE001 (any error of the user's module: one line naming it)
            raise SimgenError(f"{where} cannot be imported: {_one_line(e)}") from None
        obj: Any = module
        for part in [a for a in attrs.split(".") if a]:
            if not hasattr(obj, part):
                raise SimgenError(f"{where}: module {mod} has no {attrs!r}")
            obj = getattr(obj, part)
        if attrs == "" and attr is not None:
            obj = getattr(module, attr, None)
        return obj
    raise AssertionError("unreachable")
