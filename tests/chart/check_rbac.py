#!/usr/bin/python3
"""Structural checks of the chart's rendered RBAC.

  check_rbac.py --rendered render.yaml

What the controller may call is checked against the code, not here: tests/controller/app runs
carplb-controller against carplb-kube-double enforcing manifests/carplb.yaml's RBAC for the
controller's ServiceAccount (a call not granted fails a test with 403) and fails the run when a
granted permission is never used (docs/install.md, "RBAC"). This script checks what that run
cannot see:

* no wildcards, no nonResourceURLs, no access to Secrets, pods/exec or tokens, no escalation
  verbs (bind, escalate, impersonate);
* every binding references a role the chart renders, its subjects are the release's
  ServiceAccounts in the release namespace, Role/RoleBinding live in the release namespace;
* Lease rules restricted by resourceNames name the Lease the Deployment passes in --lease-name,
  and only create (which cannot be restricted by name) is granted without resourceNames;
* the agent's ServiceAccount has no bindings at all and no token mounted.
"""
import argparse
import sys

import yaml


FORBIDDEN_RESOURCES = ("secrets", "pods/exec", "pods/attach", "serviceaccounts/token", "nodes/proxy")
FORBIDDEN_VERBS = ("bind", "escalate", "impersonate")


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rendered", required=True)
    args = ap.parse_args(argv)
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

    roles = {(d["kind"], d["metadata"].get("namespace", "") if d["kind"] == "Role" else "", d["metadata"]["name"]): d
             for d in docs if d.get("kind") in ("ClusterRole", "Role")}
    for (kind, rns, name), role in roles.items():
        if kind == "Role" and rns != ns:
            errors.append("Role/%s: namespace %r, expected the release namespace %r" % (name, rns, ns))
        for i, rule in enumerate(role.get("rules", [])):
            where = "%s/%s rules[%d]" % (kind, name, i)
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                if "*" in (rule.get(field) or []) or any("*" in str(v) for v in rule.get(field) or []):
                    errors.append("%s: wildcard in %s" % (where, field))
            if rule.get("nonResourceURLs"):
                errors.append("%s: nonResourceURLs granted" % where)
            for r in rule.get("resources", []):
                if r in FORBIDDEN_RESOURCES:
                    errors.append("%s: grants access to %s" % (where, r))
            for v in rule.get("verbs", []):
                if v in FORBIDDEN_VERBS:
                    errors.append("%s: grants the %s verb" % (where, v))
            if "leases" in rule.get("resources", []):
                names = rule.get("resourceNames") or []
                if names and names != [lease]:
                    errors.append("%s: Lease resourceNames %r, the Deployment uses --lease-name=%s" % (where, names, lease))
                if not names and sorted(rule.get("verbs", [])) != ["create"]:
                    errors.append("%s: Lease verbs %r without resourceNames (only create cannot be limited by name)"
                                  % (where, rule.get("verbs")))

    bound = {ctl_sa: 0, agent_sa: 0}
    for b in docs:
        if b.get("kind") not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        bname = "%s/%s" % (b["kind"], b["metadata"]["name"])
        bns = b["metadata"].get("namespace", "")
        if b["kind"] == "RoleBinding" and bns != ns:
            errors.append("%s: namespace %r, expected the release namespace %r" % (bname, bns, ns))
        ref = b["roleRef"]
        key = (ref["kind"], bns if ref["kind"] == "Role" else "", ref["name"])
        if key not in roles:
            errors.append("%s: roleRef %s/%s not rendered by the chart" % (bname, ref["kind"], ref["name"]))
        for s in b.get("subjects", []):
            if s.get("kind") != "ServiceAccount" or s.get("name") not in bound:
                errors.append("%s: subject %s/%s is not one of the release's ServiceAccounts" % (bname, s.get("kind"), s.get("name")))
                continue
            if s.get("namespace") != ns:
                errors.append("%s: subject %s in namespace %r, the pods run in %r" % (bname, s["name"], s.get("namespace"), ns))
            bound[s["name"]] += 1
    if bound[ctl_sa] == 0:
        errors.append("controller ServiceAccount %s has no bindings" % ctl_sa)
    if agent_sa != ctl_sa and bound[agent_sa]:
        errors.append("agent ServiceAccount %s must have no RBAC (the agent uses no API), has %d binding(s)"
                      % (agent_sa, bound[agent_sa]))
    if ds["spec"]["template"]["spec"].get("automountServiceAccountToken") is not False:
        errors.append("DaemonSet/%s: automountServiceAccountToken must be false" % ds["metadata"]["name"])

    for e in errors:
        print(e)
    if errors:
        print("FAIL: %d RBAC problem(s)" % len(errors))
        return 1
    print("PASS: %d roles, controller %s bound %d time(s), agent %s has no RBAC and no token "
          "(what the controller calls is checked by tests/controller/app)" % (len(roles), ctl_sa, bound[ctl_sa], agent_sa))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
