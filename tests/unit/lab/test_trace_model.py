"""The trace's JSON: the committed sample reads back into the model and writes out unchanged."""
import json
import pathlib

from toycluster.lab import trace_model as tm

SAMPLE = pathlib.Path(__file__).with_name("trace_sample.json")


def test_sample_round_trips():
    text = SAMPLE.read_text()
    trace = tm.from_json(text)
    assert json.loads(tm.to_json(trace)) == json.loads(text)
    assert trace.request.source == "user" and trace.hops[0].n == 1
    assert trace.hops[1].change.what == "DNAT" and trace.connections[0].continues_as == 2


def test_unknown_keys_are_ignored_and_nulls_kept():
    d = json.loads(SAMPLE.read_text())
    d["hops"][0]["future"] = 1
    trace = tm.Trace.from_dict(d)
    out = trace.to_dict()
    assert "future" not in out["hops"][0] and out["hops"][0]["outer"] is None and out["hops"][0]["change"] is None
    assert set(out) == {"request", "dns", "hops", "connections", "result"}
    assert out["request"]["from"] == "user"
