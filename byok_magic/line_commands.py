"""The ``%byok`` subcommands. Each takes the magics object and its words, and shows Markdown."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import errors

if TYPE_CHECKING:
    from .magics import ByokMagics

Command = Callable[["ByokMagics", list[str]], None]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = fn
        return fn

    return register


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as a ByokError instead of exiting."""

    def error(self, message: str) -> Any:
        raise errors.ConfigError(f"{self.prog}: {message}", f"see `{self.prog} --help`")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        raise _HelpShown(self.format_help())

    def print_help(self, file: Any = None) -> None:
        pass  # exit() shows it, once, as Markdown


class _HelpShown(Exception):
    pass


def parser(name: str) -> _Parser:
    return _Parser(prog=f"%byok {name}", add_help=True)


def show(markdown: str) -> None:
    """Markdown for notebooks; the same source as text/plain for terminals and text frontends."""
    from IPython.display import display

    display({"text/markdown": markdown, "text/plain": markdown}, raw=True)


def run_line_command(magics: ByokMagics, words: list[str]) -> None:
    if not words:
        from .reports import status_markdown

        show(status_markdown(magics.router))
        return
    name, rest = words[0], words[1:]
    fn = COMMANDS.get(name)
    if fn is None:
        raise errors.ConfigError(
            f"unknown subcommand {name!r}",
            "one of: " + ", ".join(sorted(COMMANDS)) + " (see `%byok?`)",
        )
    try:
        fn(magics, rest)
    except _HelpShown as help_text:
        show(f"```\n{help_text}\n```")
        return
    _refresh_panels()


def _refresh_panels() -> None:
    """Open settings panels show what a command changed (nothing loads if none was opened)."""
    import sys

    panels = sys.modules.get("byok_magic.widgets_state")
    if panels is not None:
        panels.refresh_live_panels()


@command("use")
def _use(magics: ByokMagics, words: list[str]) -> None:
    p = parser("use")
    p.add_argument("target", help="PROFILE:MODEL")
    args = p.parse_args(words)
    magics.router.config.set_default(args.target)
    show(f"Default target: `{args.target}`")


@command("profiles")
def _profiles(magics: ByokMagics, words: list[str]) -> None:
    from .reports import PROFILE_HEADERS, profile_rows, table

    parser("profiles").parse_args(words)
    show(table(PROFILE_HEADERS, profile_rows(magics.router)))


