"""kube-apiserver's and kubectl's decoding (sigs.k8s.io/yaml over go-yaml, encoding/json) with upstream's limits.

- Size: a request body over 3 MiB (3,145,728 bytes) is refused, as the API server's MaxRequestBodyBytes refuses
  it ("Request entity too large: limit is 3145728"). read_limited() stops reading one byte past the limit, so a
  200 MB file is never read whole.
- Aliases: go-yaml's budget against alias bombs ("billion laughs"): while a document is decoded, the decodes
  made through an alias may be at most 99 % of all decodes up to 400,000 of them, falling linearly to 10 % at
  4,000,000 (the check starts after 100 aliased and 1,000 decodes). A bomb is refused after ~1,000 decodes with
  go-yaml's words, "document contains excessive aliasing", before anything is expanded; an anchor that contains
  its own alias is refused too ("anchor 'a' value contains itself").
- Nesting: go-yaml and encoding/json stop at 10,000 levels ("exceeded max depth of 10000"). Python's recursion
  would fail long before that (the composer, json, the printers), so toycluster stops at MAX_DEPTH levels and
  says so: a departure no real manifest meets (the deepest objects, CRD schemas, are a few dozen levels).
"""
import json

import yaml
from yaml.events import MappingEndEvent, MappingStartEvent, SequenceEndEvent, SequenceStartEvent
from yaml.nodes import MappingNode, SequenceNode

MAX_BODY = 3 << 20          # the API server's request body limit (apiserver's MaxRequestBodyBytes)
MAX_DEPTH = 200             # go-yaml's and encoding/json's is 10,000; see above
UPSTREAM_DEPTH = 10000


class TooLarge(ValueError):
    """More than MAX_BODY bytes."""


def too_large_message(what: str = "the request") -> str:
    return (f"{what} is larger than 3 MiB: the API server refuses request bodies over {MAX_BODY} bytes "
            f"(Request entity too large: limit is {MAX_BODY})")


def read_limited(stream, what: str) -> bytes:
    """At most MAX_BODY bytes from the binary STREAM; TooLarge, without reading on, if there are more."""
    data = stream.read(MAX_BODY + 1)
    if isinstance(data, str):           # a text stream (tests give io.StringIO)
        data = data.encode("utf-8", "surrogateescape")
    if len(data) > MAX_BODY:
        raise TooLarge(too_large_message(what))
    return data


def depth_message() -> str:
    return (f"exceeded max depth of {MAX_DEPTH} (toycluster's limit on nesting; the API server's decoders "
            f"stop at {UPSTREAM_DEPTH})")


def _allowed_alias_ratio(decodes: int) -> float:
    """go-yaml's allowedAliasRatio: 0.99 up to 400,000 decodes, 0.10 from 4,000,000, linear in between."""
    if decodes <= 400_000:
        return 0.99
    if decodes >= 4_000_000:
        return 0.10
    return 0.99 - 0.89 * (decodes - 400_000) / 3_600_000


def check_aliases(root, names: dict | None = None) -> None:
    """Walk the composed node graph in document order as go-yaml's decoder would expand it, counting decodes
    and the decodes made through aliases; yaml.YAMLError once aliasing is excessive or an anchor holds itself.
    PyYAML composes an alias as the anchored node itself: a node met again is an alias to it. NAMES: id of an
    anchored node -> its anchor."""
    decodes = aliased = 0
    seen, open_ = set(), set()
    stack = [(root, False, False)]
    while stack:
        node, via_alias, leaving = stack.pop()
        if leaving:
            open_.discard(id(node))
            continue
        if not via_alias and id(node) in seen:      # an alias: the alias itself, then its target, expanded
            if id(node) in open_:
                raise yaml.YAMLError(f"anchor '{(names or {}).get(id(node), '?')}' value contains itself")
            decodes += 1
            via_alias = True
        decodes += 1
        aliased += via_alias
        if aliased > 100 and decodes > 1000 and aliased / decodes > _allowed_alias_ratio(decodes):
            raise yaml.YAMLError("document contains excessive aliasing")
        if not via_alias:
            seen.add(id(node))
            open_.add(id(node))
            stack.append((node, False, True))
        if isinstance(node, SequenceNode):
            stack.extend((child, via_alias, False) for child in reversed(node.value))
        elif isinstance(node, MappingNode):
            stack.extend((child, via_alias, False) for pair in reversed(node.value) for child in reversed(pair))


class LimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with go-yaml's alias budget and a nesting limit, counted on the parser's events
    (before the recursive composer goes deeper)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth, self._anchor_names = 0, {}

    def get_event(self):
        event = super().get_event()
        if isinstance(event, (SequenceStartEvent, MappingStartEvent)):
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, depth_message(), event.start_mark)
        elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
            self._depth -= 1
        return event

    def compose_document(self):
        """As PyYAML's, keeping the anchors' names for check_aliases()."""
        self.get_event()                                        # DocumentStartEvent
        node = self.compose_node(None, None)
        self.get_event()                                        # DocumentEndEvent
        self._anchor_names, self.anchors = {id(n): a for a, n in self.anchors.items()}, {}
        return node

    def construct_document(self, node):
        check_aliases(node, self._anchor_names)
        return super().construct_document(node)


def depth(value) -> int:
    """How deeply VALUE's lists and mappings nest (iteratively: any depth)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (list, dict)):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def loads_json(text):
    """json.loads with encoding/json's depth limit (ValueError naming it) instead of a RecursionError."""
    try:
        doc = json.loads(text)
    except RecursionError:
        raise ValueError(depth_message()) from None
    if depth(doc) > MAX_DEPTH:
        raise ValueError(depth_message())
    return doc


def check_size(doc, what: str) -> None:
    """TooLarge if DOC, as the JSON body kubectl would send, is over MAX_BODY (an alias-expanded object can be)."""
    if len(json.dumps(doc, separators=(",", ":"), default=str)) > MAX_BODY:
        raise TooLarge(too_large_message(what))
