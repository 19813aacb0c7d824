"""Unit tests for toycluster.api.selector_text: label selectors parsed as apimachinery's pkg/labels parses them.

The cases are the documented ones of upstream's labels/selector_test.go (TestSelectorParse, TestLexer,
TestLexerSequence, TestSetSelectorParser, TestSelectorMatches, TestRequirementSelectorMatching), checked
through selectors.label_selector_matches, which every component and the CLI use.
"""
import pytest

from toycluster.api.selector_text import _lex, is_int64, parse_labels
from toycluster.api.selectors import label_selector_matches


def matches(text: str, labels: dict) -> bool:
    return label_selector_matches(parse_labels(text), labels)


def reqs(text: str) -> list[tuple]:
    return [(r["key"], r["operator"], r["values"]) for r in parse_labels(text)["matchExpressions"]]


@pytest.mark.parametrize("text", ["x=a,y=b,z=c", "", "x!=a,y=b", "x=", "x= ", "x=,z= ", "x= ,z= ", "!x", "x>1",
                                  "x>1,z<5", "x,y", "!x,y", "notin=in", "x==a", "app", "app in (web)", "app!=web"])
def test_good_strings(text):
    parse_labels(text)


@pytest.mark.parametrize("text, message", [
    ("x=a||y=b", 'unable to parse requirement: values[0][x]: Invalid value: "a||y": a valid label must be'),
    ("x==a==b", "found '==', expected: ',' or 'end of string'"),
    ("!x=a", "found '=', expected: ',' or 'end of string'"),
    ("x<a", "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, "
            "the value must be an integer"),
    ("x,,y", "found ',', expected: identifier after ','"),
    (",x,y", "found ',', expected: !, identifier, or 'end of string'"),
    ("x nott in (y)", "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt"),
    ("a in (xyz),", "found '', expected: identifier after ','"),
    ("a in (xyz)b notin ()", "found 'b', expected: ',' or 'end of string'"),
    ("a in (xyz abc)", "unable to parse requirement: found 'abc', expected: ',' or ')'"),
    ("a notin(", "unable to parse requirement: found '', expected: ',', ')' or identifier"),
    ("x in (", "unable to parse requirement: found '', expected: ',', ')' or identifier"),
    ("a (", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"),
    ("(", "found '(', expected: !, identifier, or 'end of string'"),
    ("x=a b", "found 'b', expected: ',' or 'end of string'"),
    ("x in a", "unable to parse requirement: found 'a' expected: '('"),
    ("-x", 'unable to parse requirement: <nil>: Invalid value: "-x": name part must consist of'),
    ("x>-1", 'unable to parse requirement: values[0][x]: Invalid value: "-1": a valid label must be'),
])
def test_bad_strings_in_upstreams_words(text, message):
    with pytest.raises(ValueError) as e:
        parse_labels(text)
    assert str(e.value).startswith(message)


def test_lexer_longest_token_and_identifiers():
    kinds = {"": "END", ",": "COMMA", "notin": "NOTIN", "in": "IN", "=": "EQ", "==": "EQEQ", ">": "GT", "<": "LT",
             "!": "NOT", "!=": "NE", "(": "OPEN", ")": "CLOSE", "~": "IDENT", "||": "IDENT"}
    for text, kind in kinds.items():
        assert _lex(text)[0] == (kind, text)
    assert [t for t, _ in _lex("== != (), = notin")] == ["EQEQ", "NE", "OPEN", "CLOSE", "COMMA", "EQ", "NOTIN", "END"]
    assert [t for t, _ in _lex("key in ( value1, value2 )")] == ["IDENT", "IN", "OPEN", "IDENT", "COMMA", "IDENT",
                                                                 "CLOSE", "END"]


@pytest.mark.parametrize("text, expected", [
    ("\rx", [("x", "Exists", [])]),
    ("this-is-another-dns.domain.com/key-with-dash in (so,what)",
     [("this-is-another-dns.domain.com/key-with-dash", "In", ["so", "what"])]),
    ("0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
     [("0.1.2.domain/99", "NotIn", ["10.10.100.1", "tick.tack.clock"])]),
    ("foo  in\t (abc)", [("foo", "In", ["abc"])]),
    ("x notin\n (abc)", [("x", "NotIn", ["abc"])]),
    ("x in (abc,)", [("x", "In", ["", "abc"])]),
    ("x in ()", [("x", "In", [""])]),
    ("x notin (abc,def),bar,z in (),w",
     [("bar", "Exists", []), ("w", "Exists", []), ("x", "NotIn", ["abc", "def"]), ("z", "In", [""])]),
    ("x notin (, a)", [("x", "NotIn", ["", "a"])]),
    ("a in (x,y,notin, z,in)", [("a", "In", ["in", "notin", "x", "y", "z"])]),
    ("x=a,y!=b", [("x", "In", ["a"]), ("y", "NotIn", ["b"])]),
    ("x>1", [("x", "Gt", ["1"])]),
    ("x<7", [("x", "Lt", ["7"])]),
])
def test_set_selector_parser(text, expected):
    assert reqs(text) == expected


def test_sorted_by_key_as_upstream():
    assert reqs("x=a,a=x") == reqs("a=x,x=a")


@pytest.mark.parametrize("text, labels, expected", [
    ("", {"x": "y"}, True), ("x=y", {"x": "y"}, True), ("x=y,z=w", {"x": "y", "z": "w"}, True),
    ("x!=y,z!=w", {"x": "z", "z": "a"}, True), ("notin=in", {"notin": "in"}, True), ("x", {"x": "z"}, True),
    ("!x", {"y": "z"}, True), ("x>1", {"x": "2"}, True), ("x<1", {"x": "0"}, True),
    ("x=z", {}, False), ("x=y", {"x": "z"}, False), ("x=y,z=w", {"x": "w", "z": "w"}, False),
    ("x!=y,z!=w", {"x": "z", "z": "w"}, False), ("x", {"y": "z"}, False), ("!x", {"x": "z"}, False),
    ("x>1", {"x": "0"}, False), ("x<1", {"x": "2"}, False), ("z>1", {"z": "v2"}, False),
    ("x in ()", {"y": "baz"}, False), ("x notin (),y", {"y": ""}, True), ("!x,!y", {"y": ""}, False),
    # the cases: bare key, set-based, and != also matching pods without the label
    ("app", {"app": "web"}, True), ("app", {"tier": "x"}, False), ("app in (web)", {"app": "web"}, True),
    ("app in (web)", {"app": "db"}, False), ("app!=web", {"app": "db"}, True), ("app!=web", {}, True),
    ("app!=web", {"app": "web"}, False),
])
def test_matches(text, labels, expected):
    assert matches(text, labels) is expected


def test_gt_lt_read_integers_as_go_does():
    assert is_int64("12") and is_int64("-3") and is_int64("+4") and is_int64(str(2 ** 63 - 1))
    assert not any(is_int64(t) for t in ("", "1_0", " 1", "1.0", "v2", str(2 ** 63), "٣"))
    assert matches("x>1", {"x": "+2"}) and not matches("x>1", {"x": "2 "}) and not matches("x>1", {"x": "1_0"})
