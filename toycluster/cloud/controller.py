"""cloud-controller-manager's service controller, in the control plane: LoadBalancer addresses and statuses, and
the cloud's own processes (the load balancer and the public DNS server).

reconcile() (every control-plane pass) gives each LoadBalancer Service an EXTERNAL-IP from the internet segment's
pool (spec.loadBalancerIP if it is free and in the pool), writes it to status.loadBalancer.ingress, takes it back
when the Service goes or changes type, and writes the load balancer's address into the status of every Ingress of
our class (what ingress-nginx's --publish-status-address does): `toycluster get ingress` shows it as ADDRESS.
Status is written to the store directly: the API's apply ignores status, as kube-apiserver's main resource does.
Events as the service controller records them (component service-controller): EnsuringLoadBalancer and
EnsuredLoadBalancer when an address is given, DeletingLoadBalancer and DeletedLoadBalancer when it is taken back,
SyncLoadBalancerFailed (Warning) when the pool is used up.

start() runs the cloud's processes. They are not pods: each is forked from the control plane as the kubelet forks
a container (setsid, its own log, every inherited descriptor closed, into its namespace), watched through a pidfd
and restarted a second after it dies. A restarted control plane adopts the ones it finds alive (found by their
process title in their namespace). `toycluster down` kills them with everything else in the cluster's namespaces.
"""
from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import os
import signal

import setproctitle

from toycluster.api import events
from toycluster.api.selectors import ingress_class_matches
from toycluster.cloud import lb
from toycluster.kernel import nsfs, procs

RESTART_DELAY = 1.0
COMPONENT = "service-controller"     # the events' source, as cloud-controller-manager's service controller names it


def _lb_ips(obj: dict) -> list[str]:
    return [i.get("ip") for i in ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]


