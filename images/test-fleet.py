#!/usr/bin/env python3
"""The container test of DigiOne Edge (issue 7): the compose fleet, a school cut off, update and
rollback.

    images/test-fleet.py                      # images/build.sh (release), then the test
    images/test-fleet.py --profile dev        # build the images from the dev profile
    images/test-fleet.py --bin-dir DIR        # from binaries already built in DIR (CI: target/debug)
    images/test-fleet.py --no-build           # the images digione-{node,relay}:latest as they are
    images/test-fleet.py --keep               # leave the fleet running at the end (for a look)

1. Builds the images (images/build.sh), starts images/fleet/compose.yaml under its own project
   name on ephemeral loopback ports: relay-init, the relay, both schools' init steps (enrolment,
   roster import, passwords), both nodes; waits until both nodes are online at the relay.
2. Measures each service's start-up (container start -> GET /healthz answers 200).
3. Cuts school 30077 off (`docker network disconnect` of its uplink network), waits until the node
   knows it is offline, and writes at both schools through their HTTP APIs as a teacher (an
   assignment and a class announcement each). 30076 syncs at once; 30077 keeps its writes waiting.
4. Reconnects 30077 and asserts convergence: both nodes connected with nothing waiting either way,
   the relay's fleet view showing both online with nothing waiting; everything written readable.
5. Replaces node-30077 with a newer image (same binaries, a new version label) and back
   (rollback), writing on the new version; after each step every item written so far is readable.
6. Measures the resident memory of the idle node, stops the fleet, and compares the stores: per
   scope, each node holds as many documents as the relay holds for it.

Everything it creates is named digione-test-<pid>… and removed at the end (also on failure).
Needs docker, docker-compose (v1 or the v2 plugin) and Python 3 (standard library only).
"""

import argparse
import csv
import datetime
import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMAGES_DIR = Path(__file__).resolve().parent
FLEET_DIR = IMAGES_DIR / "fleet"
SCHOOLS = ["30076", "30077"]
MUNICIPALITY = "092"
CUT_SCHOOL = "30077"
DEMO_PASSWORD = "digione-demo"
NEXT_TAG = "fleet-test-next"

# Bounds on every wait, so that a broken fleet fails the test instead of hanging CI.
UP_TIMEOUT_SECS = 240
ONLINE_TIMEOUT_SECS = 120
# The node notices a dead uplink through missed heartbeats and QUIC's idle timeout.
OFFLINE_TIMEOUT_SECS = 150
CONVERGE_TIMEOUT_SECS = 180
HEALTHY_TIMEOUT_SECS = 90

timings = []
measures = []


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def timed(label, started):
    elapsed = time.monotonic() - started
    timings.append((label, elapsed))
    log(f"{label}: {elapsed:.1f} s")
    return elapsed


def run(args, check=True, capture=True, env=None, input_text=None):
    result = subprocess.run(
        args,
        check=False,
        text=True,
        capture_output=capture,
        env=env,
        input=input_text,
    )
    if check and result.returncode != 0:
        raise SystemExit(
            f"FAILED: {' '.join(map(str, args))} (exit {result.returncode})\n"
            f"{result.stdout or ''}{result.stderr or ''}"
        )
    return result