def add_profile_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `%byok add` and `byok add`, shared."""
    p.add_argument("name")
    p.add_argument("--type", choices=("openai", "azure", "anthropic", "gemini", "ollama", "vertex"))
    p.add_argument("--base-url")
    p.add_argument("--model", help="default model (for azure: the deployment name)")
    p.add_argument("--wire-api", choices=("completions", "responses"))
    p.add_argument("--api-version", help="azure: the dated api-version; omit for the v1 route")
    p.add_argument("--auth", choices=("api-key", "bearer", "none"))
    p.add_argument("--key-env", help="environment variable that holds the secret")
    p.add_argument("--header", action="append", default=[], metavar="K=V")
    p.add_argument("--allow-http", action="store_true", help="allow a key over plain http")
    p.add_argument("--project-id", help="vertex: Google Cloud project id")
    p.add_argument("--location", help="vertex: region (default us-central1)")


def profile_from_args(router: Any, args: argparse.Namespace) -> Any:
    """A new or updated profile from `add` arguments (an existing one keeps what is not given)."""
    from dataclasses import replace

    from .config import Profile

    existing = router.config.profiles().get(args.name)
    headers = {}
    for h in args.header:
        k, sep, v = h.partition("=")
        if not sep or not k.strip():
            raise errors.ConfigError(f"header {h!r} is not K=V", "write --header X-Team=ml")
        headers[k.strip()] = v.strip()
    given = {
        "type": args.type,
        "base_url": args.base_url,
        "model": args.model,
        "wire_api": args.wire_api,
        "api_version": args.api_version,
        "auth": args.auth,
        "key_env": args.key_env,
        "project_id": args.project_id,
        "location": args.location,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if args.allow_http:
        given["allow_http"] = True
    if headers:
        given["headers"] = {**(dict(existing.headers) if existing else {}), **headers}
    if existing is not None:
        return replace(existing, **given)
    if "type" not in given:
        raise errors.ConfigError(
            f"a new profile needs a type: `%byok add {args.name} --type openai --base-url URL`",
            "types: openai, azure, anthropic, gemini, ollama, vertex",
        )
    if given.get("auth") == "none":
        given["key_required"] = False
    return Profile(name=args.name, **given)


@command("add")
def _add(magics: ByokMagics, words: list[str]) -> None:
    p = parser("add")
    add_profile_arguments(p)
    args = p.parse_args(words)
    prof = profile_from_args(magics.router, args)
    magics.router.config.add(prof)
    text = f"Profile `{prof.name}` saved ({prof.type}, {prof.base_url or 'no base URL'})."
    if needs_base_url(prof):
        text += (
            f" It needs a base URL before it can answer: `%byok add {prof.name} --base-url URL`."
        )
    show(text)


def needs_base_url(prof: Any) -> bool:
    """A profile that cannot build a request URL yet (the URL is not found at run time)."""
    runtime = prof.quirks.get("discover") or prof.type in ("anthropic", "gemini", "ollama")
    return not prof.base_url and not runtime and prof.type != "vertex"


@command("remove")
def _remove(magics: ByokMagics, words: list[str]) -> None:
    p = parser("remove")
    p.add_argument("name")
    args = p.parse_args(words)
    magics.router.config.remove(args.name)
    show(f"Profile `{args.name}` removed.")


@command("keys")
def _keys(magics: ByokMagics, words: list[str]) -> None:
    from .reports import table

    p = parser("keys")
    p.add_argument("action", nargs="?", choices=("list", "set", "delete"), default="list")
    p.add_argument("name", nargs="?")
    p.add_argument("--bearer", action="store_true", help="store a bearer token instead of a key")
    p.add_argument("--oauth", action="store_true", help="an OAuth credential JSON (vertex)")
    p.add_argument("--file", metavar="PATH", help="with --oauth: read the credential file")
    p.add_argument(
        "--from",
        dest="source",
        metavar="TOOL",
        help="with --oauth: the file at a tool's default place (gcloud; qwen-code, gemini-cli "
        "and claude-code logins are recognised but never used)",
    )
    args = p.parse_args(words)
    router = magics.router
    if args.action == "list":
        from .credentials import describe
        from .oauth_locations import found_markdown

        rows = []
        for name, prof in sorted(router.config.profiles().items()):
            src = describe(prof, router.store)
            rows.append([name, src.source, src.kind, src.masked])
        note = router.store.status()
        head = "" if note.ok else f"The keyring is unusable ({note.reason}).\n\n"
        show(head + table(("profile", "secret from", "kind", "secret"), rows) + found_markdown())
        return
    if not args.name:
        raise errors.ConfigError(f"`%byok keys {args.action}` needs a profile name", "")
    router.config.get(args.name)  # the profile must exist
    user = f"{args.name}#bearer" if args.bearer else args.name
    what = "bearer token" if args.bearer else "API key"
    if args.oauth:
        user, what = f"{args.name}#oauth", "OAuth credential"
    if args.action == "delete":
        from .credentials import delete_secrets, deleted_message

        only = "#bearer" if args.bearer else "#oauth" if args.oauth else None
        gone = delete_secrets(args.name, router.store, only)
        show(deleted_message(args.name, gone, router.config.profiles().get(args.name)))
        return
    if args.oauth:
        show(_set_oauth(router, args.name, args.file, args.source))
        return
    if args.file or args.source:
        raise errors.ConfigError("--file and --from go with --oauth", "add --oauth")
    value = _hidden_prompt(f"{what} for {args.name} (input hidden): ")
    try:
        from .oauth import refuse_tool_login

        refuse_tool_login(value)  # a login file pasted as a key: explain, store nothing
        router.store.set(user, value)
    finally:
        del value
    show(f"{what} for `{args.name}` stored in the keyring.")


def _set_oauth(router: Any, name: str, path: str | None, source: str | None) -> str:
    """Store an OAuth credential from a file, a tool's default place, or a hidden prompt."""
    from . import oauth, oauth_files, oauth_locations

    where = ""
    if path and source:
        raise errors.ConfigError("give either --file or --from, not both", "")
    if source:
        text, where = oauth_locations.read_source(source)
    elif path:
        text, where = oauth_files.read_file(path), path
    else:
        prompt = f"OAuth credential JSON (one line) or the path to its file, for {name}: "
        text, where = oauth.text_from_input(_hidden_prompt(prompt))
    try:
        parsed = oauth.save(router.store, name, text, where)
    finally:
        del text
    project = router.config.get(name).project_id or parsed.project_id
    if project:
        tail = f" · project `{project}`"
    else:
        tail = f" · no project id yet: `%byok add {name} --project-id PROJECT`"
    return f"OAuth credential ({parsed.kind}) for `{name}` stored in the keyring{tail}."