class CloudController:
    def __init__(self, cfg, store):
        self.cfg, self.store = cfg, store
        self.enabled = nsfs.netns_exists(lb.netns(cfg, "lb"))
        self.pool = lb.external_pool(cfg)
        self.procs: dict[str, dict] = {}
        self.failed: set[str] = set()     # uids of Services whose SyncLoadBalancerFailed event was recorded

    # -- statuses --
    def reconcile(self) -> None:
        if not self.enabled:
            return
        claimed, pending = set(), []
        for svc in self.store.list("Service"):
            have = _lb_ips(svc)
            if (svc.get("spec") or {}).get("type") != "LoadBalancer":
                if any(ip in self.pool for ip in have):       # no longer a LoadBalancer: the address goes back
                    self._event(svc, "DeletingLoadBalancer", "Deleting load balancer")
                    self._status(svc, {})
                    self._event(svc, "DeletedLoadBalancer", "Deleted load balancer")
            elif have[:1] and have[0] in self.pool and have[0] not in claimed:
                claimed.add(have[0])
            else:
                pending.append(svc)
        for svc in pending:
            wanted = svc["spec"].get("loadBalancerIP")
            ip = wanted if wanted in self.pool and wanted not in claimed else \
                next((p for p in self.pool if p not in claimed), None)
            if ip is None:
                self._no_address(svc)
                continue
            claimed.add(ip)
            self.failed.discard(svc["metadata"].get("uid"))
            self._event(svc, "EnsuringLoadBalancer", "Ensuring load balancer")
            self._status(svc, {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}})
            self._event(svc, "EnsuredLoadBalancer", "Ensured load balancer")
        address = {"loadBalancer": {"ingress": [{"ip": lb.lb_ip(self.cfg)}]}}
        for ing in self.store.list("Ingress"):
            if ingress_class_matches(ing) and (ing.get("status") or {}) != address:
                self._status(ing, address)

    def _no_address(self, svc: dict) -> None:
        """The pool is used up: said once per Service (upstream retries with a back-off and says it each time)."""
        if svc["metadata"].get("uid") in self.failed:
            return
        self.failed.add(svc["metadata"].get("uid"))
        reason = f"no free external address left in {self.pool[0]}-{self.pool[-1]}"
        print(f"cloud controller: service {svc['metadata']['namespace']}/{svc['metadata']['name']}: {reason}", flush=True)
        self._event(svc, "SyncLoadBalancerFailed",
                    f"Error syncing load balancer: failed to ensure load balancer: {reason}", events.WARNING)

    def _event(self, svc: dict, reason: str, message: str, type_: str = events.NORMAL) -> None:
        events.record(self.store, svc, reason, message, type_, component=COMPONENT)

    def _status(self, obj: dict, status: dict) -> None:
        obj = copy.deepcopy(obj)
        obj["status"] = status
        self.store.put(obj)

    # -- the cloud's processes --
    def start(self) -> None:
        if not self.enabled:
            print(f"cloud controller: cluster {self.cfg.name} has no load balancer namespace (made before it existed?): "
                  "no load balancer, no public DNS", flush=True)
            return
        self._user_files()
        from toycluster.cloud import public_dns
        for role, run in (("lb", lb.run_lb), ("dns", public_dns.run_dns)):
            self.procs[role] = {"run": run, "pid": None, "pidfd": None, "stopping": False}
            pid = self._find(role)
            if pid:
                print(f"cloud controller: adopted the {role} process {pid}", flush=True)
                self._watch(role, pid)
            else:
                self._spawn(role)

    def _title(self, role: str) -> str:
        return f"toycluster cloud {role} {lb.netns(self.cfg, role)}"

    def _find(self, role: str) -> int | None:
        title = self._title(role)
        return next((pid for pid in nsfs.pids_in_netns([lb.netns(self.cfg, role)])
                     if (procs.cmdline(pid) or "").startswith(title)), None)

    def _user_files(self) -> None:
        etc = nsfs.etc_dir(lb.netns(self.cfg, "user"))
        os.makedirs(etc, exist_ok=True)
        for name, text in (("resolv.conf", f"# the internet's resolver: the public DNS server\n"
                                           f"nameserver {lb.dns_ip(self.cfg)}\n"),
                           ("hostname", "user\n")):
            with open(f"{etc}/{name}", "w") as f:
                f.write(text)

    def _spawn(self, role: str) -> None:
        log = f"{self.cfg.state_dir}/logs/cloud-{role}.log"
        os.makedirs(os.path.dirname(log), exist_ok=True)
        run, title, ns = self.procs[role]["run"], self._title(role), lb.netns(self.cfg, role)
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                signal.set_wakeup_fd(-1)
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE):
                    signal.signal(sig, signal.SIG_DFL)
                out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(out, 1)
                os.dup2(out, 2)
                os.dup2(os.open("/dev/null", os.O_RDONLY), 0)
                os.closerange(3, 1 << 16)
                setproctitle.setproctitle(title)
                nsfs.enter_pod_netns(ns, role)
                os.chdir("/")
                gc.freeze()
                run(self.cfg)
            except BaseException as e:                        # noqa: BLE001 - never return into the parent's code
                with contextlib.suppress(Exception):
                    os.write(2, f"toycluster cloud {role}: {type(e).__name__}: {e}\n".encode())
            os._exit(1)
        self._watch(role, pid)

    def _watch(self, role: str, pid: int) -> None:
        p = self.procs[role]
        p["pid"] = pid
        loop = asyncio.get_running_loop()
        try:
            p["pidfd"] = os.pidfd_open(pid)
        except ProcessLookupError:
            loop.call_soon(self._exited, role)
            return
        loop.add_reader(p["pidfd"], self._exited, role)

    def _exited(self, role: str) -> None:
        p, loop = self.procs[role], asyncio.get_running_loop()
        if p["pidfd"] is not None:
            loop.remove_reader(p["pidfd"])
            os.close(p["pidfd"])
            p["pidfd"] = None
        with contextlib.suppress(ChildProcessError):
            os.waitpid(p["pid"], 0)
        print(f"cloud controller: the {role} process {p['pid']} exited; restarting it in {RESTART_DELAY:g}s", flush=True)
        p["pid"] = None
        if nsfs.netns_exists(lb.netns(self.cfg, role)):
            loop.call_later(RESTART_DELAY, self._spawn, role)

