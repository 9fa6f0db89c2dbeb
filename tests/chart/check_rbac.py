#!/usr/bin/python3
"""Check the chart's RBAC against charts/carplb/rbac-requirements.yaml.

  check_rbac.py --requirements rbac-requirements.yaml --rendered render.yaml
                [--controller-binary build/.../carplb-controller]

* The controller's ServiceAccount (found through the Deployment's serviceAccountName) must be
  granted exactly the required (group, resource, verb, scope, resourceNames) tuples: nothing
  missing, nothing extra, no wildcards, no Secret access.
* Lease rules restricted by resourceNames must name the Lease the Deployment passes in
  --lease-name, and Role/RoleBinding must live in the Deployment's namespace.
* The agent's ServiceAccount must have no bindings at all and no token mounted.
* With --controller-binary, if `carplb-controller --print-rbac` succeeds, its output (YAML list
  of {group, resource, verbs}) must list the same (group, resource, verb) tuples.
"""
import argparse
import subprocess
import sys

import yaml


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]


def expand(rule, scope, errors, where):
    out = set()
    groups, resources, verbs = rule.get("apiGroups", []), rule.get("resources", []), rule.get("verbs", [])
    names = tuple(sorted(rule.get("resourceNames", []) or []))
    for field, values in (("apiGroups", groups), ("resources", resources), ("verbs", verbs)):
        if "*" in values:
            errors.append("%s: wildcard in %s" % (where, field))
    if rule.get("nonResourceURLs"):
        errors.append("%s: nonResourceURLs granted" % where)
    for g in groups:
        for r in resources:
            if r in ("secrets", "pods/exec", "serviceaccounts/token"):
                errors.append("%s: grants access to %s" % (where, r))
            for v in verbs:
                out.add((g, r, v, scope, names))
    return out


def fmt(t):
    g, r, v, scope, names = t
    s = "%s %s.%s (%s)" % (v, r, g or "core", scope)
    return s + (" names=%s" % ",".join(names) if names else "")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requirements", required=True)
    ap.add_argument("--rendered", required=True)
    ap.add_argument("--controller-binary")
    args = ap.parse_args(argv)

    with open(args.requirements, encoding="utf-8") as f:
        req = yaml.safe_load(f)
    docs = load_all(args.rendered)
    errors = []

    def find(kind, component):
        return [d for d in docs if d.get("kind") == kind
                and d.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/component") == component]

    deploys, daemonsets = find("Deployment", "controller"), find("DaemonSet", "agent")
    if len(deploys) != 1 or len(daemonsets) != 1:
        print("FAIL: expected one controller Deployment and one agent DaemonSet, got %d and %d"
              % (len(deploys), len(daemonsets)))
        return 1
    dep, ds = deploys[0], daemonsets[0]
    ns = dep["metadata"].get("namespace", "")
    ctl_sa = dep["spec"]["template"]["spec"].get("serviceAccountName", "default")
    agent_sa = ds["spec"]["template"]["spec"].get("serviceAccountName", "default")
    lease = None
    for a in dep["spec"]["template"]["spec"]["containers"][0].get("args", []):
        if a.startswith("--lease-name="):
            lease = a.split("=", 1)[1]
    if lease is None:
        errors.append("Deployment/%s: no --lease-name argument" % dep["metadata"]["name"])

    roles = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
             for d in docs if d.get("kind") in ("ClusterRole", "Role")}
    granted = {ctl_sa: set(), agent_sa: set()}
    for b in docs:
        if b.get("kind") not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        bns = b["metadata"].get("namespace", "")
        ref = b["roleRef"]
        key = (ref["kind"], bns if ref["kind"] == "Role" else "", ref["name"])
        for s in b.get("subjects", []):
            if s.get("kind") != "ServiceAccount" or s.get("name") not in granted:
                continue
            if s.get("namespace") != ns:
                errors.append("%s/%s: subject %s in namespace %r, the pods run in %r"
                              % (b["kind"], b["metadata"]["name"], s["name"], s.get("namespace"), ns))
            role = roles.get(key)
            if role is None:
                errors.append("%s/%s: roleRef %s/%s not rendered by the chart" % (b["kind"], b["metadata"]["name"], *key[::2]))
                continue
            scope = "cluster" if b["kind"] == "ClusterRoleBinding" else "release-namespace"
            if b["kind"] == "RoleBinding" and bns != ns:
                errors.append("RoleBinding/%s: namespace %r, expected the release namespace %r" % (b["metadata"]["name"], bns, ns))
            for i, rule in enumerate(role.get("rules", [])):
                granted[s["name"]] |= expand(rule, scope, errors, "%s/%s rules[%d]" % (key[0], key[2], i))

    wanted = set()
    for i, r in enumerate(req.get("controller", [])):
        names = tuple(sorted(n.replace("{controller}", lease or "?") for n in r.get("resourceNames", [])))
        for v in r["verbs"]:
            wanted.add((r["group"], r["resource"], v, r["scope"], names))
    have = granted[ctl_sa]
    for t in sorted(wanted - have):
        errors.append("controller ServiceAccount %s lacks: %s" % (ctl_sa, fmt(t)))
    for t in sorted(have - wanted):
        errors.append("controller ServiceAccount %s has more than required: %s" % (ctl_sa, fmt(t)))

    if req.get("agent"):
        errors.append("rbac-requirements.yaml: agent rules are not expected (the agent uses no API)")
    for t in sorted(granted[agent_sa]):
        errors.append("agent ServiceAccount %s must have no RBAC, has: %s" % (agent_sa, fmt(t)))
    if ds["spec"]["template"]["spec"].get("automountServiceAccountToken") is not False:
        errors.append("DaemonSet/%s: automountServiceAccountToken must be false" % ds["metadata"]["name"])

    if args.controller_binary:
        try:
            p = subprocess.run([args.controller_binary, "--print-rbac"], capture_output=True, text=True, timeout=20)
        except OSError as e:
            p = None
            print("note: %s --print-rbac not runnable (%s); compared with the requirements file only" % (args.controller_binary, e))
        if p is not None and p.returncode == 0:
            code = set()
            for r in yaml.safe_load(p.stdout) or []:
                for v in r["verbs"]:
                    code.add((r.get("group", ""), r["resource"], v))
            listed = {(g, r, v) for g, r, v, _, _ in wanted}
            for t in sorted(code - listed):
                errors.append("carplb-controller --print-rbac needs %s %s.%s, not in rbac-requirements.yaml" % (t[2], t[1], t[0] or "core"))
            for t in sorted(listed - code):
                errors.append("rbac-requirements.yaml grants %s %s.%s that carplb-controller --print-rbac does not list" % (t[2], t[1], t[0] or "core"))
            print("compared with carplb-controller --print-rbac: %d tuples" % len(code))
        elif p is not None:
            print("note: carplb-controller --print-rbac not supported (exit %d); compared with the requirements file only" % p.returncode)

    for e in errors:
        print(e)
    if errors:
        print("FAIL: %d RBAC problem(s)" % len(errors))
        return 1
    print("PASS: controller %s has exactly the %d required permissions; agent %s has none"
          % (ctl_sa, len(wanted), agent_sa))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
