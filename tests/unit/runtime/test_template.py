"""dataTemplate: Go text/template cases, most from eKuiper's data_template.md with its outputs."""
from __future__ import annotations

import pytest

from kuiper.errors import ConfigError, EvalError
from kuiper.runtime.template import compile_template, has_template, resolve_props
from kuiper.runtime.template_funcs import go_float, go_sprintf

ROWS = [{"ab": "hello1"}, {"ab": "hello2"}]
AVG = {"device_id": 1.0, "t_av": 36.25}

# (template, data, expected output)
CASES = [
    # eKuiper docs, sendSingle=true
    ('{"content":{{json .}}}', {"ab": "hello1"}, '{"content":{"ab":"hello1"}}'),
    ('{"content":{{.ab}}}', {"ab": "hello1"}, '{"content":hello1}'),
    ('{"content":"{{.ab}}"}', {"ab": "hello1"}, '{"content":"hello1"}'),
    # eKuiper docs, sendSingle=false
    ('{"content":{{json .}}}', ROWS, '{"content":[{"ab":"hello1"},{"ab":"hello2"}]}'),
    ('{"content":{{json (index . 0)}}}', ROWS, '{"content":{"ab":"hello1"}}'),
    ('{"content":{{index . 0 "ab"}}}', ROWS, '{"content":hello1}'),
    ("<div>results</div><ul>{{range .}}<li>{{.ab}}</li>{{end}}</ul>", ROWS,
     "<div>results</div><ul><li>hello1</li><li>hello2</li></ul>"),
    ("{{toJson .}}", {"device_id": "1", "t_av": 36.25}, '{"device_id":"1","t_av":36.25}'),
    # eKuiper docs: data content conversion (numbers are float64 in eKuiper's maps)
    ('{"device_id": {{.device_id}}, "description": "{{if lt .t_av 30.0}}Current temperature is '
     '{{.t_av}}, it\'s normal."{{else if ge .t_av 30.0}}Current temperature is {{.t_av}}, it\'s '
     'high."{{end}}}', AVG,
     '{"device_id": 1, "description": "Current temperature is 36.25, it\'s high."}'),
    ('{"device_id": {{.device_id}}, "description": "{{if lt .t_av 30.0}}Current temperature is '
     '{{.t_av}}, it\'s normal."{{else if ge .t_av 30.0}}Current temperature is {{.t_av}}, it\'s '
     'high."{{end}}}', {"device_id": 2.0, "t_av": 27.0},
     '{"device_id": 2, "description": "Current temperature is 27, it\'s normal."}'),
    # eKuiper docs: data traversal (spaces kept as the template writes them)
    ('{{$len := len .values}} {{$loopsize := add $len -1}} {"device_id": "{{.device_id}}", '
     '"description": [{{range $index, $ele := .values}} {{if le .temperature 25.0}}"fine"'
     '{{else if gt .temperature 25.0}}"high"{{end}} {{if eq $loopsize $index}}]{{else}},{{end}}'
     "{{end}}}",
     {"device_id": "1", "values": [{"temperature": 10.5}, {"temperature": 20.3},
                                   {"temperature": 30.3}]},
     '  {"device_id": "1", "description": [ "fine" , "fine" , "high" ]}'),
    # fields, nesting, missing values, Go printing
    ("{{.a.b.c}}", {"a": {"b": {"c": 7}}}, "7"),
    ("{{.missing}}|{{.a.missing}}", {"a": {}}, "<no value>|<no value>"),
    ("{{.}}", {"b": 2.0, "a": [1, None, True]}, "map[a:[1 <nil> true] b:2]"),
    ("{{.x}} {{.y}} {{.z}} {{.w}}", {"x": 1e6, "y": 123456.0, "z": 0.00001, "w": -2.5},
     "1e+06 123456 1e-05 -2.5"),
    ("{{$}}", "top", "top"),
    ("{{with .a}}{{.b}}{{else}}none{{end}}", {"a": {"b": 1}}, "1"),
    ("{{with .a}}{{.b}}{{else}}none{{end}}", {}, "none"),
    # trim markers and comments
    ("a  {{- .x -}}  b", {"x": 1}, "a1b"),
    ("a {{/* comment */}}b", {}, "a b"),
    ("a {{- /* comment */ -}} b", {}, "ab"),
    ("{{- range . }}\n  {{ .ab }}\n{{- end }}", ROWS, "\n  hello1\n  hello2"),
    # range forms
    ("{{range $i, $r := .}}{{$i}}={{$r.ab}};{{end}}", ROWS, "0=hello1;1=hello2;"),
    ("{{range $r := .}}{{$r.ab}},{{end}}", ROWS, "hello1,hello2,"),
    ("{{range .}}x{{else}}empty{{end}}", [], "empty"),
    ("{{range $k, $v := .}}{{$k}}:{{$v}} {{end}}", {"b": 2, "a": 1}, "a:1 b:2 "),
    ("{{range .}}{{if eq .ab \"hello2\"}}{{break}}{{end}}{{.ab}}{{end}}", ROWS, "hello1"),
    ("{{range .}}{{if eq .ab \"hello1\"}}{{continue}}{{end}}{{.ab}}{{end}}", ROWS, "hello2"),
    # conditions: eq ne lt le gt ge and or not
    ("{{if and .a (not .b)}}yes{{else}}no{{end}}", {"a": 1, "b": False}, "yes"),
    ("{{if or .a .b}}yes{{else}}no{{end}}", {"a": 0, "b": ""}, "no"),
    ("{{if eq .s \"x\" \"y\"}}in{{end}}", {"s": "y"}, "in"),
    ("{{if ne .n 3}}ne{{end}}{{if le .n 3}}le{{end}}{{if gt .n 2}}gt{{end}}", {"n": 3}, "legt"),
    ("{{if gt .t 30}}hot{{end}}", {"t": 31.5}, "hot"),  # int vs float: Go refuses, we compare
    ("{{if .a}}a{{else if .b}}b{{else}}c{{end}}", {"b": 1}, "b"),
    ("{{$x := 1}}{{if .a}}{{$x = 2}}{{end}}{{$x}}", {"a": True}, "2"),
    # printf, pipes, functions
    ('{{printf "%.2f" .x}}', {"x": 3.14159}, "3.14"),
    ('{{printf "%d-%s-%v-%5.1f|%-4s|" .i .s .l .x "ab"}}', {"i": 42, "s": "s", "l": [1, 2],
                                                             "x": 2.25}, "42-s-[1 2]-  2.2|ab  |"),
    ('{{.x | printf "%.1f"}}', {"x": 2.0}, "2.0"),
    ("{{base64 .s}}", {"s": "hello"}, "aGVsbG8="),
    ("{{.s | b64enc | b64dec}}", {"s": "hi"}, "hi"),
    ("{{.s | upper | printf \"<%s>\"}}", {"s": "ab"}, "<AB>"),
    ("{{len .l}} {{index .l 1}} {{add 1 2 3}} {{sub 5 2}} {{mul 2 3}} {{div 7 2}}",
     {"l": [1, 2, 3]}, "3 2 6 3 6 3"),
    ('{{default "none" .x}} {{default "none" .y}}', {"y": "v"}, "none v"),
    ('{{replace "-" "_" .s}} {{contains "b" .s}} {{trim .p}}', {"s": "a-b", "p": "  x "},
     "a_b true x"),
    ("{{json .}}", {"t": "<a&b>", "f": 2.0}, '{"f":2,"t":"\\u003ca\\u0026b\\u003e"}'),
    ('{{(index . 0).ab}} {{print "a" 1 2 "b"}}', ROWS, "hello1 a1 2b"),
    ('{{"quoted \\"x\\""}} {{`raw`}} {{1.5}} {{-3}}', {}, 'quoted "x" raw 1.5 -3'),
]


