"""`kuiper server` and eKuiper's management verbs, which call the REST API of a running server.

    kuiper server [--root DIR] [--host 127.0.0.1] [--port 9081]
    kuiper create stream NAME '(fields) WITH (…)'      kuiper create stream -f FILE
    kuiper create table NAME '(fields) WITH (…)'       kuiper create table -f FILE
    kuiper create rule NAME '{json}'                   kuiper create rule NAME -f FILE
    kuiper create service NAME '{"file": "file:///…zip"}'
    kuiper show streams|tables|rules|services|service_funcs
    kuiper describe stream|table|rule|service|service_func NAME
    kuiper drop stream|table|rule|service NAME
    kuiper getstatus rule NAME     kuiper gettopo rule NAME     kuiper explain rule NAME
    kuiper start|stop|restart rule NAME
    kuiper validate rule NAME '{json}' | -f FILE
    kuiper import ruleset -f FILE                      kuiper export ruleset [-f FILE]

Every client verb takes `--host` and `--port` (default $KUIPER_HOST / $KUIPER_PORT, else
127.0.0.1:9081). Answers print as eKuiper's CLI prints them: the server's message, JSON
pretty-printed, a stream's fields and options as text. A refused request prints the
server's message on stderr and exits with 1. Plugin verbs are in kuiper/cli/plugins.py.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from kuiper.cli.plugins import VERB_NOUNS
from kuiper.errors import ConfigError, KuiperError

TIMEOUT_S = 300.0


class RequestFailed(KuiperError):
    """The server refused a request (its message), or could not be reached."""


# --- HTTP --------------------------------------------------------------------------------------
def _base(args: argparse.Namespace) -> str:
    return f"http://{args.host}:{args.port}"


def call(args: argparse.Namespace, method: str, path: str, body: Any = None,
         ok: tuple[int, ...] = (200, 201)) -> Any:
    """One request; the decoded JSON answer or the text. Raises RequestFailed on an error
    status (with the server's message) or when the server does not answer."""
    import urllib.error  # the HTTP client is paid for only by the verbs that call a server
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(_base(args) + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            return _decode(resp.read(), resp.headers.get_content_type())
    except urllib.error.HTTPError as exc:
        answer = _decode(exc.read(), exc.headers.get_content_type())
        if exc.code in ok:
            return answer
        message = answer.get("message") if isinstance(answer, dict) else answer
        raise RequestFailed(str(message or f"HTTP {exc.code}")) from None
    except urllib.error.URLError as exc:
        raise RequestFailed(f"cannot reach the kuiper server at {_base(args)}: {exc.reason}",
                            hint="start it with `kuiper server`, or pass --host/--port") from None


def _decode(raw: bytes, content_type: str) -> Any:
    text = raw.decode("utf-8", errors="replace")
    if content_type == "application/json":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _print(value: Any) -> None:
    if isinstance(value, str):
        print(value)
    else:
        print(json.dumps(value, indent=2, ensure_ascii=False))


def _json_arg(text: str | None, file: str | None, what: str) -> dict[str, Any]:
    if file:
        text = Path(file).read_text(encoding="utf-8")
    if not text:
        raise ConfigError(f"{what}: give the JSON inline or with -f FILE")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a JSON object")
    return value


# --- streams and tables --------------------------------------------------------------------------
def _noun_path(args: argparse.Namespace) -> str:
    return "/tables" if args.noun == "table" else "/streams"


def cmd_create_stream(args: argparse.Namespace) -> int:
    if args.file:
        text = Path(args.file).read_text(encoding="utf-8").strip()
        if not text.lower().startswith("create"):
            text = f"create {args.noun} {text}"
    elif args.name and args.definition:
        text = f"create {args.noun} {args.name} {args.definition}"
    else:
        raise ConfigError(f"create {args.noun} NAME 'DEFINITION', or create {args.noun} -f FILE")
    _print(call(args, "POST", _noun_path(args), {"sql": text}))
    return 0


def cmd_show_streams(args: argparse.Namespace) -> int:
    names = call(args, "GET", _noun_path(args))
    print("\n".join(names) if names else f"No {args.noun} definitions are found.")
    return 0


def describe_text(doc: dict[str, Any]) -> str:
    """eKuiper's CLI text of a stream: its fields, then its options."""
    lines = ["Fields", "-" * 80]
    lines += [f"{f['Name']}\t{f['FieldType']}" for f in doc.get("StreamFields") or []]
    lines.append("")
    lines += [f"{k.upper()}: {v}" for k, v in (doc.get("Options") or {}).items()]
    return "\n".join(lines)


def cmd_describe_stream(args: argparse.Namespace) -> int:
    doc = call(args, "GET", f"{_noun_path(args)}/{args.name}")
    print(json.dumps(doc, indent=2) if args.json_out else describe_text(doc))
    return 0


def cmd_drop_stream(args: argparse.Namespace) -> int:
    suffix = "?force=true" if args.force else ""
    _print(call(args, "DELETE", f"{_noun_path(args)}/{args.name}{suffix}"))
    return 0


# --- rules -------------------------------------------------------------------------------------
def _rule_body(args: argparse.Namespace) -> dict[str, Any]:
    body = _json_arg(args.json, args.file, f"rule {args.name}")
    body.setdefault("id", args.name)
    return body


def cmd_create_rule(args: argparse.Namespace) -> int:
    _print(call(args, "POST", "/rules", _rule_body(args)))
    return 0


def cmd_validate_rule(args: argparse.Namespace) -> int:
    call(args, "POST", "/rules/validate", _rule_body(args))
    print("The rule has been successfully validated and is confirmed to be correct.")
    return 0


def cmd_show_rules(args: argparse.Namespace) -> int:
    _print(call(args, "GET", "/rules"))
    return 0


def cmd_rule_get(args: argparse.Namespace) -> int:
    suffix = {"describe": "", "getstatus": "/status", "gettopo": "/topo",
              "explain": "/explain"}[args.verb]
    _print(call(args, "GET", f"/rules/{args.name}{suffix}"))
    return 0


def cmd_rule_action(args: argparse.Namespace) -> int:
    _print(call(args, "POST", f"/rules/{args.name}/{args.verb}"))
    return 0


def cmd_drop_rule(args: argparse.Namespace) -> int:
    _print(call(args, "DELETE", f"/rules/{args.name}"))
    return 0


# --- ruleset ---------------------------------------------------------------------------------------
def cmd_import_ruleset(args: argparse.Namespace) -> int:
    """The file is read here and sent as `content`, so the server may be on another host."""
    content = Path(args.file).read_text(encoding="utf-8")
    _print(call(args, "POST", "/ruleset/import", {"content": content}))
    return 0


def cmd_export_ruleset(args: argparse.Namespace) -> int:
    exported = call(args, "POST", "/ruleset/export")
    text = exported if isinstance(exported, str) else json.dumps(exported, ensure_ascii=False)
    if args.file:
        Path(args.file).write_text(text, encoding="utf-8")
        print(f"Ruleset is exported to {args.file}")
    else:
        print(text)
    return 0


# --- services ------------------------------------------------------------------------------------
def cmd_create_service(args: argparse.Namespace) -> int:
    body = _json_arg(args.json, args.file, f"service {args.name}")
    body["name"] = args.name
    _print(call(args, "POST", "/services", body))
    return 0


def cmd_show_services(args: argparse.Namespace) -> int:
    names = call(args, "GET", "/services")
    print("\n".join(names) if names else "No service definitions are found.")
    return 0


def cmd_show_service_funcs(args: argparse.Namespace) -> int:
    _print(call(args, "GET", "/services/functions"))
    return 0


def cmd_describe_service(args: argparse.Namespace) -> int:
    path = "/services/functions/" if args.noun == "service_func" else "/services/"
    _print(call(args, "GET", path + args.name))
    return 0


def cmd_drop_service(args: argparse.Namespace) -> int:
    _print(call(args, "DELETE", f"/services/{args.name}"))
    return 0


# --- server ----------------------------------------------------------------------------------------
def cmd_server(args: argparse.Namespace) -> int:
    from kuiper.server.main import run_server  # the server's imports are paid for only here

    root = args.root or os.environ.get("KUIPER_ROOT") or os.getcwd()
    run_server(root, args.host, args.port)
    return 0


# --- parsers ---------------------------------------------------------------------------------------
def _client(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--host", default=os.environ.get("KUIPER_HOST", "127.0.0.1"),
                   help="the kuiper server (default: $KUIPER_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=int(os.environ.get("KUIPER_PORT", "9081")),
                   help="its REST port (default: $KUIPER_PORT or 9081)")
    return p


def _nouns(sub: Any, verb: str, help_text: str) -> Any:
    """The noun subparsers of `verb`, shared with the plugin verbs (`create plugin`)."""
    nouns = VERB_NOUNS.get(verb)
    if nouns is None:
        parser = sub.add_parser(verb, help=help_text)
        nouns = VERB_NOUNS[verb] = parser.add_subparsers(dest=f"{verb}_noun", required=True)
    return nouns


def _named(nouns: Any, noun: str, verb: str, func: Any, **defaults: Any) -> argparse.ArgumentParser:
    usage = {"create": " '{json}' | -f FILE", "validate": " '{json}' | -f FILE"}.get(verb, "")
    p = _client(nouns.add_parser(noun, help=f"{verb} {noun} NAME{usage}"))
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=func, noun=noun, verb=verb, **defaults)
    return p


def _create(sub: Any) -> None:
    nouns = _nouns(sub, "create", "create a stream, table, rule, service or plugin")
    for noun in ("stream", "table"):
        p = _client(nouns.add_parser(noun, help=f"create {noun} NAME 'DEF' | -f FILE"))
        p.add_argument("name", metavar="NAME", nargs="?")
        p.add_argument("definition", metavar="DEF", nargs="?",
                       help="'(fields) WITH (DATASOURCE=\"…\", …)'")
        p.add_argument("-f", "--file", help="a file with NAME(fields) WITH (…) or a CREATE")
        p.set_defaults(func=cmd_create_stream, noun=noun)
    for noun, func in (("rule", cmd_create_rule), ("service", cmd_create_service)):
        p = _named(nouns, noun, "create", func)
        p.add_argument("json", metavar="JSON", nargs="?")
        p.add_argument("-f", "--file", help="a file with the JSON")


def _show(sub: Any) -> None:
    nouns = _nouns(sub, "show", "list streams, tables, rules, services, plugins")
    for noun, func in (("streams", cmd_show_streams), ("tables", cmd_show_streams),
                       ("rules", cmd_show_rules), ("services", cmd_show_services),
                       ("service_funcs", cmd_show_service_funcs)):
        p = _client(nouns.add_parser(noun, help=f"show {noun}"))
        p.set_defaults(func=func, noun=noun.removesuffix("s"))


def _describe_drop(sub: Any) -> None:
    describe = _nouns(sub, "describe", "describe a stream, table, rule, service or plugin")
    for noun in ("stream", "table"):
        p = _named(describe, noun, "describe", cmd_describe_stream)
        p.add_argument("--json", action="store_true", dest="json_out", help="the JSON document")
    _named(describe, "rule", "describe", cmd_rule_get)
    _named(describe, "service", "describe", cmd_describe_service)
    _named(describe, "service_func", "describe", cmd_describe_service)
    drop = _nouns(sub, "drop", "drop a stream, table, rule, service or plugin")
    for noun in ("stream", "table"):
        p = _named(drop, noun, "drop", cmd_drop_stream)
        p.add_argument("--force", action="store_true", help="even if rules read it")
    _named(drop, "rule", "drop", cmd_drop_rule)
    _named(drop, "service", "drop", cmd_drop_service)


def _rule_verbs(sub: Any) -> None:
    for verb, func, text in (("getstatus", cmd_rule_get, "a rule's status and metrics"),
                             ("gettopo", cmd_rule_get, "a rule's topology"),
                             ("explain", cmd_rule_get, "a rule's plan"),
                             ("start", cmd_rule_action, "start a rule"),
                             ("stop", cmd_rule_action, "stop a rule"),
                             ("restart", cmd_rule_action, "restart a rule")):
        _named(_nouns(sub, verb, text), "rule", verb, func)
    p = _named(_nouns(sub, "validate", "validate a rule"), "rule", "validate", cmd_validate_rule)
    p.add_argument("json", metavar="JSON", nargs="?")
    p.add_argument("-f", "--file", help="a file with the rule JSON")


def _ruleset_verbs(sub: Any) -> None:
    p = _client(_nouns(sub, "import", "import a ruleset").add_parser(
        "ruleset", help="import ruleset -f FILE (streams, tables and rules)"))
    p.add_argument("-f", "--file", required=True, help="the ruleset JSON file")
    p.set_defaults(func=cmd_import_ruleset)
    p = _client(_nouns(sub, "export", "export the ruleset").add_parser(
        "ruleset", help="export ruleset [-f FILE] (stdout without -f)"))
    p.add_argument("-f", "--file", help="where to write the ruleset JSON")
    p.set_defaults(func=cmd_export_ruleset)


def add_manage_commands(sub: Any) -> None:
    """Add `server` and the management verbs (after the plugin verbs: they share nouns)."""
    s = sub.add_parser("server", help="run the REST API and the rules of a kuiper root",
                       description="Serve eKuiper's REST API for a kuiper root; stream, table "
                                   "and rule definitions persist in {root}/data/sqliteKV.db.")
    s.add_argument("--root", default=None,
                   help="kuiper root with etc/, plugins/, data/ (default: $KUIPER_ROOT or .)")
    s.add_argument("--host", default=None, help="listen address (default: basic.restIp of "
                   "etc/kuiper.yaml, else 127.0.0.1)")
    s.add_argument("--port", type=int, default=None,
                   help="REST port (default: basic.restPort, else 9081)")
    s.set_defaults(func=cmd_server)
    _create(sub)
    _show(sub)
    _describe_drop(sub)
    _rule_verbs(sub)
    _ruleset_verbs(sub)
