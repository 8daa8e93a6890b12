"""The ``byok`` command line (console script ``byok = byok_magic.cli:main``).

::

    byok keys set NAME [--bearer]     hidden prompt (or a key piped on stdin); stores it
    byok keys set NAME --oauth [--file PATH | --from gcloud]
                                      an OAuth credential JSON (piped, a file, or gcloud's)
    byok keys list                    profile, where its secret comes from, masked value
    byok keys delete NAME [--bearer]  removes what is stored for the profile
    byok usage [--since DATE] [--by profile|model|day|...] [--plot FILE.png] [--export FILE.csv]
               [--clear [--before DATE]]  the usage log as a table

Secrets go to the vetted OS keyring (docs/security.md); without one, ``set`` fails and says which
environment variable to use instead. ``BYOK_MAGIC_INSECURE_FILE_STORE=1`` explicitly selects a
plaintext 0600 file instead (see :mod:`byok_magic.filestore`).

A key is never accepted as an argument: it would already be in the shell history. Any argument
that looks like one is refused, without echoing it, with advice to rotate it.

Errors are one line on stderr, no traceback (``BYOK_DEBUG=1`` shows one, redacted). Exit codes:
0 success, 1 the operation failed (keyring unusable, nothing stored, empty input), 2 usage
(unknown profile, bad arguments, a key given as an argument).

Adding a subcommand is one parser function registered with :func:`command` plus its handler::

    @command("models", "list models")
    def _models_parser(p: argparse.ArgumentParser) -> None:
        p.add_argument("profile", nargs="?")
        p.set_defaults(run=_models)        # _models(args) -> exit code
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from .errors import ByokError, ConfigError, KeyStoreError
from .redact import looks_like_key, redact, remember

if TYPE_CHECKING:
    from .config import Profile

Builder = Callable[[argparse.ArgumentParser], None]
# name -> (one-line help, function that adds arguments and set_defaults(run=handler))
_commands: dict[str, tuple[str, Builder]] = {}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MAX_INPUT = 1 << 20  # a key is tiny; an OAuth JSON is a few KiB


def command(name: str, help: str) -> Callable[[Builder], Builder]:
    """Register a subcommand: the decorated function fills in its parser."""

    def register(fn: Builder) -> Builder:
        _commands[name] = (help, fn)
        return fn

    return register


class _Parser(argparse.ArgumentParser):
    """argparse with one-line, redacted usage errors (exit 2) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {redact(message)} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import PackageNotFoundError, version

    from . import cli_commands  # noqa: F401  (registers ask, models, profiles, add, remove, use)

    try:
        ver = version("byok_magic")
    except PackageNotFoundError:  # running from a source tree
        ver = "unknown"
    parser = _Parser(prog="byok", description="byok_magic: bring your own LLM key.")
    parser.add_argument("--version", action="version", version=f"byok_magic {ver}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for name, (help_, build) in _commands.items():
        build(sub.add_parser(name, help=help_, description=help_))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``byok`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if _key_in_arguments(args):
        _error(
            "an argument looks like an API key; byok never takes a key as an argument, and "
            "this one is now in your shell history — rotate it at the provider, then run "
            "`byok keys set NAME` and paste the new key at the hidden prompt (or pipe it in)"
        )
        return 2
    parser = build_parser()
    try:
        ns = parser.parse_args(args)
    except SystemExit as exc:  # --help / --version (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else 2
    run: Callable[[argparse.Namespace], int] | None = getattr(ns, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return run(ns)
    except ConfigError as err:
        _error(str(err))
        return 2
    except ByokError as err:
        _error(str(err))
        return 1
    except KeyboardInterrupt:
        _error("cancelled")
        return 130
    except Exception as exc:  # a bug: still no raw traceback (it could quote a secret)
        if os.environ.get("BYOK_DEBUG"):
            import traceback

            sys.stderr.write(redact("".join(traceback.format_exception(exc))))
        _error(f"unexpected {type(exc).__name__}; run with BYOK_DEBUG=1 to see where")
        return 1


def _key_in_arguments(args: list[str]) -> bool:
    # `keys` only ever takes profile names, so anything key-like is refused there; elsewhere a
    # free-text argument (a prompt) is refused only when it has a well-known key shape.
    strict = not args or args[0] != "keys"
    # a word with a "/" is a path (`--file PATH`) unless it has a well-known key shape
    return any(looks_like_key(a, strict=strict or "/" in a) for a in args)


def _error(message: str) -> None:
    sys.stderr.write(f"byok: error: {redact(for_terminal(message))}\n")


# Errors are worded for the notebook (the usual face); in a terminal the same commands exist as
# `byok …`, and there is no cell or kernel.
_TERMINAL_WORDS = (
    (re.compile(r"`%byok ([^`]*)` \(or `byok \1` in a terminal\)"), r"`byok \1`"),
    (re.compile(r"\(or `byok ([^`]*)` in a terminal\)"), ""),
    (re.compile(r"`%byok "), "`byok "),
    (re.compile(r"run the cell again"), "run it again"),
    (re.compile(r"the kernel's environment"), "the environment"),
)


def for_terminal(message: str) -> str:
    """An error message from the shared core, worded for someone at a shell prompt."""
    for pattern, repl in _TERMINAL_WORDS:
        message = pattern.sub(repl, message)
    return message


def _columns(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
    return "\n".join(line.rstrip() for line in lines)


# ---------------------------------------------------------------------------------------------
# byok keys


@command("keys", "manage the API keys and bearer tokens byok keeps in the keyring")
def _keys_parser(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(title="actions", metavar="ACTION", parser_class=_Parser)
    s = sub.add_parser("set", help="store a key for a profile (hidden prompt, or stdin)")
    s.add_argument("name", metavar="NAME", help="profile name (see `byok keys list`)")
    s.add_argument("--bearer", action="store_true", help="store a bearer token instead")
    s.add_argument(
        "--oauth",
        action="store_true",
        help="store an OAuth credential JSON (vertex): from --file, --from, or stdin",
    )
    s.add_argument("--file", metavar="PATH", help="with --oauth: the credential file")
    s.add_argument(
        "--from",
        dest="source",
        metavar="TOOL",
        help="with --oauth: the file at a tool's default place (gcloud; qwen-code, gemini-cli "
        "and claude-code logins are recognised but never used)",
    )
    s.set_defaults(run=_keys_set)
    ls = sub.add_parser("list", help="where each profile's secret comes from (masked)")
    ls.set_defaults(run=_keys_list)
    d = sub.add_parser("delete", help="remove what is stored for a profile")
    d.add_argument("name", metavar="NAME")
    d.add_argument("--bearer", action="store_true", help="remove only the bearer token")
    d.set_defaults(run=_keys_delete)
    p.set_defaults(run=_keys_list)


def _profile(name: str) -> Profile:
    from .config import Config

    config = Config()
    profiles = config.profiles()
    if name not in profiles:
        raise ConfigError(
            f"no profile named {name!r} (known: {', '.join(sorted(profiles))})",
            f"add it first: `byok add {name} --type openai --base-url URL`, or "
            f"a [profiles.{name}] table in {config.path}",
        )
    return profiles[name]


def _env_hint(profile: Profile) -> str:
    envs = " or ".join(profile.env_vars)
    if envs:
        return f"set {envs} in the environment instead (byok reads it)"
    return f"set key_env in profile {profile.name!r} and export that variable instead"


def _read_secret(prompt: str) -> str:
    """From a hidden prompt on a terminal; from stdin when it is piped (scripts)."""
    import getpass

    stdin = sys.stdin
    if stdin is not None and stdin.isatty():
        try:
            value = getpass.getpass(prompt)
        except EOFError:
            value = ""
    elif stdin is not None:
        value = stdin.read(_MAX_INPUT)
    else:
        raise KeyStoreError("there is no stdin to read the secret from", "pipe the key in")
    value = value.strip()
    if not value:
        raise KeyStoreError("no secret was given (empty input)", "nothing was stored")
    if any(c.isspace() for c in value):
        raise KeyStoreError(
            "the input has spaces or several lines; a key or token is one word",
            "nothing was stored; give only the key",
        )
    return value


def _keys_set(args: argparse.Namespace) -> int:
    from .credentials import INSECURE_ENV, keystore

    profile = _profile(args.name)
    what = "bearer token" if args.bearer else "API key"
    if (args.file or args.source) and not args.oauth:
        raise ConfigError("--file and --from go with --oauth", "add --oauth")
    store = keystore()
    st = store.status()
    if not st.ok:  # say so before the user pastes a key for nothing
        raise KeyStoreError(
            f"no secure keyring ({st.reason}); nothing was stored",
            f"{_env_hint(profile)}, or install and unlock a Secret Service / OS keychain "
            f"(knowing it is plaintext, {INSECURE_ENV}=1 selects a 0600 file instead)",
        )
    if args.oauth:
        return _keys_set_oauth(args, profile, store, st.label)
    value = _read_secret(f"{what} for {profile.name} (input hidden): ")
    remember(value)  # from here on, any message that quotes it is redacted
    from .oauth import refuse_tool_login

    refuse_tool_login(value)  # a login file piped in as a key: explain, store nothing
    user = f"{profile.name}#bearer" if args.bearer else profile.name
    store.set(user, value)
    from .credentials import Secret

    masked = Secret(value).masked
    del value
    print(f"Stored the {what} for profile {profile.name!r} in {st.label} ({masked}).")
    if st.insecure:
        print(f"warning: {st.label[5:]} is a plaintext file; anyone who can read it has the key.")
    shadowed = [v for v in profile.env_vars if os.environ.get(v)]
    if shadowed:
        print(f"note: {shadowed[0]} is also set; the stored {what} is used first.")
    return 0


def _keys_set_oauth(args: argparse.Namespace, profile: Profile, store: Any, label: str) -> int:
    """An OAuth credential from --file, --from TOOL, stdin (piped JSON) or a hidden prompt."""
    from . import oauth, oauth_files, oauth_locations

    if args.file and args.source:
        raise ConfigError("give either --file or --from, not both", "")
    if args.source:
        text, where = oauth_locations.read_source(args.source)
    elif args.file:
        text, where = oauth_files.read_file(args.file), args.file
    elif sys.stdin is not None and not sys.stdin.isatty():
        text, where = sys.stdin.read(_MAX_INPUT), ""
    else:
        prompt = f"OAuth credential JSON (one line) or its file's path, for {profile.name}: "
        import getpass

        try:
            typed = getpass.getpass(prompt)
        except EOFError:
            typed = ""
        text, where = oauth.text_from_input(typed)
    parsed = oauth.save(store, profile.name, text, where)
    del text
    project = profile.project_id or parsed.project_id
    print(f"Stored the OAuth credential ({parsed.kind}) for profile {profile.name!r} in {label}.")
    if project:
        print(f"Google Cloud project: {project}")
    else:
        print(f"note: no project id yet; set it with `byok add {profile.name} --project-id ID`")
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from .config import Config
    from .credentials import describe, keystore

    store = keystore()
    st = store.status()
    if st.ok:
        print(f"Secrets are stored in {st.label}.")
    else:
        print(f"No usable keyring ({st.reason}); keys come from environment variables.")
    rows = [["profile", "secret from", "kind", "secret", ""]]
    for name, profile in sorted(Config().profiles().items()):
        src = describe(profile, store)
        # The keyring's own problem is said once above, not on every row.
        note = src.note if src.note and not src.note.startswith("keyring unusable") else ""
        rows.append([name, src.source, src.kind, src.masked, note])
    print(_columns(rows))
    from .oauth_locations import found_text

    found = found_text()
    if found:
        print(found)
    return 0


def _keys_delete(args: argparse.Namespace) -> int:
    from .config import Config
    from .credentials import keystore

    name = args.name
    if not _NAME_RE.match(name):
        raise ConfigError(f"{name!r} is not a profile name", "see `byok keys list`")
    from .credentials import delete_secrets, deleted_message

    store = keystore()
    gone = delete_secrets(name, store, "#bearer" if args.bearer else None)
    if not gone:
        what = "bearer token" if args.bearer else "secret"
        raise KeyStoreError(f"no {what} is stored for profile {name!r} in {store.label}", "")
    print(deleted_message(name, gone, Config().profiles().get(name)))
    return 0


# ---------------------------------------------------------------------------------------------
# byok usage


@command("usage", "requests, tokens, cost and latency from the usage log")
def _usage_parser(p: argparse.ArgumentParser) -> None:
    from .usage_summary import add_usage_arguments

    add_usage_arguments(p, terminal=True)
    p.set_defaults(run=_usage)


def _usage(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .router import router
    from .usage_summary import usage_report

    text, png = usage_report(router(), args, markdown=False)
    print(text)
    if png is not None:
        Path(args.plot).write_bytes(png)
        print(f"Chart written to {args.plot}")
    return 0


if __name__ == "__main__":
    # Run the canonical module's main: subcommands register into byok_magic.cli's registry,
    # not into this __main__ copy of it.
    from byok_magic.cli import main as _main

    sys.exit(_main())
