#!/usr/bin/env python3
"""Runs the chart's containers as local processes, without a Kubernetes cluster.

Renders helm/volley, takes the controller StatefulSet's and the agent Deployment's container
`args`, `env` and configuration files (the ConfigMap they mount) exactly as rendered, resolves
them as the kubelet would (secretKeyRef from the rendered Secret, fieldRef from made-up pod,
node and zone names, `$(VAR)` in args), maps the Service names to loopback ports and the
volumes to temporary folders, and starts them with a local `volley` binary in place of the
image's entrypoint. Then it checks that every agent registers with the labels the chart gives
it, runs a test over all of them, scales them down during a run (SIGTERM: idle agents exit,
the busy one drains) and back up on demand as the chart's HPA would, from the controller's
published agents wanted (scale_down(), scale_up()).

With --check it starts nothing: for the default values and each file in helm/volley/examples/
it runs the rendered controller's and agent's exact command with `--check` added, which must
accept the configuration (docs/configuration.md).

With --ha it runs the controllers of values-ha.yaml as a Raft group with TLS and kills the
leader mid-run (see ha()).

usage: exercise.py [--check | --ha] VOLLEY_BINARY   (helm on PATH or in target/tools/bin; PyYAML)
"""
import base64
import json
import math
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = "volley"
AGENTS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render(values=None) -> list:
    """The chart rendered with `values` (helm flags; default: this test's)."""
    helm = os.path.join(ROOT, "target/tools/bin/helm")
    if not os.path.exists(helm):
        helm = "helm"
    if values is None:
        values = ["--set", f"agent.replicas={AGENTS}", "--set", "agent.labels.pool=general",
                  "--set", "agent.maxVus=50", "--set", "autoscaling.hpa.enabled=true"]
    out = subprocess.run(
        [helm, "template", RELEASE, os.path.join(ROOT, "helm/volley"), "--namespace", "volley"]
        + values, check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def find(docs, kind, suffix):
    for d in docs:
        if d["kind"] == kind and d["metadata"]["name"].endswith(suffix):
            return d
    sys.exit(f"exercise: no {kind} named *{suffix} in the rendering")


def resolve_env(container, secrets, fields):
    env = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "secretKeyRef" in e.get("valueFrom", {}):
            ref = e["valueFrom"]["secretKeyRef"]
            env[e["name"]] = base64.b64decode(secrets[ref["name"]][ref["key"]]).decode()
        elif "fieldRef" in e.get("valueFrom", {}):
            env[e["name"]] = fields[e["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            sys.exit(f"exercise: cannot resolve env {e}")
    return env


def expand(args, env):
    """The kubelet's `$(VAR)` expansion in args."""
    return [re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), a) for a in args]


def mount_volumes(pod_spec, container, configmaps, root, localize_text, secrets=None):
    """Local folders for the container's volume mounts under `root` ({mountPath: folder}),
    with the ConfigMap volumes' files written in them as the kubelet would (through
    `localize_text`, which maps the cluster's addresses and paths to this machine's), and
    the Secret volumes' files as they are."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    mounts = {m["mountPath"]: os.path.join(root + m["mountPath"]) for m in container["volumeMounts"]}
    for p in mounts.values():
        os.makedirs(p)
    files = []
    for m in container["volumeMounts"]:
        # (a StatefulSet's claim templates are no pod volumes: an empty folder here)
        cm = volumes.get(m["name"], {}).get("configMap")
        if cm:
            data = configmaps[cm["name"]]
            for item in cm.get("items") or [{"key": k, "path": k} for k in data]:
                files.append((os.path.join(mounts[m["mountPath"]], item["path"]), data[item["key"]]))
        secret = volumes.get(m["name"], {}).get("secret")
        if secret:
            data = (secrets or {}).get(secret["secretName"])
            if data is None:
                sys.exit(f"exercise: the Secret {secret['secretName']} is not in the rendering")
            for item in secret.get("items") or [{"key": k, "path": k} for k in data]:
                with open(os.path.join(mounts[m["mountPath"]], item["path"]), "wb") as f:
                    f.write(base64.b64decode(data[item["key"]]))
    for path, text in files:
        with open(path, "w") as f:
            f.write(localize_text(text, mounts))
    return mounts


def map_paths(text, mounts):
    """Mount paths in quoted strings of a configuration file, mapped to the local folders."""
    for path, local in mounts.items():
        text = text.replace(f'"{path}"', f'"{local}"').replace(f'"{path}/', f'"{local}/')
    return text


def check_configs(volley) -> int:
    """`--check` on the rendered containers' exact command, for every values file."""
    cases = [("default values", []),
             ("values-ha.yaml", ["-f", os.path.join(ROOT, "helm/volley/values-ha.yaml")])] + [
        (f, ["-f", os.path.join(ROOT, "helm/volley/examples", f)])
        for f in sorted(os.listdir(os.path.join(ROOT, "helm/volley/examples"))) if f.endswith(".yaml")]
    work = tempfile.mkdtemp(prefix="volley-chart-check-")
    try:
        for label, values in cases:
            docs = render(values)
            secrets = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "Secret"}
            configmaps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
            for kind, suffix in (("StatefulSet", "-controller"), ("Deployment", "-agent")):
                pod = find(docs, kind, suffix)["spec"]["template"]["spec"]
                c = pod["containers"][0]
                root = tempfile.mkdtemp(dir=work)
                mounts = mount_volumes(pod, c, configmaps, root, map_paths, secrets)
                fields = {"metadata.name": "pod-1", "spec.nodeName": "node-0",
                          "metadata.labels['topology.kubernetes.io/zone']": "zone-a",
                          "metadata.labels['apps.kubernetes.io/pod-index']": "1"}
                # A Secret the values name but the chart does not render (existingSecret):
                # made-up contents, as the cluster would hold some.
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref and ref["key"] not in secrets.get(ref["name"], {}):
                        made_up = f"exercise-{ref['key']}-0123456789abcdef".encode()
                        secrets.setdefault(ref["name"], {})[ref["key"]] = base64.b64encode(made_up)
                env = resolve_env(c, secrets, fields)
                args = []
                for a in expand(c["args"], env):
                    flag, eq, value = a.partition("=")
                    for path, local in mounts.items():
                        if eq and (value == path or value.startswith(path + "/")):
                            a = f"{flag}={local}{value[len(path):]}"
                    args.append(a)
                if not any(a.startswith("--config=") for a in args):
                    sys.exit(f"exercise: the {c['name']} container has no --config ({label})")
                r = subprocess.run([volley] + args + ["--check"], env=env, capture_output=True,
                                   text=True, timeout=60)
                from_file = sum(1 for l in r.stdout.splitlines() if l.endswith("  # file"))
                if r.returncode != 0 or "# the configuration is valid" not in r.stdout or not from_file:
                    sys.exit(f"exercise: volley {c['name']} --check refused the chart's configuration"
                             f" ({label}), exit {r.returncode}:\n{r.stdout}\n{r.stderr}")
                print(f"{label}: volley {c['name']} --check: valid, {from_file} keys from the ConfigMap")
        # A mistake in the values' configuration keys is caught, named.
        docs = render(["--set", "controller.config.max_group=3"])
        configmaps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
        text = next(v["controller.toml"] for v in configmaps.values() if "controller.toml" in v)
        bad = os.path.join(work, "bad.toml")
        with open(bad, "w") as f:
            f.write(map_paths(text, {}))
        r = subprocess.run([volley, "controller", f"--config={bad}", "--check"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode == 0 or "`max_groups`" not in r.stderr:
            sys.exit(f"exercise: --check let controller.config.max_group through (exit {r.returncode}):\n{r.stderr}")
        print("a misspelt controller.config key: --check exit "
              f"{r.returncode}, naming max_groups")
        print(f"--check passed for the controller and the agent with {len(cases)} values files")
        return 0
    finally:
        subprocess.run(["rm", "-rf", work])


def scale_down(volley, rest, work, procs):
    """A scale-down 3 -> 1 while a 1-agent run is in progress, as Kubernetes does it: the
    published agents wanted falls to 1, the idle agents get SIGTERM and exit at once, and so
    does the busy one (a node drain), which finishes its part first: the run FINISHES with
    exactly its iterations."""
    script = os.path.join(work, "scale-down.js")
    with open(script, "w") as f:
        f.write("import { sleep } from 'k6';\n"
                "export const options = { scenarios: { s: { executor: 'shared-iterations',"
                " vus: 2, iterations: 60, maxDuration: '60s' } }, volley: { agents: 1 } };\n"
                "export default function () { sleep(0.1); }\n")
    env = dict(os.environ, VOLLEY_TOKEN=TOKEN["admin"])
    submit = subprocess.Popen([volley, "submit", "--wait", "--controller", rest, script], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    names = [f"{RELEASE}-agent-5d8f9-{i:05d}" for i in range(AGENTS)]
    deadline = time.time() + 30
    while True:
        agents = get(rest + "/v1/agents")["agents"]
        busy = [a["name"] for a in agents if a.get("run_id")]
        if busy:
            break
        if time.time() > deadline:
            sys.exit(f"exercise: no agent took the scale-down run: {agents}")
        time.sleep(0.1)
    wanted = get(rest + "/v1/agents/wanted")
    assert wanted["wanted"] == 1 and wanted["busy"] == 1, wanted
    print(f"agents wanted while the 1-agent run runs: {wanted['wanted']} of {wanted['connected']}")
    sent = time.time()
    for name, p in zip(names, procs[1:]):
        p.send_signal(15)
    idle = [p for name, p in zip(names, procs[1:]) if name not in busy]
    for p in idle:
        p.wait(timeout=10)
    took = time.time() - sent
    assert took < 5, f"the idle agents took {took:.1f} s to exit"
    print(f"SIGTERM to all {AGENTS}: the {len(idle)} idle agents exited within {took:.1f} s")
    out, _ = submit.communicate(timeout=90)
    if submit.returncode != 0:
        sys.exit(f"exercise: the drained run exited {submit.returncode}:\n{out}")
    runs = get(rest + "/loadtests/v2/runs")["k6-runs"]
    last = max(runs, key=lambda r: r["id"])
    iterations = get(f"{rest}/v1/runs/{last['id']}/summary")["metrics"]["iterations"]["values"]["count"]
    assert iterations == 60, iterations
    drained = procs[1 + names.index(busy[0])]
    drained.wait(timeout=20)
    with open(os.path.join(work, f"{busy[0]}.log")) as f:
        log = f.read()
    assert f"SIGTERM while serving run {last['id']}" in log and "drained after" in log, log
    print(f"the busy agent drained: the run FINISHED with {iterations} of 60 iterations, "
          f"then it exited ({drained.returncode})")


def wanted_metric(rest) -> float:
    """`volley_agents_wanted` from the controller's /metrics, as Prometheus scrapes it."""
    req = urllib.request.Request(rest + "/metrics", headers={"Authorization": f"Token {TOKEN['admin']}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("volley_agents_wanted "):
                return float(line.split()[1])
    sys.exit("exercise: no volley_agents_wanted on /metrics")


def dashboard_detail(rest, run_id):
    """What the dashboard's runs page shows for a run (its first /v1/live/runs event)."""
    req = urllib.request.Request(rest + "/v1/live/runs", headers={"Authorization": f"Token {TOKEN['admin']}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        for raw in r:
            line = raw.decode().rstrip("\n")
            if line.startswith("data:"):
                rows = json.loads(line[5:])["runs"]
                return next((row.get("detail") for row in rows if row["id"] == run_id), None)
    return None


def scale_up(volley, rest, work, procs, start_agent, hpa):
    """A scale-up 1 -> 3 on demand, as the chart's HPA does it: from one agent (the HPA's
    minReplicas), a run that needs three (150 VUs at agent.maxVus 50) is queued and says it
    waits for the scaler (API events, `volley runs`, the dashboard); the agents wanted rise
    to 3 on /metrics; this exercise, playing the HPA (replicas = ceil(wanted / averageValue)
    within min and max replicas), starts agents to match; the run starts and finishes exact."""
    spec = hpa["spec"]
    target = float(spec["metrics"][0]["external"]["target"]["averageValue"])
    assert spec["metrics"][0]["external"]["metric"]["name"] == "volley_agents_wanted", spec
    first = len(procs) - 1  # agent pods started so far (procs[0] is the controller)
    agents = []

    def desired():
        wanted = wanted_metric(rest)
        return wanted, min(max(math.ceil(wanted / target), spec["minReplicas"]), spec["maxReplicas"])

    wanted, replicas = desired()
    assert wanted == 0 and replicas == spec["minReplicas"] == 1, (wanted, replicas)
    start_agent(first)
    agents.append(procs[-1])
    deadline = time.time() + 30
    while len(get(rest + "/v1/agents")["agents"]) != 1:
        if time.time() > deadline:
            sys.exit(f"exercise: the HPA's one agent did not register: {get(rest + '/v1/agents')}")
        time.sleep(0.2)
    print(f"idle: agents wanted {wanted:.0f}, the HPA keeps its minReplicas, 1 agent")
    script = os.path.join(work, "scale-up.js")
    with open(script, "w") as f:
        f.write("import { sleep } from 'k6';\n"
                "export const options = { scenarios: { s: { executor: 'shared-iterations',"
                " vus: 150, iterations: 300, maxDuration: '60s' } } };\n"
                "export default function () { sleep(0.05); }\n")
    env = dict(os.environ, VOLLEY_TOKEN=TOKEN["admin"])
    submit = subprocess.Popen([volley, "submit", "--wait", "--controller", rest, script], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    procs.append(submit)  # stopped with the rest if the exercise fails
    deadline = time.time() + 30
    while True:
        runs = get(rest + "/loadtests/v2/runs")["k6-runs"]
        run = max(runs, key=lambda r: r["id"])
        reasons = [e["message"] for e in run.get("events", []) if e["message"].startswith("queued: ")]
        if reasons:
            break
        if submit.poll() is not None:
            sys.exit(f"exercise: submitting the scale-up run exited {submit.returncode}:\n{submit.stdout.read()}")
        if time.time() > deadline:
            sys.exit(f"exercise: the scale-up run never said why it is queued: {run}")
        time.sleep(0.1)
    scaler = f"the HorizontalPodAutoscaler {hpa['metadata']['name']}"
    assert reasons[-1].startswith(f"queued: waiting for the scaler ({scaler}) to start agents: "), reasons
    print(f"the queued run's event: {reasons[-1]}")
    table = subprocess.run([volley, "runs", "--controller", rest], env=env, capture_output=True,
                           text=True, timeout=30).stdout
    line = next(l for l in table.splitlines() if l.startswith(f"{run['id']} "))
    assert "QUEUED" in line and f"waiting for the scaler ({scaler})" in line, table
    print(f"volley runs: {' '.join(line.split()[:3])} ... waiting for the scaler ({scaler}) ...")
    detail = dashboard_detail(rest, run["id"])
    assert detail and detail.startswith(f"waiting for the scaler ({scaler})"), detail
    print(f"the dashboard's runs page: waiting: {detail[:60]}...")
    wanted_json = get(rest + "/v1/agents/wanted")
    wanted, replicas = desired()
    assert wanted == wanted_json["wanted"] == 3 and replicas == 3, (wanted, wanted_json)
    print(f"agents wanted {wanted:.0f} (/metrics and /v1/agents/wanted): the HPA wants {replicas} replicas")
    started = time.time()
    while len(agents) < replicas:
        start_agent(first + len(agents))
        agents.append(procs[-1])
    out, _ = submit.communicate(timeout=120)
    if submit.returncode != 0:
        sys.exit(f"exercise: the scaled-up run exited {submit.returncode}:\n{out}")
    runs = get(rest + "/loadtests/v2/runs")["k6-runs"]
    last = max(runs, key=lambda r: r["id"])
    assert last["id"] == run["id"], (last, run)
    view = get(f"{rest}/loadtests/v2/runs/{run['id']}")["k6-run"]
    placed = len(view.get("assignments", []))
    iterations = get(f"{rest}/v1/runs/{run['id']}/summary")["metrics"]["iterations"]["values"]["count"]
    assert placed == 3 and iterations == 300, (placed, iterations)
    print(f"scaled 1 -> {len(agents)} on demand: the run started on {placed} agents "
          f"{time.time() - started:.1f} s after the new agents were started and FINISHED "
          f"with {iterations} of 300 iterations")


TOKEN = {}  # the controller's bootstrap admin token, from the chart's Secret
CTX = {}  # "ssl": the TLS context trusting the chart's CA (--ha)


def get(url):
    headers = {"Authorization": f"Token {TOKEN['admin']}"} if "admin" in TOKEN else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5,
                                context=CTX.get("ssl")) as r:
        return json.load(r)


def ha(volley) -> int:
    """The Raft group of values-ha.yaml: three controllers and two agents from the rendered
    StatefulSet and Deployment, each "pod" on a loopback address of its own (127.0.0.11-13
    for the controllers, 127.0.0.21- for the agents: a container's 0.0.0.0 becomes its pod's
    address), and the pods' DNS names (the headless Service's) mapped to those addresses in
    a private /etc/hosts: this re-runs itself in a mount namespace of its own (unshare, so
    root) where a copy of /etc/hosts with those names is bind-mounted over the real one, so
    the rendered URLs, peers and the generated certificate's names are used exactly as
    rendered. A run submitted through one follower's URL alone (as through the Service or a
    port-forward) finishes; then the leader is killed (SIGKILL) in the middle of a run,
    another controller takes over and the run finishes with every iteration counted once;
    promtool lints the leader's and a follower's /metrics (Raft series included); the killed
    controller, restarted as the StatefulSet would, rejoins as a follower."""
    if os.environ.get("VOLLEY_EXERCISE_HOSTS") != "1":
        if os.geteuid() != 0:
            sys.exit("exercise --ha: needs root (unshare --mount, mount --bind) to give the "
                     "controllers' DNS names loopback addresses in a private /etc/hosts")
        return subprocess.run(
            ["unshare", "--mount", "--propagation", "private", sys.executable,
             os.path.abspath(__file__), "--ha", volley],
            env=dict(os.environ, VOLLEY_EXERCISE_HOSTS="1"), timeout=600).returncode
    ports = {k: free_port() for k in ("rest", "grpc", "raft", "probes")}
    docs = render(["-f", os.path.join(ROOT, "helm/volley/values-ha.yaml"),
                   "--set", "agent.replicas=2", "--set", "agent.maxVus=50",
                   "--set", f"controller.restPort={ports['rest']}",
                   "--set", f"controller.grpcPort={ports['grpc']}",
                   "--set", f"controller.raftPort={ports['raft']}",
                   "--set", f"agent.probePort={ports['probes']}"])
    secrets = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "Secret"}
    configmaps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    sts = find(docs, "StatefulSet", "-controller")
    deploy = find(docs, "Deployment", "-agent")
    headless = find(docs, "Service", "-controller-headless")
    pdb = find(docs, "PodDisruptionBudget", "-controller")
    spec = sts["spec"]
    assert spec["replicas"] == 3 and spec["podManagementPolicy"] == "Parallel" \
        and spec["ordinals"]["start"] == 1, spec
    assert pdb["spec"]["maxUnavailable"] == 1, pdb["spec"]
    assert spec["template"]["spec"]["affinity"]["podAntiAffinity"], spec["template"]["spec"]
    ns = sts["metadata"]["namespace"]
    svc = headless["metadata"]["name"]
    pods = [f"{sts['metadata']['name']}-{n}" for n in (1, 2, 3)]
    ip = {pod: f"127.0.0.{11 + i}" for i, pod in enumerate(pods)}
    work = tempfile.mkdtemp(prefix="volley-chart-ha-")
    hosts = os.path.join(work, "hosts")
    with open("/etc/hosts") as f:
        text = f.read()
    with open(hosts, "w") as f:
        f.write(text + "\n# helm/exercise.py --ha: the controller pods' names (headless Service)\n")
        for pod in pods:
            names = [f"{pod}.{svc}", f"{pod}.{svc}.{ns}", f"{pod}.{svc}.{ns}.svc",
                     f"{pod}.{svc}.{ns}.svc.cluster.local"]
            f.write(f"{ip[pod]} {' '.join(names)}\n")
    subprocess.run(["mount", "--bind", hosts, "/etc/hosts"], check=True)
    procs = {}
    c = spec["template"]["spec"]["containers"][0]
    env0 = resolve_env(c, secrets, {"metadata.name": pods[0],
                                    "metadata.labels['apps.kubernetes.io/pod-index']": "1"})
    TOKEN["admin"] = env0["VOLLEY_ADMIN_TOKEN"]
    tls = next(d["data"] for d in docs if d["kind"] == "Secret" and d.get("type") == "kubernetes.io/tls")
    ca = os.path.join(work, "ca.crt")
    with open(ca, "wb") as f:
        f.write(base64.b64decode(tls["ca.crt"]))
    CTX["ssl"] = ssl.create_default_context(cafile=ca)
    rest = {pod: f"https://{pod}.{svc}.{ns}.svc:{ports['rest']}" for pod in pods}
    client_env = dict(os.environ, VOLLEY_TOKEN=TOKEN["admin"], VOLLEY_CA=ca,
                      VOLLEY_CONTROLLER=",".join(rest.values()))

    def local(address_ip):
        return lambda text, mounts: map_paths(text.replace("0.0.0.0:", f"{address_ip}:"), mounts)

    def start_controller(pod, fresh):
        node = pods.index(pod) + 1
        root = os.path.join(work, pod)
        if fresh:
            mounts = mount_volumes(spec["template"]["spec"], c, configmaps, root, local(ip[pod]), secrets)
        else:  # a restart keeps the pod's volumes (its data volume claim)
            mounts = {m["mountPath"]: root + m["mountPath"] for m in c["volumeMounts"]}
        env = resolve_env(c, secrets, {"metadata.name": pod,
                                       "metadata.labels['apps.kubernetes.io/pod-index']": str(node)})
        env["TMPDIR"] = mounts["/tmp"]
        args = []
        for a in expand(c["args"], env):
            flag, eq, value = a.partition("=")
            for path, localp in mounts.items():
                if eq and (value == path or value.startswith(path + "/")):
                    a = f"{flag}={localp}{value[len(path):]}"
            args.append(a)
        log = open(os.path.join(work, f"{pod}.log"), "a")
        procs[pod] = subprocess.Popen([volley] + args, env=env, stdout=log, stderr=subprocess.STDOUT)
        return args

    def logs():
        return "".join(f"--- {f}\n" + open(os.path.join(work, f)).read()[-4000:]
                       for f in sorted(os.listdir(work)) if f.endswith(".log"))

    def ready(pod):
        try:
            with urllib.request.urlopen(rest[pod] + c["readinessProbe"]["httpGet"]["path"],
                                        timeout=3, context=CTX["ssl"]) as r:
                return r.status == 200
        except OSError:
            return False

    def leader(among, within=30):
        deadline = time.time() + within
        while time.time() < deadline:
            seen = set()
            for pod in among:
                try:
                    view = get(rest[pod] + "/v1/controllers")
                except OSError:
                    continue
                seen |= {v["node"] for v in view["controllers"] if v["role"] == "leader"}
            if len(seen) == 1:
                node = seen.pop()
                if pods[node - 1] in among:
                    return pods[node - 1]
            time.sleep(0.2)
        sys.exit(f"exercise --ha: no single leader among {among} within {within} s\n{logs()}")

    def last_run():
        runs = get(rest[leader(alive())] + "/loadtests/v2/runs")["k6-runs"]
        return max(runs, key=lambda r: r["id"])

    def alive():
        return [p for p in pods if procs.get(p) and procs[p].poll() is None]

    try:
        started = time.time()
        for pod in pods:
            args = start_controller(pod, fresh=True)
        print(f"3 controllers started with the chart's args: {' '.join(args)}")
        deadline = time.time() + 60
        while not all(ready(p) for p in pods):
            if time.time() > deadline or any(procs[p].poll() is not None for p in pods):
                sys.exit(f"exercise --ha: the controllers did not all become ready\n{logs()}")
            time.sleep(0.2)
        first = leader(pods)
        print(f"3 controllers ready (a leader known) within {time.time() - started:.1f} s; "
              f"the leader is {first}")
        # The Raft port is mutual TLS with the release's CA (values-ha.yaml sets tls.enabled),
        # not plaintext under `insecure`: the group above elected a leader through it.
        toml = next(v["controller.toml"] for v in configmaps.values() if "controller.toml" in v)
        assert "insecure = false" in toml and 'raft_ca = "/etc/volley-tls/ca.crt"' in toml, toml
        with socket.create_connection((ip[first], ports["raft"]), timeout=5) as raw:
            with CTX["ssl"].wrap_socket(raw, server_hostname=f"{first}.{svc}.{ns}.svc") as tls_sock:
                peer = tls_sock.getpeercert()
        print(f"the Raft port speaks TLS: {first}'s certificate verified against the release's "
              f"CA ({peer['subject'][0][0][1]}), and the peers authenticate each other with it")
        a = deploy["spec"]["template"]["spec"]["containers"][0]
        agents = [f"{RELEASE}-agent-7c9d4-{i:05d}" for i in range(2)]
        for i, pod in enumerate(agents):
            fields = {"metadata.name": pod, "spec.nodeName": f"node-{i}",
                      "metadata.labels['topology.kubernetes.io/zone']": f"zone-{'ab'[i]}"}
            root = os.path.join(work, pod)
            mounts = mount_volumes(deploy["spec"]["template"]["spec"], a, configmaps, root,
                                   local(f"127.0.0.{21 + i}"), secrets)
            env = resolve_env(a, secrets, fields)
            env["TMPDIR"] = mounts["/tmp"]
            args = []
            for arg in expand(a["args"], env):
                flag, eq, value = arg.partition("=")
                for path, localp in mounts.items():
                    if eq and (value == path or value.startswith(path + "/")):
                        arg = f"{flag}={localp}{value[len(path):]}"
                args.append(arg)
            log = open(os.path.join(work, f"{pod}.log"), "w")
            procs[pod] = subprocess.Popen([volley] + args, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            linked = get(rest[first] + "/v1/agents")["agents"]
            if len(linked) == 2:
                break
            if time.time() > deadline:
                sys.exit(f"exercise --ha: {len(linked)} of 2 agents linked to the leader\n{logs()}")
            time.sleep(0.2)
        urls = next(v["agent.toml"] for v in configmaps.values() if "agent.toml" in v).count("https://")
        print(f"2 agents linked to the leader over TLS, given every controller ({urls} URLs)")
        script = os.path.join(work, "ha-test.js")
        with open(script, "w") as f:
            f.write("import { sleep } from 'k6';\n"
                    "export const options = { scenarios: { s: { executor: 'shared-iterations',"
                    " vus: 4, iterations: 20, maxDuration: '60s' } } };\n"
                    "export default function () { sleep(0.01); }\n")
        # One follower's URL alone, as through the Service or a port-forward: it forwards the
        # writes to the leader over TLS, trusting the release's CA.
        follower = next(p for p in pods if p != first)
        one = dict(client_env, VOLLEY_CONTROLLER=rest[follower])
        run = subprocess.run([volley, "submit", "--wait", script], env=one,
                             capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            sys.exit(f"exercise --ha: submit through {follower} exited {run.returncode}:\n{run.stdout}\n{run.stderr}\n{logs()}")
        n = get(f"{rest[first]}/v1/runs/{last_run()['id']}/summary")["metrics"]["iterations"]["values"]["count"]
        assert n == 20, n
        linked = get(rest[follower] + "/v1/agents")["agents"]
        assert len(linked) == 2, linked
        print(f"a run through the follower {follower}'s URL alone: exit 0, {n} iterations; "
              f"it shows the leader's {len(linked)} agents")
        # The leader dies in the middle of a run.
        with open(script, "w") as f:
            f.write("import { sleep } from 'k6';\n"
                    "export const options = { scenarios: { s: { executor: 'shared-iterations',"
                    " vus: 4, iterations: 200, maxDuration: '90s' } } };\n"
                    "export default function () { sleep(0.1); }\n")
        submit = subprocess.Popen([volley, "submit", "--wait", script], env=client_env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 30
        while True:
            runs = get(rest[first] + "/loadtests/v2/runs")["k6-runs"]
            busy = [ag for ag in get(rest[first] + "/v1/agents")["agents"] if ag.get("run_id")]
            if len(runs) == 2 and len(busy) == 2:
                break
            if time.time() > deadline:
                sys.exit(f"exercise --ha: the second run did not start on both agents\n{logs()}")
            time.sleep(0.1)
        time.sleep(2)
        killed = time.time()
        procs[first].kill()
        procs[first].wait(timeout=10)
        second = leader([p for p in pods if p != first], within=30)
        print(f"the leader {first} killed (SIGKILL) mid-run; {second} leads "
              f"{time.time() - killed:.1f} s later")
        out, _ = submit.communicate(timeout=120)
        if submit.returncode != 0:
            sys.exit(f"exercise --ha: the run across the failover exited {submit.returncode}:\n{out}\n{logs()}")
        run = last_run()
        n = get(f"{rest[second]}/v1/runs/{run['id']}/summary")["metrics"]["iterations"]["values"]["count"]
        assert n == 200, n
        print(f"the run across the failover: exit 0, FINISHED with {n} of 200 iterations")
        # Prometheus' linter on a group member's /metrics (the Raft series included).
        texts = []
        for pod in (second, next(p for p in pods if p not in (first, second))):
            req = urllib.request.Request(rest[pod] + "/metrics",
                                         headers={"Authorization": f"Token {TOKEN['admin']}"})
            with urllib.request.urlopen(req, timeout=5, context=CTX["ssl"]) as r:
                texts.append(r.read().decode())
        raft = sum(1 for l in texts[0].splitlines() if l.startswith("volley_raft_"))
        assert raft, texts[0]
        if shutil.which("promtool"):
            for text in texts:
                lint = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                                      capture_output=True, timeout=30)
                if lint.returncode != 0:
                    sys.exit(f"exercise --ha: promtool check metrics:\n{lint.stdout}{lint.stderr}")
            print(f"promtool check metrics: clean on the leader's and a follower's /metrics "
                  f"({raft} volley_raft_ samples on the leader)")
        elif os.environ.get("CI") == "true":
            sys.exit("exercise --ha: promtool is not installed (.ci/run installs it)")
        else:
            print("SKIP promtool check metrics: promtool is not installed")
        # The StatefulSet restarts the killed pod: it rejoins, as a follower.
        start_controller(first, fresh=False)
        deadline = time.time() + 60
        while not ready(first):
            if time.time() > deadline or procs[first].poll() is not None:
                sys.exit(f"exercise --ha: the restarted {first} did not become ready\n{logs()}")
            time.sleep(0.2)
        # Ready means it knows the leader (the chart's readiness probe, /readyz).
        view = get(rest[first] + "/v1/controllers")
        roles = {pods[v["node"] - 1]: v["role"] for v in view["controllers"]}
        assert roles[first] == "follower" and roles[second] == "leader", roles
        print(f"{first} restarted: ready again, a follower of {second}")
        return 0
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["umount", "/etc/hosts"])
        subprocess.run(["rm", "-rf", work])


def main() -> int:
    if sys.argv[1] == "--check":
        return check_configs(sys.argv[2])
    if sys.argv[1] == "--ha":
        return ha(sys.argv[2])
    volley = sys.argv[1]
    docs = render()
    secrets = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "Secret"}
    configmaps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    sts = find(docs, "StatefulSet", "-controller")
    deploy = find(docs, "Deployment", "-agent")
    service = find(docs, "Service", "-controller")
    hpa = find(docs, "HorizontalPodAutoscaler", "-agent")
    # The agents' count is the HPA's, on the controller's agents wanted.
    assert "replicas" not in deploy["spec"], deploy["spec"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deploy["metadata"]["name"], hpa["spec"]
    rest_port, grpc_port = free_port(), free_port()
    svc_name = service["metadata"]["name"]
    svc_ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    work = tempfile.mkdtemp(prefix="volley-chart-")
    procs = []

    def addresses(a, probe_port=None):
        if probe_port:
            a = a.replace(f"0.0.0.0:{agent_probe_port}", f"127.0.0.1:{probe_port}")
        a = a.replace(f"0.0.0.0:{svc_ports['rest']}", f"127.0.0.1:{rest_port}")
        a = a.replace(f"0.0.0.0:{svc_ports['grpc']}", f"127.0.0.1:{grpc_port}")
        return a.replace(f"http://{svc_name}:{svc_ports['grpc']}", f"http://127.0.0.1:{grpc_port}")

    def localize(args, mounts, probe_port=None):
        out = []
        for a in args:
            a = addresses(a, probe_port)
            flag, eq, value = a.partition("=")
            for path, local in mounts.items():
                if eq and (value == path or value.startswith(path + "/")):
                    a = f"{flag}={local}{value[len(path):]}"
            out.append(a)
        return out

    def config_text(probe_port=None):
        return lambda text, mounts: map_paths(addresses(text, probe_port), mounts)

    try:
        c = sts["spec"]["template"]["spec"]["containers"][0]
        mounts = mount_volumes(sts["spec"]["template"]["spec"], c, configmaps,
                               os.path.join(work, "controller"), config_text())
        env = resolve_env(c, secrets, {})
        env["TMPDIR"] = mounts["/tmp"]
        TOKEN["admin"] = env["VOLLEY_ADMIN_TOKEN"]
        args = localize(expand(c["args"], env), mounts)
        log = open(os.path.join(work, "controller.log"), "w")
        procs.append(subprocess.Popen([volley] + args, env=env, stdout=log, stderr=subprocess.STDOUT))
        rest = f"http://127.0.0.1:{rest_port}"
        deadline = time.time() + 30
        while True:
            try:
                get(rest + "/health")
                break
            except OSError:
                if time.time() > deadline or procs[0].poll() is not None:
                    sys.exit("exercise: the controller did not come up:\n" + open(log.name).read())
                time.sleep(0.2)
        print(f"controller up with the chart's args: {' '.join(args)}")
        a = deploy["spec"]["template"]["spec"]["containers"][0]
        agent_probe_port = next(p["containerPort"] for p in a["ports"] if p["name"] == "probes")
        probe_ports = []

        def start_agent(i):
            """Agent pod number i of the Deployment, as the kubelet would start it."""
            pod = f"{RELEASE}-agent-5d8f9-{i:05d}"
            fields = {"metadata.name": pod, "spec.nodeName": f"node-{i % 2}",
                      "metadata.labels['topology.kubernetes.io/zone']": f"zone-{'ab'[i % 2]}"}
            probe_ports.append(free_port())
            mounts = mount_volumes(deploy["spec"]["template"]["spec"], a, configmaps,
                                   os.path.join(work, pod), config_text(probe_ports[-1]))
            env = resolve_env(a, secrets, fields)
            env["TMPDIR"] = mounts["/tmp"]
            args = localize(expand(a["args"], env), mounts, probe_ports[-1])
            log = open(os.path.join(work, f"{pod}.log"), "w")
            procs.append(subprocess.Popen([volley] + args, env=env, stdout=log, stderr=subprocess.STDOUT))
            return args

        for i in range(AGENTS):
            args = start_agent(i)
        print(f"agents started with the chart's args: {' '.join(args)}")
        deadline = time.time() + 30
        while True:
            agents = get(rest + "/v1/agents")["agents"]
            if len(agents) >= AGENTS:
                break
            if time.time() > deadline:
                logs = "".join(open(os.path.join(work, f)).read() for f in os.listdir(work) if f.endswith(".log"))
                sys.exit(f"exercise: {len(agents)} of {AGENTS} agents registered:\n{logs}")
            time.sleep(0.2)
        for ag in agents:
            labels = ag.get("labels", {})
            assert ag["name"].startswith(f"{RELEASE}-agent-"), ag
            assert labels.get("pool") == "general" and labels.get("zone") in ("zone-a", "zone-b") \
                and labels.get("node") in ("node-0", "node-1"), f"labels of {ag['name']}: {labels}"
        # The chart's probes: each agent answers on its probe port, ready once registered.
        for port in probe_ports:
            base = f"http://127.0.0.1:{port}"
            for path in (a["livenessProbe"]["httpGet"]["path"], a["readinessProbe"]["httpGet"]["path"]):
                with urllib.request.urlopen(base + path, timeout=5) as r:
                    assert r.status == 200, (base + path, r.status)
            with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
                assert "volley_agent_registered 1" in r.read().decode(), base
        print(f"{AGENTS} agents live and ready on the chart's probes")
        print(f"{AGENTS} agents registered: " + ", ".join(
            f"{g['name']} {sorted(g.get('labels', {}).items())}" for g in agents))
        script = os.path.join(work, "chart-test.js")
        with open(script, "w") as f:
            f.write("import { sleep } from 'k6';\n"
                    "export const options = { vus: 3, iterations: 30, volley: { distribution:"
                    " { 'zone=zone-a': 50, 'zone=zone-b': 50 } } };\n"
                    "export default function () { sleep(0.01); }\n")
        run = subprocess.run([volley, "submit", "--wait", "--controller", rest, script],
                             capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, VOLLEY_TOKEN=TOKEN["admin"]))
        if run.returncode != 0:
            sys.exit(f"exercise: submit exited {run.returncode}:\n{run.stdout}\n{run.stderr}")
        runs = get(rest + "/loadtests/v2/runs")["k6-runs"]
        last = max(runs, key=lambda r: r["id"])
        summary = get(f"{rest}/v1/runs/{last['id']}/summary")
        iterations = summary["metrics"]["iterations"]["values"]["count"]
        assert iterations == 30, iterations
        print(f"a run split by zone over the chart's agents: exit 0, {iterations} iterations")
        scale_down(volley, rest, work, procs)
        scale_up(volley, rest, work, procs, start_agent, hpa)
        return 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    sys.exit(main())
