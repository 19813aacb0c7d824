"""Labs 1 and 2, what their checks read: curl's codes, a pod's container statuses, the learner's addresses, and
the VXLAN filter's offsets (checked on a packet built with scapy)."""
import pytest

from toycluster.labs import lab01_pod_netns as lab1
from toycluster.labs import lab02_pod_to_pod as lab2


def test_lab1_codes_read_curl_lines():
    assert lab1._codes("8080 200\n9090 000\nnoise\n") == {8080: True, 9090: False}


def _pod(containers, statuses):
    return {"spec": {"containers": [{"name": n} for n in containers]},
            "status": {"containerStatuses": [{"name": n, "ready": r} for n, r in statuses]}}


@pytest.mark.parametrize("pod, words", [
    (None, "there is no pod pair"),
    (_pod(["web"], [("web", True)]), "has 1 container"),
    (_pod(["web", "admin"], [("web", True), ("admin", False)]), "container admin is not running"),
    (_pod(["web", "admin"], [("web", True)]), "container admin is not running"),
])
def test_lab1_status_failures_name_what_is_missing(pod, words):
    verdict = lab1._check_status(pod)
    assert not verdict.ok and words in verdict.missing and all(verdict.hints)


def test_lab1_status_of_a_fixed_pair_passes():
    assert lab1._check_status(_pod(["web", "admin"], [("web", True), ("admin", True)])).ok


@pytest.mark.parametrize("typed, address", [
    ("10.244.1.5", "10.244.1.5"), (" 10.244.1.5 ", "10.244.1.5"), ("10.244.1.5:41234", "10.244.1.5"),
    ("10.244.1.5.41234", "10.244.1.5"), ("IP 10.244.1.5.41234", "10.244.1.5"),
])
def test_lab2_address_takes_what_a_learner_may_paste(typed, address):
    assert lab2._address(typed) == address


def test_lab2_wrong_answers_fail_with_hints_and_right_ones_pass():
    truth = {"b-saw": "10.244.1.5", "on-wire": "10.244.1.5", "next-hop": "192.168.50.12"}
    assert lab2._wrong("2", truth, {"b-saw": "10.244.1.5", "on-wire": "10.244.1.5:40000",
                                    "next-hop": "192.168.50.12"}).ok
    verdict = lab2._wrong("2", truth, {"b-saw": "10.244.1.5", "on-wire": "192.168.50.11",
                                       "next-hop": "192.168.50.12"})
    assert not verdict.ok and "on-wire" in verdict.missing and "10.244.1.5" not in verdict.missing


def test_lab2_vxlan_filter_offsets_and_reading_match_a_real_packet():
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    from scapy.layers.vxlan import VXLAN
    b_ip = "10.244.2.7"
    inner = Ether() / IP(src="10.244.1.5", dst=b_ip) / TCP(sport=40000, dport=8080, flags="S")
    outer = Ether(bytes(Ether() / IP(src="192.168.50.11", dst="192.168.50.12") / UDP(sport=50000, dport=8472)
                        / VXLAN(vni=1) / inner))
    udp = bytes(outer[UDP])
    assert udp[46:50] == bytes(int(x) for x in b_ip.split("."))
    assert int.from_bytes(udp[52:54], "big") == 8080 and udp[63] & 0x12 == 0x02
    assert "udp[46:4] = 0x0af40207" in lab2._inner_syn(b_ip)
    assert lab2._vxlan_truth([outer], b_ip) == {"outer-src": "192.168.50.11", "outer-dst": "192.168.50.12",
                                                "udp-port": "8472", "inner-src": "10.244.1.5"}