def _hidden_prompt(prompt: str) -> str:
    import getpass

    try:
        value = getpass.getpass(prompt)
    except Exception as exc:  # StdinNotImplementedError under nbclient, EOFError without a tty
        raise errors.KeyStoreError(
            f"cannot ask for the secret here ({type(exc).__name__}: no interactive input)",
            "run `byok keys set NAME` in a terminal, or use the settings panel (`%byok settings`)",
        ) from None
    value = value.strip()
    if not value:
        raise errors.KeyStoreError("no secret was entered", "nothing was stored")
    return value


@command("models")
def _models(magics: ByokMagics, words: list[str]) -> None:
    from .reports import MODEL_HEADERS, model_listing, table

    p = parser("models")
    p.add_argument("profile", nargs="?")
    p.add_argument("--refresh", action="store_true")
    args = p.parse_args(words)
    router = magics.router
    names = [args.profile] if args.profile else sorted(router.config.profiles())
    rows, problems = model_listing(router, names, args.refresh, strict=bool(args.profile))
    text = table(MODEL_HEADERS, rows) if rows else "No models found."
    if problems:
        text += "\n\nCould not list:\n" + "\n".join(f"- {p}" for p in problems)
    show(text)


@command("reset")
def _reset(magics: ByokMagics, words: list[str]) -> None:
    p = parser("reset")
    p.add_argument("thread", nargs="?")
    args = p.parse_args(words)
    known = magics.threads.names()
    if args.thread and args.thread not in known:
        show(f"No thread named `{args.thread}` (threads: {', '.join(known) or 'none yet'}).")
        return
    magics.threads.reset(args.thread)
    show(f"Thread `{args.thread}` forgotten." if args.thread else "All threads forgotten.")


@command("settings")
def _settings(magics: ByokMagics, words: list[str]) -> None:
    parser("settings").parse_args(words)
    try:
        from .widgets import settings_panel
    except ImportError:
        raise errors.UnsupportedProvider(
            "the settings panel is not available in this build",
            "use `%byok add`, `%byok keys set` and `%byok use` instead",
        ) from None
    from IPython.display import display

    display(settings_panel(magics.router, magics))


@command("usage")
def _usage(magics: ByokMagics, words: list[str]) -> None:
    from .usage_summary import add_usage_arguments, usage_report

    p = parser("usage")
    add_usage_arguments(p)
    text, png = usage_report(magics.router, p.parse_args(words))
    show(text)
    if png is not None:
        from IPython.display import Image, display

        display(Image(data=png, format="png"))


@command("test")
def _test(magics: ByokMagics, words: list[str]) -> None:
    from .settings_checks import connection_check

    p = parser("test")
    p.add_argument("name", help="the profile to test with one cheap request")
    args = p.parse_args(words)
    ok, text = connection_check(magics.router, args.name)
    show(f"✅ `{args.name}`: {text}" if ok else f"⚠️ **{args.name}: {text}**")
