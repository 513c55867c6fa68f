"""`kuiper plugin …` and eKuiper's plugin verbs, on a local kuiper root (no server needed).

    kuiper plugin build SRC.pyx|SRC.py --type function --name wordCount [--version 1.0.0]
                        [--etc DIR] [-o OUT.zip] [--no-compile]
    kuiper plugin install TYPE NAME FILE_OR_URL [--sha256 HEX] [--replace] [--root DIR]
    kuiper plugin remove TYPE NAME          kuiper plugin list TYPE
    kuiper plugin describe TYPE NAME        kuiper plugin udfs

eKuiper's spellings do the same: `kuiper create plugin function NAME '{"file": "…"}'`,
`kuiper drop plugin function NAME`, `kuiper show plugins function`,
`kuiper describe plugin function NAME`, `kuiper register plugin function NAME
'{"functions": […]}'`, `kuiper show udfs`, `kuiper describe udf NAME`. TYPE is source, sink
or function (or the plural). The root is `--root`, else $KUIPER_ROOT, else the current folder.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from kuiper.errors import ConfigError, NotFoundError
from kuiper.plugins.naming import plugin_type

#: verb -> the subparsers of its nouns, so other command families can add nouns (`create stream`)
VERB_NOUNS: dict[str, Any] = {}


def _root(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "root", None) or os.environ.get("KUIPER_ROOT") or os.getcwd())


def _manager(args: argparse.Namespace) -> Any:
    from kuiper.functions.registry import default_registry
    from kuiper.plugins.manager import PluginManager

    return PluginManager(_root(args), registry=default_registry, register=False)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _json_arg(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not valid JSON: {exc}",
                          hint='e.g. \'{"file": "file:///tmp/wordCount.zip"}\'') from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a JSON object")
    return value


# --- actions -------------------------------------------------------------------------------
def cmd_build(args: argparse.Namespace) -> int:
    from kuiper.plugins.build import build_plugin

    out = build_plugin(args.src, args.type, args.name, args.version, args.etc, args.output,
                       compile=not args.no_compile)
    print(f"Plugin {args.name} is built: {out}")
    return 0


def _install(args: argparse.Namespace, file: str, sha256: str | None, replace: bool,
             functions: list[str] | None) -> int:
    info = _manager(args).install(args.type, args.name, file, sha256=sha256, replace=replace,
                                  functions=functions)
    if args.verbose_info:
        print(f"Plugin {args.name} is installed.")
        _print_json(info)
    else:
        print(f"Plugin {args.name} is created.")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    functions = [f for f in (args.functions or "").split(",") if f] or None
    return _install(args, args.file, args.sha256, args.replace, functions)


def cmd_create(args: argparse.Namespace) -> int:
    body = _json_arg(args.json, f"plugin {args.name}'s definition")
    file = body.get("file")
    if not isinstance(file, str) or not file:
        raise ConfigError(f"plugin {args.name}: the definition needs \"file\"",
                          hint='{"file": "file:///tmp/plugin.zip"} or an http(s) URL')
    if body.get("shellParas"):
        raise ConfigError("install.sh scripts (shellParas) are not supported",
                          hint="put runtime files in the zip's etc/ folder")
    functions = body.get("functions")
    if functions is not None and not (isinstance(functions, list)
                                      and all(isinstance(f, str) for f in functions)):
        raise ConfigError('"functions" must be a list of function names')
    return _install(args, file, body.get("sha256"), bool(body.get("replace", args.replace)),
                    functions)


def cmd_remove(args: argparse.Namespace) -> int:
    _manager(args).remove(args.type, args.name)
    print(f"Plugin {args.name} is dropped.")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    names = _manager(args).list(args.type)
    if args.json_out:
        _print_json(names)
    else:
        for name in names:
            print(name)
        if not names:
            print(f"No {args.type} plugin is installed.")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    _print_json(_manager(args).get(args.type, args.name))
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    if plugin_type(args.type) != "functions":
        raise ConfigError("only function plugins register functions",
                          hint="register plugin function NAME '{\"functions\": [...]}'")
    body = _json_arg(args.json, f"plugin {args.name}'s functions")
    functions = body.get("functions")
    if not isinstance(functions, list) or not all(isinstance(f, str) for f in functions):
        raise ConfigError('"functions" must be a list of function names')
    _manager(args).register_functions(args.name, functions)
    print(f"Plugin {args.name} registers functions {', '.join(functions)}.")
    return 0


def cmd_udfs(args: argparse.Namespace) -> int:
    udfs = _manager(args).udfs()
    if getattr(args, "udf", None):
        plugin = udfs.get(args.udf)
        if plugin is None:
            raise NotFoundError(f"function '{args.udf}' is not exported by any plugin")
        _print_json({"name": args.udf, "plugin": plugin})
        return 0
    for name in sorted(udfs):
        print(name)
    return 0


# --- parsers ---------------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser, *, typed: bool = True, named: bool = True) -> None:
    if typed:
        p.add_argument("type", metavar="TYPE", help="source, sink or function")
    if named:
        p.add_argument("name", metavar="NAME", help="the plugin's camelCase name")
    p.add_argument("--root", default=None,
                   help="kuiper root with etc/, plugins/, data/ (default: $KUIPER_ROOT or .)")


def _plugin_family(sub: Any) -> None:
    plugin = sub.add_parser("plugin", help="build, install, remove, list and describe plugins",
                            description="Plugins of a local kuiper root (see docs/plugins.md).")
    verbs = plugin.add_subparsers(dest="plugin_command", required=True)

    b = verbs.add_parser("build", help="compile a .pyx/.py plugin and write its zip")
    b.add_argument("src", metavar="SRC", help="the plugin's .pyx or .py file")
    b.add_argument("--type", required=True, help="source, sink or function")
    b.add_argument("--name", required=True, help="the plugin's camelCase name")
    b.add_argument("--version", default=None, help="the plugin's version, e.g. 1.0.0")
    b.add_argument("--etc", default=None, help="runtime files (default: etc/NAME/ beside SRC)")
    b.add_argument("-o", "--output", default=None, help="the zip (default: ./NAME.zip)")
    b.add_argument("--no-compile", action="store_true", help="pack a .py as it is")
    b.set_defaults(func=cmd_build)

    i = verbs.add_parser("install", help="install a plugin zip (path, file:// or http(s)://)")
    _common(i)
    i.add_argument("file", metavar="FILE_OR_URL")
    i.add_argument("--sha256", default=None, help="the zip's expected sha256")
    i.add_argument("--replace", action="store_true", help="replace an installed plugin")
    i.add_argument("--functions", default=None, help="functions of a multi-function plugin: a,b")
    i.set_defaults(func=cmd_install, verbose_info=True)

    r = verbs.add_parser("remove", help="remove an installed plugin")
    _common(r)
    r.set_defaults(func=cmd_remove)

    ls = verbs.add_parser("list", help="installed plugins of a type")
    _common(ls, named=False)
    ls.add_argument("--json", action="store_true", dest="json_out", help="a JSON array")
    ls.set_defaults(func=cmd_list)

    d = verbs.add_parser("describe", help="one plugin's file, version, about and properties")
    _common(d)
    d.set_defaults(func=cmd_describe)

    u = verbs.add_parser("udfs", help="functions exported by plugins")
    _common(u, typed=False, named=False)
    u.set_defaults(func=cmd_udfs)


def _nouns(sub: Any, verb: str, help_text: str) -> Any:
    nouns = VERB_NOUNS.get(verb)
    if nouns is None:
        parser = sub.add_parser(verb, help=help_text)
        nouns = VERB_NOUNS[verb] = parser.add_subparsers(dest=f"{verb}_noun", required=True)
    return nouns


def _ekuiper_family(sub: Any) -> None:
    c = _nouns(sub, "create", "create a plugin (eKuiper's CLI)").add_parser(
        "plugin", help="create plugin TYPE NAME '{\"file\": …}'")
    _common(c)
    c.add_argument("json", metavar="JSON", help='{"file": "file:///…zip", "functions": […]}')
    c.add_argument("--replace", action="store_true", help=argparse.SUPPRESS)
    c.set_defaults(func=cmd_create, verbose_info=False)

    d = _nouns(sub, "drop", "drop a plugin (eKuiper's CLI)").add_parser(
        "plugin", help="drop plugin TYPE NAME")
    _common(d)
    d.add_argument("-s", "--stop", default=None, help="accepted for eKuiper; nothing to restart")
    d.set_defaults(func=cmd_remove)

    shows = _nouns(sub, "show", "list plugins or udfs (eKuiper's CLI)")
    s = shows.add_parser("plugins", help="show plugins TYPE")
    _common(s, named=False)
    s.set_defaults(func=cmd_list, json_out=False)
    su = shows.add_parser("udfs", help="functions exported by plugins")
    _common(su, typed=False, named=False)
    su.set_defaults(func=cmd_udfs)

    descs = _nouns(sub, "describe", "describe a plugin or udf (eKuiper's CLI)")
    dp = descs.add_parser("plugin", help="describe plugin TYPE NAME")
    _common(dp)
    dp.set_defaults(func=cmd_describe)
    du = descs.add_parser("udf", help="describe udf NAME")
    du.add_argument("udf", metavar="NAME")
    du.add_argument("--root", default=None)
    du.set_defaults(func=cmd_udfs)

    rg = _nouns(sub, "register", "register functions of a plugin (eKuiper's CLI)").add_parser(
        "plugin", help="register plugin function NAME '{\"functions\": […]}'")
    _common(rg)
    rg.add_argument("json", metavar="JSON")
    rg.set_defaults(func=cmd_register)


def add_plugin_commands(sub: Any) -> None:
    """Add `plugin …` and eKuiper's plugin verbs to the `kuiper` subcommands."""
    VERB_NOUNS.clear()
    _plugin_family(sub)
    _ekuiper_family(sub)
