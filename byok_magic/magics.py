"""``%%byok`` and ``%byok``: argument parsing and glue between the notebook and the router."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from . import errors
from .threads import Exchange, Threads

if TYPE_CHECKING:
    from .router import Answer, Router

_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{12,}|AIza[0-9A-Za-z_\-]{20,}|[A-Za-z0-9]{40,})\b")
_CODE_BLOCK = re.compile(r"```[^\n`]*\n(.*?)(?:\n```|\Z)", re.S)


def _refuse_secrets(text: str) -> None:
    from .redact import looks_like_key

    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    # a word with a "/" is a path or URL unless it has a well-known key shape
    if _KEY_LIKE.search(text) or any(looks_like_key(w, strict="/" in w) for w in words):
        raise errors.ConfigError(
            "that looks like a key in the magic's arguments; keys are never accepted there "
            "(they end up in the notebook and in IPython's history)",
            "rotate that key now, then store the new one with `%byok keys set PROFILE`",
        )


def _show_markdown(text: str) -> None:
    from .line_commands import show

    show(text)


def _show_error(err: errors.ByokError) -> None:
    _show_markdown(f"⚠️ **{err.cause}**" + (f"  \n{err.fix}" if err.fix else ""))


_FAILED = "the request failed (the message above says why)"


def first_code_block(text: str) -> str | None:
    m = _CODE_BLOCK.search(text)
    return m.group(1) if m else None


@magics_class
class ByokMagics(Magics):
    """The ``%%byok`` cell magic and the ``%byok`` line magic."""

    def __init__(self, shell: Any = None, router: Router | None = None) -> None:
        super().__init__(shell)
        self._router = router
        self.threads = Threads()

    @property
    def router(self) -> Router:
        if self._router is None:
            from .router import router

            self._router = router()
        return self._router

    # -- %%byok ----------------------------------------------------------------------------------

    @magic_arguments(name="%byok")  # shown as %%byok in the usage line
    @argument("targets", nargs="*", help="PROFILE:MODEL (or PROFILE); several compare models")
    @argument("-s", "--system", help="system prompt")
    @argument("-t", "--temperature", type=float, help="sampling temperature")
    @argument("--max-tokens", type=int, help="cap on the answer's tokens")
    @argument("--reasoning-effort", choices=("low", "medium", "high"), help="thinking effort")
    @argument("--thread", default="main", help="conversation thread (default: main)")
    @argument("--new", action="store_true", help="start the thread afresh")
    @argument("--no-history", action="store_true", help="send this cell alone; thread untouched")
    @argument(
        "-f",
        "--format",
        default="markdown",
        choices=("markdown", "text", "code"),
        help="markdown (default), text, or code (first code block goes into a new cell)",
    )
    @argument("-o", "--out", help="also store the answer text in this variable")
    @argument("--show-reasoning", action="store_true", help="show reasoning above the answer")
    @argument("--no-interpolate", action="store_true", help="send {braces} exactly as typed")
    @cell_magic("byok")  # type: ignore[arg-type]
    def byok_cell(self, line: str, cell: str) -> None:
        """Send the cell as a prompt and stream the answer as live Markdown.

        ``{name}`` in the cell is replaced by the variable's value (also ``{obj.attr}``,
        ``{seq[0]}``, ``{In[3]}``); every other brace is sent exactly as typed.
        """
        try:
            _refuse_secrets(line)
            # shlex (POSIX) rather than IPython's arg_split, so quotes group and are removed
            args = self.byok_cell.parser.parse_args(shlex.split(line))
        except errors.ByokError as err:
            _show_error(err)
            raise errors.CellFailed("nothing was sent (the message above says why)") from None
        except (Exception, SystemExit) as exc:  # argparse usage errors, unbalanced quotes
            _show_markdown(f"⚠️ **{exc}**  \nSee `%%byok?` for the options.")
            raise errors.CellFailed("nothing was sent: see `%%byok?`") from None
        prompt = cell[:-1] if cell.endswith("\n") else cell
        if not args.no_interpolate and self.shell is not None:
            from .interpolate import interpolate

            cut: list[str] = []
            prompt = interpolate(prompt, self.shell.user_ns, truncated=cut)
            args.notes = [f"{{{ref}}} was cut to 20,000 characters" for ref in cut]
        targets = args.targets or [None]
        if len(targets) > 1:
            from .compare import run_comparison

            run_comparison(self, targets, prompt, args)
            return
        self._ask_one(targets[0], prompt, args, cell)

    def cell_key(self, cell: str) -> str:
        """The frontend's cell id when it sends one, else the cell's text."""
        kernel = getattr(self.shell, "kernel", None)
        try:
            parent = kernel.get_parent() if kernel is not None else None
            cell_id = (parent or {}).get("metadata", {}).get("cellId")
        except Exception:
            cell_id = None
        return f"id:{cell_id}" if cell_id else f"text:{cell}"

    def history_for(self, args: Any, key: str) -> tuple:
        if args.no_history:
            return ()
        if args.new:
            self.threads.reset(args.thread)
        return self.threads.history(args.thread, before_key=key)

    def params(self, args: Any) -> dict[str, Any]:
        return {
            "system": args.system,
            "temperature": args.temperature,
            "max_tokens": args.max_tokens,
            "reasoning_effort": args.reasoning_effort,
        }

    def _ask_one(self, target: str | None, prompt: str, args: Any, cell: str) -> None:
        from .render import LiveAnswer
        from .reports import footer
        from .router import Answer

        key = self.cell_key(cell)
        try:
            history = self.history_for(args, key)
            profile, req = self.router.request(prompt, target, history=history, **self.params(args))
        except errors.ByokError as err:
            _show_error(err)
            raise errors.CellFailed("nothing was sent (the message above says why)") from None
        label = f"{profile.name}:{req.model}"
        req, dropped = self.fit_window(profile, req)
        live = LiveAnswer(label, format=args.format, show_reasoning=args.show_reasoning)
        answer = Answer(target=label, thread=None if args.no_history else args.thread)
        answer.notes += getattr(args, "notes", [])
        if dropped:
            answer.notes.append(
                f"{dropped} earlier exchange{'s' if dropped > 1 else ''} left out to fit the "
                "context window"
            )
        live.start()
        failed: str | None = None
        try:
            for event in self.router.stream(profile, req, answer):
                live.feed(event)
        except errors.ByokError as err:
            live.fail(str(err), kind="error")
            failed = _FAILED
        except KeyboardInterrupt:
            # Keep what arrived and say so; the cell fails quietly, so Run All stops here as
            # it does on any interrupt, and the next cell works.
            live.fail("stopped", kind="stopped")
            failed = "stopped; the answer so far is kept"
        else:
            live.finish(footer(answer))
        self.after_answer(answer, args, prompt, key)
        if failed:
            raise errors.CellFailed(failed)

    def fit_window(self, profile: Any, req: Any) -> tuple[Any, int]:
        """Trim the oldest history so the request fits the model's context window, if known."""
        from dataclasses import replace

        from .threads import trim_to_window

        history, prompt = req.messages[:-1], req.messages[-1]
        if not history:
            return req, 0
        window = self.router.context_window(profile, req.model)
        kept, dropped = trim_to_window(history, prompt.content, window)
        if not dropped:
            return req, 0
        return replace(req, messages=(*kept, prompt)), dropped

    def after_answer(self, answer: Answer, args: Any, prompt: str, key: str) -> None:
        """Thread history, ``-o`` and ``-f code``: only for complete answers (``-o`` always)."""
        if args.out and self.shell is not None and (answer.text or answer.error is None):
            self.shell.user_ns[args.out] = answer.text  # a failure with nothing kept leaves it
        if answer.error is not None:
            return
        if not args.no_history:
            self.threads.record(args.thread, Exchange(key, prompt, answer.text, answer.target))
        if args.format == "code" and self.shell is not None:
            code = first_code_block(answer.text)
            if code is not None:
                self.shell.set_next_input(code, replace=False)

    # -- %byok -----------------------------------------------------------------------------------

    @magic_arguments(name="byok")
    @argument(
        "command",
        nargs="?",
        default="",
        help="use | profiles | add | remove | keys | models | test | settings | usage | reset",
    )
    @argument("rest", nargs="*", help="the subcommand's arguments")
    @line_magic("byok")  # type: ignore[arg-type]
    def byok_line(self, line: str) -> None:
        """Manage byok: status, default target, profiles, keys, models, settings, usage.

        ``%byok``                       status: default target, profiles, where secrets come from
        ``%byok use PROFILE:MODEL``     set the default target
        ``%byok profiles``              list profiles
        ``%byok add NAME --type T --base-url URL [--model M] [--wire-api W] [--api-version V]
        [--auth api-key|bearer|none] [--key-env VAR] [--header K=V ...] [--allow-http]``
        ``%byok remove NAME``           remove a profile
        ``%byok keys``                  where each profile's secret comes from (masked)
        ``%byok keys set NAME [--bearer]``  store a secret (hidden prompt)
        ``%byok keys set NAME --oauth [--file PATH | --from gcloud]``  store an OAuth credential
        JSON (vertex; hidden prompt takes the JSON or its path)
        ``%byok keys delete NAME [--bearer | --oauth]``  delete a stored secret
        ``%byok test NAME``             one cheap request: ok with its latency, or the error
        ``%byok models [PROFILE] [--refresh]``  list models (🔑 = the profile has no secret yet)
        ``%byok settings``              the settings panel
        ``%byok usage [--since DATE] [--by target|profile|model|provider|key|day] [--plot]
        [--export FILE.csv] [--clear [--before DATE]]``  the usage log: requests, tokens, cost
        ``%byok reset [THREAD]``        forget a conversation thread (all when none given)
        """
        from .line_commands import run_line_command

        try:
            _refuse_secrets(line)
            words = shlex.split(line)
        except errors.ByokError as err:
            _show_error(err)
            raise errors.CellFailed("the command was not run") from None
        except ValueError as exc:
            _show_markdown(f"⚠️ **cannot parse the line: {exc}**")
            raise errors.CellFailed("the command was not run") from None
        try:
            run_line_command(self, words)
        except errors.ByokError as err:
            _show_error(err)
            raise errors.CellFailed("the command failed (the message above says why)") from None
