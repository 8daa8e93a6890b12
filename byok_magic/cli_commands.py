"""``byok ask``, ``byok models`` and the profile commands, for terminals and scripts.

They call the same router and the same table builders as the magics, so a terminal shows what a
notebook shows.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from .cli import command

if TYPE_CHECKING:
    from .router import Router


def _router() -> Router:
    from .router import router

    return router()


@command("profiles", "list profiles: type, base URL, default model, where the secret comes from")
def _profiles_parser(p: argparse.ArgumentParser) -> None:
    p.set_defaults(run=_profiles)


def _profiles(args: argparse.Namespace) -> int:
    from .reports import PROFILE_HEADERS, profile_rows, text_table

    r = _router()
    print(f"default target: {r.config.default_target() or '(none)'}")
    print(text_table(PROFILE_HEADERS, profile_rows(r)))
    return 0


@command("add", "add a profile, or change settings of an existing one")
def _add_parser(p: argparse.ArgumentParser) -> None:
    from .line_commands import add_profile_arguments

    add_profile_arguments(p)
    p.set_defaults(run=_add)


def _add(args: argparse.Namespace) -> int:
    from .line_commands import needs_base_url, profile_from_args

    r = _router()
    prof = profile_from_args(r, args)
    r.config.add(prof)
    print(f"profile {prof.name} saved ({prof.type}, {prof.base_url or 'no base URL'})")
    if needs_base_url(prof):
        print(
            f"note: it needs a base URL before it can answer: byok add {prof.name} --base-url URL"
        )
    return 0


@command("remove", "remove a profile (a preset is hidden; its key stays in the keyring)")
def _remove_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("name")
    p.set_defaults(run=_remove)


def _remove(args: argparse.Namespace) -> int:
    _router().config.remove(args.name)
    print(f"profile {args.name} removed")
    return 0


@command("use", "set the default target (PROFILE:MODEL)")
def _use_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("target")
    p.set_defaults(run=_use)


def _use(args: argparse.Namespace) -> int:
    _router().config.set_default(args.target)
    print(f"default target: {args.target}")
    return 0


@command("models", "list the models of one profile or all (🔑: the profile has no secret yet)")
def _models_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("profile", nargs="?")
    p.add_argument("--refresh", action="store_true", help="ask the provider again (no cache)")
    p.set_defaults(run=_models)


def _models(args: argparse.Namespace) -> int:
    from .reports import MODEL_HEADERS, model_listing, text_table

    r = _router()
    names = [args.profile] if args.profile else sorted(r.config.profiles())
    rows, problems = model_listing(r, names, args.refresh, strict=bool(args.profile))
    for problem in problems:
        sys.stderr.write(f"byok: {problem}\n")
    print(text_table(MODEL_HEADERS, rows) if rows else "no models found")
    return 0 if rows or not problems else 1


@command("ask", "ask one question and stream the answer to stdout")
def _ask_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", nargs="?", help="the prompt; '-' or nothing reads stdin")
    p.add_argument("-t", "--target", help="PROFILE:MODEL (default: the default target)")
    p.add_argument("-s", "--system", help="system prompt")
    p.add_argument("--temperature", type=float)
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--reasoning-effort", choices=("low", "medium", "high"))
    p.add_argument("--show-reasoning", action="store_true", help="print reasoning to stderr")
    p.set_defaults(run=_ask)


def _ask(args: argparse.Namespace) -> int:
    from .events import ReasoningDelta, TextDelta
    from .reports import footer
    from .router import Answer

    prompt = args.prompt
    if prompt in (None, "-"):
        prompt = sys.stdin.read() if sys.stdin is not None else ""
    if not prompt.strip():
        sys.stderr.write("byok: error: no prompt given (as an argument or on stdin)\n")
        return 2
    r = _router()
    profile, req = r.request(
        prompt,
        args.target,
        system=args.system,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        reasoning_effort=args.reasoning_effort,
    )
    answer = Answer(target=f"{profile.name}:{req.model}")
    out = sys.stdout
    try:
        for event in r.stream(profile, req, answer):
            if isinstance(event, TextDelta):
                out.write(event.text)
                out.flush()
            elif isinstance(event, ReasoningDelta) and args.show_reasoning:
                sys.stderr.write(event.text)
        if answer.text and not answer.text.endswith("\n"):
            out.write("\n")
            out.flush()
    except BrokenPipeError:  # `byok ask … | head`: the reader has enough; leave quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        answer.cancel()
        return 0
    if args.show_reasoning and answer.reasoning and not answer.reasoning.endswith("\n"):
        sys.stderr.write("\n")
    sys.stderr.write(footer(answer) + "\n")
    return 0