@pytest.mark.parametrize(("template", "data", "expected"), CASES)
def test_template_output(template: str, data: object, expected: str) -> None:
    assert compile_template(template).execute(data) == expected


@pytest.mark.parametrize("template", [
    "{{.a", "{{if .a}}x", "{{end}}", "{{else}}", "{{nosuchfunc .a}}", "{{template \"x\"}}",
    "{{(.a}}", "{{/* open", "{{.a ! .b}}",
])
def test_bad_templates_are_config_errors(template: str) -> None:
    with pytest.raises(ConfigError):
        compile_template(template)


@pytest.mark.parametrize(("template", "data"), [
    ("{{.a.b}}", {"a": 5}),          # field of a number
    ("{{.ab}}", ROWS),               # field of the list (sendSingle=false)
    ("{{index . 5}}", ROWS),         # out of range
    ('{{if lt .s 3}}{{end}}', {"s": "x"}),  # incompatible comparison
    ("{{$nope}}", {}),
    ("{{.a 1}}", {"a": 1}),           # argument to a non-function
])
def test_execution_errors_are_eval_errors(template: str, data: object) -> None:
    with pytest.raises(EvalError):
        compile_template(template).execute(data)


def test_compiled_once() -> None:
    assert compile_template("{{.a}}") is compile_template("{{.a}}")


@pytest.mark.parametrize(("value", "expected"), [
    (27.0, "27"), (36.25, "36.25"), (1e21, "1e+21"), (1e20, "1e+20"), (999999.0, "999999"),
    (0.0001, "0.0001"), (1.5e-7, "1.5e-07"), (float("inf"), "+Inf"), (-0.0, "-0"),
])
def test_go_float(value: float, expected: str) -> None:
    assert go_float(value) == expected


def test_printf_missing_and_extra_arguments() -> None:
    assert go_sprintf("%d %d", 1) == "1 %!d(MISSING)"
    assert go_sprintf("%d", 1, "x") == "1%!(EXTRA string=x)"
    assert go_sprintf("%d", 1.5) == "%!d(float64=1.5)"
    assert go_sprintf("100%%") == "100%"


def test_resolve_props_walks_dicts_and_lists() -> None:
    props = {"url": "http://h/{{.id}}", "headers": {"X": "{{.id}}-{{.n}}", "Y": "fixed"},
             "n": 3, "tags": ["{{.n}}", "t"]}
    row = {"id": "dev1", "n": 2}
    assert resolve_props(props, row) == {
        "url": "http://h/dev1", "headers": {"X": "dev1-2", "Y": "fixed"}, "n": 3,
        "tags": ["2", "t"]}
    assert has_template(props) and not has_template({"a": "b", "c": [1]})
    assert resolve_props("{{index . 0 \"id\"}}", [row]) == "dev1"
