#!/usr/bin/python3
"""Semantic checks of one `helm template` rendering of charts/carplb against the values used.

  render_checks.py --values FILE-OR-EMPTY --rendered render.yaml

Checks what schema validation cannot: the wiring between objects (selectors, named ports,
Secret and ConfigMap references, the agent's --controller address), the security posture
(controller non-root; agent host network with exactly NET_ADMIN + NET_RAW, plus SYS_NICE only
with realtime priority on, not privileged),
leader election flags, the timer profile in the controller's config file, the rolling update
of the agent, and that generated TLS material is a CA plus certificates it signed, with the
controller Service's DNS names.
"""
import argparse
import base64
import os
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CHART = os.path.join(HERE, "..", "..", "charts", "carplb")
PROFILES = {"default": (1, 0, 50), "fast": (0, 20, 40)}


def merge(base, over):
    out = dict(base)
    for k, v in (over or {}).items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class Checker:
    def __init__(self):
        self.errors = []

    def check(self, cond, msg):
        if not cond:
            self.errors.append(msg)
        return cond


def refs_agent_secret(avols):
    return avols.get("tls", {}).get("secret", {}).get("secretName")


def args_map(container):
    out = {}
    for a in container.get("args", []):
        k, _, v = a.partition("=")
        out[k] = v
    return out


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--values", default="")
    ap.add_argument("--rendered", required=True)
    a = ap.parse_args(argv)
    with open(os.path.join(CHART, "values.yaml"), encoding="utf-8") as f:
        values = yaml.safe_load(f)
    if a.values:
        with open(a.values, encoding="utf-8") as f:
            values = merge(values, yaml.safe_load(f))
    with open(a.rendered, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]
    c = Checker()
    by = {}
    for d in docs:
        by.setdefault(d["kind"], []).append(d)

    def one(kind, component):
        xs = [d for d in by.get(kind, []) if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component]
        c.check(len(xs) == 1, "expected one %s for %s, got %d" % (kind, component, len(xs)))
        return xs[0] if xs else {}

    dep, ds = one("Deployment", "controller"), one("DaemonSet", "agent")
    ns = dep["metadata"]["namespace"]
    secrets = {d["metadata"]["name"]: d for d in by.get("Secret", [])}
    configmaps = {d["metadata"]["name"]: d for d in by.get("ConfigMap", [])}
    services = {d["metadata"]["name"]: d for d in by.get("Service", [])}

    # --- controller ---------------------------------------------------------------------------
    cv = values["controller"]
    c.check(dep["spec"]["replicas"] == cv["replicas"], "Deployment replicas %s != values %s" % (dep["spec"]["replicas"], cv["replicas"]))
    pod = dep["spec"]["template"]["spec"]
    ctr = pod["containers"][0]
    am = args_map(ctr)
    le = cv["leaderElection"]
    for flag, want in (("--leader-elect", "true"), ("--lease-duration", le["leaseDuration"]),
                       ("--renew-deadline", le["renewDeadline"]), ("--retry-period", le["retryPeriod"]),
                       ("--grpc-listen", ":%d" % cv["grpc"]["port"]), ("--http-listen", ":%d" % cv["metrics"]["port"]),
                       ("--log-level", values["logLevel"]), ("--lease-name", dep["metadata"]["name"])):
        c.check(am.get(flag) == want, "controller %s=%r, expected %r" % (flag, am.get(flag), want))
    psc, csc = pod.get("securityContext", {}), ctr.get("securityContext", {})
    c.check(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0, "controller must run as non-root")
    c.check(psc.get("fsGroup") == psc.get("runAsGroup"), "controller fsGroup must equal runAsGroup to read its Secret files")
    for v in pod.get("volumes", []):
        if "secret" in v:
            c.check(v["secret"].get("defaultMode", 0o644) & 0o040, "controller Secret volume %s not group-readable" % v["name"])
    c.check(csc.get("readOnlyRootFilesystem") is True and csc.get("allowPrivilegeEscalation") is False
            and csc.get("capabilities", {}).get("drop") == ["ALL"] and not csc.get("capabilities", {}).get("add"),
            "controller container: read-only root, no privilege escalation, all capabilities dropped")
    for p in ("livenessProbe", "readinessProbe"):
        c.check(p in ctr, "controller lacks %s" % p)
    ports = {p["name"]: p["containerPort"] for p in ctr.get("ports", [])}
    labels = dep["spec"]["template"]["metadata"]["labels"]
    sel = dep["spec"]["selector"]["matchLabels"]
    c.check(all(labels.get(k) == v for k, v in sel.items()), "Deployment selector does not match its pod labels")
    svc = services.get(dep["metadata"]["name"], {})
    c.check(bool(svc), "no Service named like the controller Deployment")
    if svc:
        c.check(svc["spec"]["selector"] == sel, "controller Service selector != Deployment selector")
        for p in svc["spec"]["ports"]:
            c.check(p["targetPort"] in ports, "Service port %s targets unknown container port %r" % (p["name"], p["targetPort"]))
    pdbs = by.get("PodDisruptionBudget", [])
    if cv["podDisruptionBudget"]["enabled"]:
        c.check(len(pdbs) == 1 and pdbs[0]["spec"]["selector"]["matchLabels"] == sel, "PDB missing or not selecting the controller")
        if pdbs:
            c.check(pdbs[0]["spec"].get("minAvailable", 0) < cv["replicas"] or cv["replicas"] == 1,
                    "PDB minAvailable must leave room for one voluntary disruption")
    else:
        c.check(not pdbs, "PDB rendered although disabled")

    # Controller config file
    cm = configmaps.get(dep["metadata"]["name"])
    c.check(cm is not None, "controller ConfigMap missing")
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    c.check(vols.get("config", {}).get("configMap", {}).get("name") == dep["metadata"]["name"], "controller does not mount its ConfigMap")
    if cm:
        conf = yaml.safe_load(cm["data"]["controller.yaml"])
        c.check(conf["loadBalancerClass"] == values["loadBalancerClass"], "config loadBalancerClass")
        c.check(conf["defaultClass"] == values["defaultLoadBalancer"], "config defaultClass")
        want_pools = [{"name": p["name"], "ranges": p["cidrs"], "autoAssign": p.get("autoAssign", True)} for p in values["addressPools"]]
        c.check(conf["pools"] == want_pools, "config pools %r != %r" % (conf["pools"], want_pools))
        c.check(conf["nodeSelector"] == values["agent"]["nodeSelector"], "config nodeSelector must be the agents' nodeSelector")
        c.check((conf["vhidMin"], conf["vhidMax"], conf["excludedVhids"]) == (values["vhids"]["min"], values["vhids"]["max"], values["vhids"]["exclude"]),
                "config vhid range")
        c.check(conf["maxBackups"] == values["maxBackups"], "config maxBackups")
        prof = values["timers"]["profile"]
        cu = values["timers"]["custom"]
        want = PROFILES.get(prof, (cu["advbase"], cu["advskewBase"], cu["advskewSpacing"]))
        got = (conf["advbase"], conf["advskewBase"], conf["advskewSpacing"])
        c.check(conf["timerProfile"] == prof and got == want, "config timers %r, expected %s %r" % (got, prof, want))
        c.check(want[1] + conf["maxBackups"] * want[2] <= 200, "highest planned advskew above 200")
        if prof == "fast":
            c.check(got[0] == 0, "fast profile must be sub-second (advbase 0)")
        # OpenBSD timing (agent/carp/timing.h): T = advbase + advskew/256, master-down = 3 x T
        # of the first backup (advskewBase + advskewSpacing).
        master_t = want[0] + want[1] / 256.0
        failover = 3 * (want[0] + (want[1] + want[2]) / 256.0)
        c.check(master_t > 0, "the master's advert interval would be 0")
        if prof == "fast":
            c.check(failover < 1.0, "fast profile: first backup takes over after %.3fs, not sub-second" % failover)
        if prof == "default":
            c.check(master_t == 1.0, "default profile: the master must advertise every 1 s")

    # --- agent --------------------------------------------------------------------------------
    av = values["agent"]
    apod = ds["spec"]["template"]["spec"]
    actr = apod["containers"][0]
    asc = actr.get("securityContext", {})
    c.check(apod.get("hostNetwork") is True, "agent must use the host network")
    c.check(apod.get("dnsPolicy") == "ClusterFirstWithHostNet", "agent dnsPolicy must be ClusterFirstWithHostNet")
    c.check(asc.get("privileged") is False, "agent must not be privileged")
    c.check(asc.get("allowPrivilegeEscalation") is False, "agent: allowPrivilegeEscalation must be false")
    # SCHED_RR (--realtime-priority, CAP_SYS_NICE) only when on: "auto" = 50 for sub-second timers.
    rt = av["realtimePriority"]
    subsecond = values["timers"]["profile"] == "fast" or (
        values["timers"]["profile"] == "custom" and values["timers"]["custom"]["advbase"] == 0)
    want_rt = (50 if subsecond else 0) if rt == "auto" else int(rt)
    want_caps = ["NET_ADMIN", "NET_RAW"] + (["SYS_NICE"] if want_rt > 0 else [])
    caps = asc.get("capabilities", {})
    c.check(caps.get("drop") == ["ALL"] and sorted(caps.get("add", [])) == want_caps,
            "agent capabilities must be drop ALL, add exactly %s, got %r" % ("+".join(want_caps), caps))
    c.check(apod.get("priorityClassName") == (av["priorityClassName"] or None), "agent priorityClassName")
    us = ds["spec"]["updateStrategy"]
    c.check(us["type"] == "RollingUpdate" and us["rollingUpdate"].get("maxSurge") == 0, "agent: RollingUpdate without surge")
    c.check(ds["spec"].get("minReadySeconds", 0) == av["minReadySeconds"], "agent minReadySeconds")
    c.check(apod.get("terminationGracePeriodSeconds") == av["terminationGracePeriodSeconds"], "agent terminationGracePeriodSeconds")
    c.check(apod.get("tolerations", []) == av["tolerations"], "agent tolerations")
    aam = args_map(actr)
    want_ctl = "%s.%s.svc:%d" % (dep["metadata"]["name"], ns, cv["grpc"]["port"])
    c.check(aam.get("--controller") == want_ctl, "agent --controller=%r, expected %r" % (aam.get("--controller"), want_ctl))
    c.check(aam.get("--interface") == values["interface"], "agent --interface")
    got_rt = aam.get("--realtime-priority")
    c.check(got_rt == (str(want_rt) if want_rt > 0 else None),
            "agent --realtime-priority=%r, expected %r" % (got_rt, want_rt if want_rt > 0 else "(none)"))
    host = av["status"]["host"]
    want_listen = "%s:%d" % ("$(POD_IP)" if host == "podIP" else host, av["status"]["port"])
    c.check(aam.get("--status-listen") == want_listen, "agent --status-listen=%r, expected %r" % (aam.get("--status-listen"), want_listen))
    avols = {v["name"]: v for v in apod.get("volumes", [])}
    mounts = {m["name"]: m["mountPath"] for m in actr.get("volumeMounts", [])}
    snap = avols.get("snapshot", {}).get("hostPath", {})
    c.check(snap.get("path") == av["snapshotHostPath"], "agent snapshot hostPath")
    c.check(aam.get("--snapshot-file", "").startswith(mounts.get("snapshot", "?") + "/"), "agent --snapshot-file outside the hostPath mount")
    c.check("carp" not in avols, "the agent must not mount the CARP cluster secret (it gets per-vhid keys in its plan)")
    c.check(vols.get("agent-token", {}).get("secret", {}).get("secretName") == refs_agent_secret(avols),
            "controller must read the agent token from the agents' Secret")
    for flag, vol in (("--token-file", "tls"), ("--tls-ca-file", "tls"), ("--tls-cert-file", "tls"), ("--tls-key-file", "tls")):
        c.check(aam.get(flag, "").startswith(mounts.get(vol, "?") + "/"), "agent %s not inside the %s volume" % (flag, vol))
    for flag, vol in (("--tls-cert-file", "tls"), ("--client-ca-file", "tls"), ("--config", "config"),
                      ("--agent-token-file", "agent-token"), ("--carp-secret-file", "carp")):
        mount = {m["name"]: m["mountPath"] for m in ctr.get("volumeMounts", [])}.get(vol, "?")
        c.check(am.get(flag, "").startswith(mount.rsplit("/", 1)[0] if vol == "config" else mount + "/"),
                "controller %s not inside the %s volume" % (flag, vol))
    c.check(ds["spec"]["template"]["spec"].get("automountServiceAccountToken") is False, "agent must not mount an API token")

    # --- Secrets ------------------------------------------------------------------------------
    refs = {
        "carp": (vols.get("carp", {}).get("secret", {}).get("secretName"), values["carp"]["existingSecret"], ["password"]),
        "agent-tls": (avols.get("tls", {}).get("secret", {}).get("secretName"), values["tls"]["existingAgentSecret"], ["ca.crt", "tls.crt", "tls.key", "token"]),
        "controller-tls": (vols.get("tls", {}).get("secret", {}).get("secretName"), values["tls"]["existingControllerSecret"], ["ca.crt", "tls.crt", "tls.key"]),
    }
    for what, (name, existing, keys) in refs.items():
        if existing:
            c.check(name == existing, "%s: pods reference %r, values name the existing Secret %r" % (what, name, existing))
            c.check(name not in secrets, "%s: existing Secret %r must not be rendered" % (what, name))
        else:
            c.check(name in secrets, "%s: referenced Secret %r is not rendered" % (what, name))
            if name in secrets:
                c.check(sorted(secrets[name]["data"]) == sorted(keys), "%s: Secret keys %r" % (what, sorted(secrets[name]["data"])))
    carp_name = refs["carp"][0]
    if carp_name in secrets:
        pw = base64.b64decode(secrets[carp_name]["data"]["password"])
        c.check(len(pw) == 32 and pw.isalnum(), "CARP cluster secret must be 32 alphanumerics (controller/grpc/vhid_key.h wants >= 16 bytes)")
    ctl_tls, ag_tls = refs["controller-tls"][0], refs["agent-tls"][0]
    if ctl_tls in secrets and ag_tls in secrets:
        with tempfile.TemporaryDirectory() as t:
            for sname, prefix in ((ctl_tls, "ctl"), (ag_tls, "ag")):
                for k, v in secrets[sname]["data"].items():
                    with open(os.path.join(t, "%s-%s" % (prefix, k)), "wb") as f:
                        f.write(base64.b64decode(v))
            c.check(open(os.path.join(t, "ctl-ca.crt"), "rb").read() == open(os.path.join(t, "ag-ca.crt"), "rb").read(),
                    "controller and agent TLS Secrets must share one CA")
            for prefix in ("ctl", "ag"):
                r = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(t, prefix + "-ca.crt"), os.path.join(t, prefix + "-tls.crt")],
                                   capture_output=True, text=True)
                c.check(r.returncode == 0, "%s certificate does not verify against the CA: %s" % (prefix, r.stdout + r.stderr))
                r = subprocess.run(["openssl", "x509", "-noout", "-pubkey", "-in", os.path.join(t, prefix + "-tls.crt")], capture_output=True, text=True)
                k = subprocess.run(["openssl", "pkey", "-pubout", "-in", os.path.join(t, prefix + "-tls.key")], capture_output=True, text=True)
                c.check(r.stdout and r.stdout == k.stdout, "%s key does not match its certificate" % prefix)
            r = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", os.path.join(t, "ctl-tls.crt")], capture_output=True, text=True)
            host = want_ctl.rsplit(":", 1)[0]
            c.check("DNS:%s" % host in r.stdout, "controller certificate lacks SAN %s: %s" % (host, r.stdout.strip()))

    # --- ServiceMonitor -----------------------------------------------------------------------
    sm = by.get("ServiceMonitor", [])
    sv = values["serviceMonitor"]
    c.check(len(sm) == (0 if not sv["enabled"] else (2 if sv["agents"] else 1)), "ServiceMonitor count %d" % len(sm))

    for e in c.errors:
        print("%s: %s" % (a.values or "defaults", e))
    if c.errors:
        print("FAIL: %d problem(s)" % len(c.errors))
        return 1
    print("ok: render checks %s" % (os.path.basename(a.values) if a.values else "defaults"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