def wait_for(description, timeout, probe, interval=0.5):
    """Calls probe() until it returns a true value, which is returned; fails after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = probe()
        except (OSError, http.client.HTTPException, ValueError) as error:
            last = error
            value = None
        else:
            value = last
        if value:
            return value
        if time.monotonic() >= deadline:
            raise SystemExit(f"FAILED: {description} within {timeout} s (last: {last!r})")
        time.sleep(interval)


class Http:
    """A tiny HTTP/JSON client on one base address, with a session cookie and CSRF token."""

    def __init__(self, host_port):
        host, port = host_port.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.cookie = None
        self.csrf = None
        self.authorization = None

    def request(self, method, path, body=None, expect=(200,)):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        headers = {"host": f"{self.host}:{self.port}"}
        if self.cookie:
            headers["cookie"] = self.cookie
        if self.csrf:
            headers["x-csrf-token"] = self.csrf
        if self.authorization:
            headers["authorization"] = self.authorization
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
            set_cookie = response.getheader("set-cookie")
        finally:
            connection.close()
        if response.status not in expect:
            raise SystemExit(f"FAILED: {method} {path}: {response.status} {text}")
        if set_cookie:
            self.cookie = set_cookie.split(";", 1)[0]
        return json.loads(text) if text else None

    def status(self, path):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=2)
        try:
            connection.request("GET", path)
            return connection.getresponse().status
        finally:
            connection.close()

    def login(self, username, password):
        self.cookie = self.csrf = None
        answer = self.request(
            "POST", "/api/v1/session", {"username": username, "password": password}
        )
        self.csrf = answer["csrf_token"]


class Fleet:
    def __init__(self, project, token_file, compose_cmd):
        self.project = project
        self.compose_cmd = compose_cmd
        self.env = dict(os.environ)
        self.env.update(
            {
                "COMPOSE_PROJECT_NAME": project,
                "DIGIONE_OPERATOR_TOKEN_FILE": str(token_file),
                "DIGIONE_BIND": "127.0.0.1",
                # Empty: Docker picks free host ports, so the test never collides with a fleet
                # or demo already running on this machine.
                "DIGIONE_OPERATIONS_PORT": "",
                "DIGIONE_SYNC_PORT": "",
                "DIGIONE_SCHOOL_30076_PORT": "",
                "DIGIONE_SCHOOL_30077_PORT": "",
                "DIGIONE_TAG": "latest",
            }
        )

    def compose(self, *args, tag=None, check=True, capture=True):
        env = dict(self.env)
        if tag:
            env["DIGIONE_TAG"] = tag
        return run(
            [*self.compose_cmd, "-f", str(FLEET_DIR / "compose.yaml"), *args],
            env=env,
            check=check,
            capture=capture,
        )

    def container(self, service):
        out = self.compose("ps", "-q", service).stdout.split()
        if not out:
            raise SystemExit(f"FAILED: no container for {service}")
        return out[0]

    def address(self, service, port):
        out = self.compose("port", service, str(port)).stdout.strip()
        if not out:
            raise SystemExit(f"FAILED: {service} publishes no port {port}")
        return out.replace("0.0.0.0", "127.0.0.1")

    def network(self, name):
        return f"{self.project}_{name}"

    def volume(self, name):
        return f"{self.project}_{name}"


def compose_command():
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if run(["docker", "compose", "version"], check=False).returncode == 0:
        return ["docker", "compose"]
    raise SystemExit("FAILED: neither docker-compose nor the docker compose plugin is installed")


def teacher_of(school):
    """The first teacher enrolled in a class of the school's roster: (username, class id)."""
    roster = FLEET_DIR / "roster" / f"school-{school}"
    with open(roster / "users.csv", newline="", encoding="utf-8") as file:
        usernames = {row["sourcedId"]: row["username"] for row in csv.DictReader(file)}
    with open(roster / "enrollments.csv", newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            if row["role"] == "teacher":
                return usernames[row["userSourcedId"]], row["classSourcedId"]
    raise SystemExit(f"FAILED: no teacher in the roster of {school}")


def administrator_of(school):
    """The first administrator (OneRoster role administrator or principal) of the school's roster."""
    roster = FLEET_DIR / "roster" / f"school-{school}"
    with open(roster / "users.csv", newline="", encoding="utf-8") as file:
        usernames = {row["sourcedId"]: row["username"] for row in csv.DictReader(file)}
    with open(roster / "roles.csv", newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            if row["role"] in ("administrator", "principal"):
                return usernames[row["userSourcedId"]]
    raise SystemExit(f"FAILED: no administrator in the roster of {school}")


def status_reader(fleet, school):
    """A client of the school's node logged in as its administrator: without a login,
    GET /api/v1/sync/status answers only `state`, and the test reads the counts and the node id."""
    reader = Http(fleet.address(f"node-{school}", 8080))
    wait_for(f"node {school} to take logins", HEALTHY_TIMEOUT_SECS, lambda: reader.status("/healthz") == 200)
    reader.login(administrator_of(school), DEMO_PASSWORD)
    return reader


def sync_status(reader):
    return reader.request("GET", "/api/v1/sync/status")


def converged(status):
    # `state` is `in_sync` only when the digests of every scope equal the relay's and nothing waits
    # either way; `documents_waiting_to_receive` is null (unknown) while they differ, so it alone
    # cannot tell "nothing to come" from "not known yet".
    return (
        status["connected"]
        and status.get("state") == "in_sync"
        and status["documents_waiting_to_send"] == 0
        and status["blobs_waiting_to_send"] == 0
        and status.get("documents_waiting_to_receive") == 0
    )


def fleet_nodes(relay):
    answer = relay.request("GET", "/api/v1/fleet")
    return answer["nodes"] if isinstance(answer, dict) and "nodes" in answer else answer


def relay_sees_converged(relay, node_ids):
    nodes = {node.get("node") or node.get("node_id") or node.get("id"): node for node in fleet_nodes(relay)}
    for node_id in node_ids:
        node = nodes.get(node_id)
        if node is None or node.get("state") != "online" or node.get("sync") != "in_sync":
            return False
        for key in ("waiting_to_node", "waiting_from_node"):
            waiting = node.get(key)
            if waiting and (waiting.get("docs") or waiting.get("blobs")):
                return False
    return True


def measure_startup(fleet, service, port):
    """Stops the service's container and starts it again: seconds from `docker start` to the
    first 200 from GET /healthz on its published port."""
    container = fleet.container(service)
    run(["docker", "stop", "-t", "30", container])
    started = time.monotonic()
    run(["docker", "start", container])
    measures.append((f"{service}: `docker start` returned after", f"{time.monotonic() - started:.2f} s"))
    address = fleet.address(service, port)
    probe = Http(address)
    wait_for(f"{service} healthy", HEALTHY_TIMEOUT_SECS, lambda: probe.status("/healthz") == 200, 0.02)
    elapsed = timed(f"start-up of {service} (docker start -> /healthz 200)", started)
    # The program's own share: from the container's start to its "serving" log line.
    started_at = run(["docker", "inspect", "-f", "{{.State.StartedAt}}", container]).stdout.strip()
    logs = run(["docker", "logs", "--since", started_at, container]).stderr
    serving = [line for line in logs.splitlines() if "serving" in line]
    if serving:
        seconds = (parse_time(serving[0].split()[0]) - parse_time(started_at)).total_seconds()
        measures.append((f"{service}: container started -> its 'serving' log line", f"{seconds:.2f} s"))
    return elapsed


def parse_time(text):
    """An RFC 3339 UTC time with up to nanoseconds (Docker's and the programs' logs)."""
    text = re.sub(r"(\.\d{6})\d*", r"\1", text.strip().replace("Z", "+00:00"))
    return datetime.datetime.fromisoformat(text)


def wait_docker_healthy(fleet, service):
    container = fleet.container(service)
    wait_for(
        f"{service} reported healthy by Docker",
        HEALTHY_TIMEOUT_SECS,
        lambda: run(["docker", "inspect", "-f", "{{.State.Health.Status}}", container]).stdout.strip()
        == "healthy",
    )


def image_version(container):
    return run(
        [
            "docker",
            "inspect",
            "-f",
            '{{index .Config.Labels "org.opencontainers.image.version"}}',
            container,
        ]
    ).stdout.strip()


def resident_memory(container):
    pid = run(["docker", "inspect", "-f", "{{.State.Pid}}", container]).stdout.strip()
    rss_kib = None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
    except OSError:
        pass
    stats = run(
        ["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", container]
    ).stdout.strip()
    return rss_kib, stats


def store_counts(image, volume, relay):
    """Documents per scope in a stopped service's store, from its own `inspect-store`."""
    out = run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{volume}:/data", image, "inspect-store"]
    ).stdout
    counts = {}
    for line in out.splitlines():
        if relay:
            match = re.match(r"^(\S+) documents=(\d+)$", line)
            if match:
                counts[match.group(1)] = int(match.group(2))
        else:
            match = re.match(r"^(\S+?)/\S* heads=\d+$", line)
            if match:
                counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-build", action="store_true", help="use the images as they are")
    parser.add_argument("--profile", help="images/build.sh --profile")
    parser.add_argument("--bin-dir", help="images/build.sh --bin-dir")
    parser.add_argument("--keep", action="store_true", help="leave the fleet running")
    arguments = parser.parse_args()

    total_started = time.monotonic()
    if not arguments.no_build:
        build = [str(IMAGES_DIR / "build.sh")]
        if arguments.profile:
            build += ["--profile", arguments.profile]
        if arguments.bin_dir:
            build += ["--bin-dir", arguments.bin_dir]
        started = time.monotonic()
        run(build, capture=False)
        timed("images built", started)

    project = f"digione-test-{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="digione-fleet-test."))
    token_file = workdir / "operator.token"
    operator_token = secrets.token_hex(32)
    token_file.write_text(operator_token)
    # Read by the relay's unprivileged user through the compose secret (a bind mount).
    token_file.chmod(0o644)
    workdir.chmod(0o755)
    fleet = Fleet(project, token_file, compose_command())
    try:
        test(fleet, operator_token)
        timed("whole container test", total_started)
        print("\nTimings:")
        for label, seconds in timings:
            print(f"  {seconds:7.1f} s  {label}")
        print("\nMeasures:")
        for label, value in measures:
            print(f"  {label}: {value}")
        print("\nPASSED")
    finally:
        if arguments.keep:
            log(f"left running: {' '.join(fleet.compose_cmd)} -p {project} -f {FLEET_DIR / 'compose.yaml'} …")
        else:
            if sys.exc_info()[0] is not None:
                logs = fleet.compose("logs", "--no-color", "--tail", "60", check=False)
                print(logs.stdout[-12000:], file=sys.stderr)
            fleet.compose("down", "-v", "--remove-orphans", "-t", "10", check=False)
            run(["docker", "image", "rm", f"digione-node:{NEXT_TAG}"], check=False)
            shutil.rmtree(workdir, ignore_errors=True)


def test(fleet, operator_token):
    # 1. The fleet up: init steps, relay, nodes.
    started = time.monotonic()
    fleet.compose("up", "-d", capture=False)
    for school in SCHOOLS:
        wait_docker_healthy(fleet, f"node-{school}")
    timed("fleet up (enrolment, roster import, passwords; every service healthy)", started)

    relay = Http(fleet.address("relay", 8480))
    relay.authorization = f"Bearer {operator_token}"
    nodes = {school: Http(fleet.address(f"node-{school}", 8080)) for school in SCHOOLS}
    readers = {school: status_reader(fleet, school) for school in SCHOOLS}
    # Without a login the status holds the state alone: nothing of the node's id or counts.
    anonymous = nodes[SCHOOLS[0]].request("GET", "/api/v1/sync/status")
    if set(anonymous) != {"state"}:
        raise SystemExit(f"FAILED: the anonymous sync status shows more than its state: {anonymous}")

    started = time.monotonic()
    node_ids = {}
    for school, reader in readers.items():
        status = wait_for(
            f"node {school} online", ONLINE_TIMEOUT_SECS, lambda reader=reader: (s := sync_status(reader))["connected"] and s
        )
        node_ids[school] = status["node_id"]
    timed("both nodes online at the relay", started)
    log(f"nodes: {node_ids}")

    # 2. Start-up of each service, measured on a restart.
    measure_startup(fleet, "relay", 8480)
    relay = Http(fleet.address("relay", 8480))
    relay.authorization = f"Bearer {operator_token}"
    for school in SCHOOLS:
        measure_startup(fleet, f"node-{school}", 8080)
        nodes[school] = Http(fleet.address(f"node-{school}", 8080))
        readers[school] = status_reader(fleet, school)
    started = time.monotonic()
    for school, reader in readers.items():
        wait_for(f"node {school} back online", ONLINE_TIMEOUT_SECS, lambda reader=reader: converged(sync_status(reader)))
    wait_for("the relay to see both nodes online", ONLINE_TIMEOUT_SECS, lambda: relay_sees_converged(relay, node_ids.values()))
    timed("nodes reconnected and in sync after the restarts", started)

    # 3. School 30077 cut off from the relay; work at both schools.
    cut_container = fleet.container(f"node-{CUT_SCHOOL}")
    uplink = fleet.network(f"wan-{CUT_SCHOOL}")
    run(["docker", "network", "disconnect", uplink, cut_container])
    cut_at = time.monotonic()
    log(f"school {CUT_SCHOOL} cut off ({uplink})")
    wait_for(
        f"node {CUT_SCHOOL} to notice it is offline",
        OFFLINE_TIMEOUT_SECS,
        lambda: not sync_status(readers[CUT_SCHOOL])["connected"],
    )
    timed(f"node {CUT_SCHOOL} reports offline after the cut", cut_at)

    written = {school: [] for school in SCHOOLS}
    teachers = {}
    now_ms = int(time.time() * 1000)
    started = time.monotonic()
    for school, node in nodes.items():
        username, class_id = teacher_of(school)
        teachers[school] = (username, class_id)
        node.login(username, DEMO_PASSWORD)
        title = f"Container test {school} {now_ms}: written while {CUT_SCHOOL} is cut off"
        created = node.request(
            "POST",
            f"/api/v1/classes/{class_id}/assignments",
            {
                "title": title,
                "instructions": "Written by images/test-fleet.py.",
                "due_at": now_ms + 7 * 86_400_000,
                "cut_off_at": now_ms + 14 * 86_400_000,
            },
            expect=(200, 201),
        )
        written[school].append(title)
        node.request(
            "POST",
            f"/api/v1/classes/{class_id}/announcements",
            {"title": f"Announcement {school} {now_ms}", "body": "Written by the container test."},
            expect=(200, 201),
        )
        log(f"school {school}: teacher {username} wrote assignment {created.get('id')} and an announcement")
    timed("writes at both schools (one school offline)", started)

    wait_for(f"node {SCHOOLS[0]} to sync its writes", CONVERGE_TIMEOUT_SECS, lambda: converged(sync_status(readers[SCHOOLS[0]])))
    offline_status = sync_status(readers[CUT_SCHOOL])
    if offline_status["connected"] or offline_status["documents_waiting_to_send"] == 0:
        raise SystemExit(f"FAILED: the cut-off node should hold its writes: {offline_status}")
    log(f"school {CUT_SCHOOL} offline, {offline_status['documents_waiting_to_send']} documents waiting to send")

    # 4. Reconnect and converge.
    run(["docker", "network", "connect", uplink, cut_container])
    started = time.monotonic()
    for school, reader in readers.items():
        wait_for(f"node {school} converged", CONVERGE_TIMEOUT_SECS, lambda reader=reader: converged(sync_status(reader)))
    wait_for("the relay to see both nodes in sync", CONVERGE_TIMEOUT_SECS, lambda: relay_sees_converged(relay, node_ids.values()))
    timed(f"convergence after reconnecting {CUT_SCHOOL}", started)
    timed(f"school {CUT_SCHOOL} offline in total", cut_at)
    check_readable(nodes, teachers, written)

    # 5. Update node-30077 to a newer image, write on it, roll back.
    base_version = image_version(cut_container)
    next_version = f"{base_version}-next"
    run(
        ["docker", "build", "-q", "-t", f"digione-node:{NEXT_TAG}", "-"],
        input_text=(
            "FROM digione-node:latest\n"
            f'LABEL org.opencontainers.image.version="{next_version}"\n'
        ),
    )
    service = f"node-{CUT_SCHOOL}"
    for step, tag, expected_version in (
        ("update", NEXT_TAG, next_version),
        ("rollback", "latest", base_version),
    ):
        started = time.monotonic()
        fleet.compose("up", "-d", "--no-deps", service, tag=tag)
        container = fleet.container(service)
        if container == cut_container:
            raise SystemExit(f"FAILED: {step} did not replace the container")
        cut_container = container
        nodes[CUT_SCHOOL] = Http(fleet.address(service, 8080))
        wait_for(f"{service} healthy after the {step}", HEALTHY_TIMEOUT_SECS, lambda: nodes[CUT_SCHOOL].status("/healthz") == 200, 0.05)
        version = image_version(container)
        if version != expected_version:
            raise SystemExit(f"FAILED: after the {step} the node runs version {version}, not {expected_version}")
        readers[CUT_SCHOOL] = status_reader(fleet, CUT_SCHOOL)
        wait_for(f"{service} in sync after the {step}", CONVERGE_TIMEOUT_SECS, lambda: converged(sync_status(readers[CUT_SCHOOL])))
        timed(f"{step} of {service} to {version} (replace -> healthy -> in sync)", started)
        username, class_id = teachers[CUT_SCHOOL]
        nodes[CUT_SCHOOL].login(username, DEMO_PASSWORD)
        check_readable(nodes, teachers, written)
        if step == "update":
            title = f"Container test {CUT_SCHOOL} {now_ms}: written on {version}"
            nodes[CUT_SCHOOL].request(
                "POST",
                f"/api/v1/classes/{class_id}/assignments",
                {"title": title, "instructions": "Written on the updated node.", "due_at": now_ms + 7 * 86_400_000},
                expect=(200, 201),
            )
            written[CUT_SCHOOL].append(title)
    wait_for("both nodes in sync after the rollback", CONVERGE_TIMEOUT_SECS, lambda: all(converged(sync_status(r)) for r in readers.values()))
    wait_for("the relay to see both nodes in sync", CONVERGE_TIMEOUT_SECS, lambda: relay_sees_converged(relay, node_ids.values()))
    log(f"rolled back; all {sum(map(len, written.values()))} assignments readable")

    # 6. Idle memory, then the stores compared with the fleet stopped.
    time.sleep(5)
    for school in SCHOOLS:
        rss_kib, stats = resident_memory(fleet.container(f"node-{school}"))
        rss = f"{rss_kib / 1024:.1f} MiB" if rss_kib else "n/a"
        log(f"idle node-{school}: resident {rss} (VmRSS), docker stats {stats}")
        measures.append((f"idle node-{school} resident memory (VmRSS; docker stats)", f"{rss}; {stats}"))
    rss_kib, stats = resident_memory(fleet.container("relay"))
    rss = f"{rss_kib / 1024:.1f} MiB" if rss_kib else "n/a"
    log(f"idle relay: resident {rss} (VmRSS), docker stats {stats}")
    measures.append(("idle relay resident memory (VmRSS; docker stats)", f"{rss}; {stats}"))

    fleet.compose("stop", "-t", "30")
    relay_counts = store_counts("digione-relay:latest", fleet.volume("relay-data"), relay=True)
    log(f"relay store: {relay_counts}")
    for school in SCHOOLS:
        counts = store_counts("digione-node:latest", fleet.volume(f"node-{school}-data"), relay=False)
        log(f"node {school} store: {counts}")
        for scope in (f"school:{school}", f"municipality:{MUNICIPALITY}"):
            if counts.get(scope, 0) != relay_counts.get(scope, 0):
                raise SystemExit(
                    f"FAILED: {scope}: node {school} holds {counts.get(scope, 0)} documents, "
                    f"the relay {relay_counts.get(scope, 0)}"
                )
        if not counts.get(f"school:{school}"):
            raise SystemExit(f"FAILED: node {school} holds no documents of its school")


def check_readable(nodes, teachers, written):
    for school, titles in written.items():
        username, class_id = teachers[school]
        node = nodes[school]
        if node.csrf is None:
            node.login(username, DEMO_PASSWORD)
        listed = node.request("GET", f"/api/v1/classes/{class_id}/assignments?limit=50")
        present = {assignment["title"] for assignment in listed["assignments"]}
        missing = [title for title in titles if title not in present]
        if missing:
            raise SystemExit(f"FAILED: school {school} lost {missing}")


if __name__ == "__main__":
    main()
