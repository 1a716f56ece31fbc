"""The container and deployment files in packaging/: the ECS task definition against the
RegisterTaskDefinition input shape of the botocore ECS model (tests/endpoint/models/ecs),
the Kubernetes and CloudFormation YAML parsed and checked for the fields that make them
work, the Dockerfile linted (dockerfilelint from tests/npm) and checked, and the container
entrypoint run against the built binary. Every configuration embedded in these files must
pass `osprey --check-config`. The image itself is not built here (no container runtime)."""
import copy
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

import yaml
from botocore.loaders import Loader
from botocore.model import ServiceModel

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

SRC = harness.SOURCE_DIR
sys.path.insert(0, os.path.join(SRC, "tests", "endpoint"))
from awsendpoint import validation  # noqa: E402

PKG = os.path.join(SRC, "packaging")
ENTRYPOINT = os.path.join(PKG, "docker", "entrypoint.sh")
HEALTH_PROBE = "/dev/tcp/127.0.0.1/2021"


def check_config_text(test, text, what):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(text)
    try:
        r = harness.run_cli("--check-config", f.name)
    finally:
        os.unlink(f.name)
    test.assertEqual(r.returncode, 0, "%s does not validate:\n%s%s" % (what, r.stdout, r.stderr))


def register_task_definition_shape():
    models = os.path.join(SRC, "tests", "endpoint", "models")
    loader = Loader(extra_search_paths=[models], include_default_search_paths=False,
                    include_default_extras=False)
    versions = loader.list_api_versions("ecs", "service-2")
    assert versions == ["2014-11-13"], versions
    model = ServiceModel(loader.load_service_model("ecs", "service-2", versions[0]),
                         service_name="ecs")
    return model.operation_model("RegisterTaskDefinition").input_shape


class EcsTaskDefinition(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(PKG, "ecs", "task-definition.json")) as f:
            cls.td = json.load(f)
        cls.shape = register_task_definition_shape()

    def container(self, name):
        found = [c for c in self.td["containerDefinitions"] if c["name"] == name]
        self.assertEqual(len(found), 1, name)
        return found[0]

    def test_matches_register_task_definition_input(self):
        issues = validation.validate(self.td, self.shape)
        self.assertEqual(issues, [], "task definition does not match the ECS model")

    def test_validator_rejects_broken_definitions(self):
        # The same check must fail on definitions ECS would refuse.
        broken = copy.deepcopy(self.td)
        broken["containerDefinitions"][1]["portMappings"][0]["protocol"] = "sctp"
        self.assertTrue(validation.validate(broken, self.shape))
        broken = copy.deepcopy(self.td)
        broken["containerDefinitions"][1]["essentiel"] = True
        self.assertTrue(validation.validate(broken, self.shape))
        broken = copy.deepcopy(self.td)
        del broken["containerDefinitions"]
        self.assertTrue(validation.validate(broken, self.shape))

    def test_sidecar_layout(self):
        self.assertEqual(self.td["networkMode"], "awsvpc")
        osprey, app = self.container("osprey"), self.container("app")
        self.assertTrue(osprey["essential"])
        ports = {(p["containerPort"], p["protocol"]) for p in osprey["portMappings"]}
        self.assertLessEqual({(2000, "udp"), (2000, "tcp"), (8125, "udp"), (25888, "tcp"),
                              (4318, "tcp")}, ports)
        self.assertNotEqual(osprey.get("user", "0"), "0")
        env = {e["name"]: e["value"] for e in app["environment"]}
        self.assertEqual(env["AWS_XRAY_DAEMON_ADDRESS"], "127.0.0.1:2000")
        # One shared log volume: written by the app, read-only for Osprey.
        volumes = {v["name"] for v in self.td["volumes"]}
        app_mounts = {m["sourceVolume"]: m for m in app["mountPoints"]}
        osprey_mounts = {m["sourceVolume"]: m for m in osprey["mountPoints"]}
        shared = set(app_mounts) & set(osprey_mounts)
        self.assertTrue(shared and shared <= volumes)
        for v in shared:
            self.assertTrue(osprey_mounts[v]["readOnly"])
        self.assertEqual(osprey["logConfiguration"]["logDriver"], "awslogs")
        self.assertIn({"containerName": "osprey", "condition": "HEALTHY"}, app["dependsOn"])
        probe = " ".join(osprey["healthCheck"]["command"])
        self.assertIn(HEALTH_PROBE, probe)
        self.assertIn("/healthz", probe)

    def test_embedded_config_is_valid(self):
        osprey = self.container("osprey")
        env = {e["name"]: e["value"] for e in osprey["environment"]}
        config = json.loads(env["OSPREY_CONFIG_CONTENT"])
        shared = [m["containerPath"] for m in osprey["mountPoints"] if m["readOnly"]]
        paths = [e["file_path"] for e in
                 config["logs"]["logs_collected"]["files"]["collect_list"]]
        self.assertTrue(all(any(p.startswith(s + "/") for s in shared) for p in paths), paths)
        self.assertEqual(config["traces"]["traces_collected"]["xray"]["bind_address"],
                         "127.0.0.1:2000")
        check_config_text(self, env["OSPREY_CONFIG_CONTENT"], "OSPREY_CONFIG_CONTENT")


class Kubernetes(unittest.TestCase):
    def load(self, name):
        with open(os.path.join(PKG, "kubernetes", name)) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for d in docs:
            self.assertIn("apiVersion", d)
            self.assertIn("kind", d)
            self.assertIn("name", d["metadata"])
        return {d["kind"]: d for d in docs}

    def test_daemonset(self):
        docs = self.load("daemonset.yaml")
        self.assertLessEqual({"ServiceAccount", "ConfigMap", "DaemonSet"}, set(docs))
        ds = docs["DaemonSet"]
        spec = ds["spec"]["template"]["spec"]
        self.assertEqual(spec["serviceAccountName"], docs["ServiceAccount"]["metadata"]["name"])
        self.assertEqual(ds["spec"]["selector"]["matchLabels"],
                         {k: v for k, v in ds["spec"]["template"]["metadata"]["labels"].items()
                          if k in ds["spec"]["selector"]["matchLabels"]})
        self.assertTrue(spec["securityContext"]["runAsNonRoot"])
        self.assertNotEqual(spec["securityContext"]["runAsUser"], 0)
        (c,) = spec["containers"]
        self.assertFalse(c["securityContext"]["allowPrivilegeEscalation"])
        self.assertIn("limits", c["resources"])
        host_paths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
        mounts = {m["name"]: m for m in c["volumeMounts"]}
        proc_mount = [mounts[n] for n, p in host_paths.items() if p == "/proc"]
        log_mount = [mounts[n] for n, p in host_paths.items() if p == "/var/log"]
        self.assertEqual(len(proc_mount), 1)
        self.assertEqual(len(log_mount), 1)
        self.assertTrue(proc_mount[0]["readOnly"] and log_mount[0]["readOnly"])
        ports = {(p["containerPort"], p["protocol"], p.get("hostPort")) for p in c["ports"]}
        self.assertIn((2000, "UDP", 2000), ports)
        config_text = docs["ConfigMap"]["data"]["osprey.json"]
        config = json.loads(config_text)
        self.assertEqual(config["osprey"]["proc_root"], proc_mount[0]["mountPath"])
        check_config_text(self, config_text, "daemonset ConfigMap")

    def test_sidecar_pod(self):
        docs = self.load("sidecar-pod.yaml")
        pod = docs["Pod"]["spec"]
        names = [c["name"] for c in pod["containers"]]
        self.assertIn("osprey", names)
        self.assertEqual(len(names), 2)
        mounts = [{m["name"] for m in c["volumeMounts"]} for c in pod["containers"]]
        self.assertTrue(mounts[0] & mounts[1], "no volume shared by the app and osprey")
        check_config_text(self, docs["ConfigMap"]["data"]["osprey.json"], "sidecar ConfigMap")


class CfnLoader(yaml.SafeLoader):
    """CloudFormation's short-form intrinsic functions (!Ref, !Sub, ...)."""


def _intrinsic(loader, tag_suffix, node):
    name = "Ref" if tag_suffix == "Ref" else "Fn::" + tag_suffix
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _intrinsic)


class CloudFormation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(PKG, "cloudformation", "ec2-osprey.yaml")) as f:
            cls.t = yaml.load(f, Loader=CfnLoader)

    def walk(self, node):
        if isinstance(node, dict):
            yield node
            for v in node.values():
                yield from self.walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from self.walk(v)

    def test_template(self):
        t = self.t
        self.assertEqual(t["AWSTemplateFormatVersion"], "2010-09-09")
        resources, params = t["Resources"], t["Parameters"]
        known = set(resources) | set(params) | {"AWS::Region", "AWS::Partition",
                                                 "AWS::StackName", "AWS::AccountId"}
        for node in self.walk(t):
            if "Ref" in node:
                self.assertIn(node["Ref"], known)
            if "Fn::GetAtt" in node:
                self.assertIn(node["Fn::GetAtt"][0], resources)
        role = [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
        self.assertEqual(len(role), 1)
        arns = [a["Fn::Sub"] for a in role[0]["Properties"]["ManagedPolicyArns"]]
        self.assertIn("arn:${AWS::Partition}:iam::aws:policy/CloudWatchAgentServerPolicy", arns)
        self.assertIn("arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess", arns)
        instance = [r for r in resources.values() if r["Type"] == "AWS::EC2::Instance"]
        self.assertEqual(len(instance), 1)
        props = instance[0]["Properties"]
        self.assertEqual(props["MetadataOptions"]["HttpTokens"], "required")
        user_data = props["UserData"]["Fn::Base64"]["Fn::Sub"][0]
        self.assertIn("${OspreyDebUrl}", user_data)
        self.assertIn("apt-get install -y -q /tmp/osprey.deb", user_data)
        self.assertIn("systemctl enable osprey.service", user_data)
        self.assertIn("osprey --check-config /etc/osprey/osprey.json", user_data)
        self.assertIn("OspreyDebUrl", params)
        # The script itself must be valid bash once substituted.
        script = user_data.replace("${", "X{")
        r = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)


class Dockerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.path = os.path.join(PKG, "docker", "Dockerfile")
        with open(cls.path) as f:
            text = f.read().replace("\\\n", " ")
        cls.lines = [l.strip() for l in text.splitlines() if l.strip() and not
                     l.strip().startswith("#")]

    def test_structure(self):
        froms = [l for l in self.lines if l.startswith("FROM ")]
        self.assertEqual(len(froms), 2, "multi-stage: a builder and a runtime")
        self.assertTrue(all(l.split()[1] == "debian:12-slim" for l in froms))
        runtime = self.lines[self.lines.index(froms[1]):]
        runtime_text = " ".join(runtime)
        for lib in ("libuv1", "libcurl4", "libjansson4", "libpcre2-8-0", "libprotobuf-c1",
                    "zlib1g", "libssl3", "ca-certificates"):
            self.assertIn(" %s " % lib, runtime_text + " ")
        self.assertNotIn("-dev", runtime_text)
        users = [l.split()[1] for l in runtime if l.startswith("USER ")]
        self.assertEqual(len(users), 1)
        uid = users[0].split(":")[0]
        self.assertTrue(uid.isdigit() and int(uid) != 0, "numeric non-root USER")
        entry = [l for l in runtime if l.startswith("ENTRYPOINT ")]
        self.assertEqual(len(entry), 1)
        target = json.loads(entry[0][len("ENTRYPOINT "):])[0]
        copies = [l.split() for l in runtime if l.startswith("COPY ")]
        sources = {c[-1]: c[-2] for c in copies}
        self.assertEqual(sources[target], "packaging/docker/entrypoint.sh")
        for c in copies:
            if not c[1].startswith("--from="):
                self.assertTrue(os.path.exists(os.path.join(SRC, c[-2])), c)
        self.assertTrue(os.path.exists(os.path.join(SRC, ".dockerignore")))

    def runtime_packages(self):
        froms = [i for i, l in enumerate(self.lines) if l.startswith("FROM ")]
        runtime = " ".join(self.lines[froms[-1]:])
        install = runtime[runtime.index("apt-get install"):].split("&&")[0]
        return {w for w in install.split()[2:] if not w.startswith("-")}

    def test_runtime_stage_has_every_linked_library(self):
        # The built binary's direct NEEDED libraries, mapped to the Debian packages that own
        # them, must all be installed by the runtime stage (libc6 is in the base image;
        # sanitizer runtimes are only linked by the test build, never by the Release build).
        info = "/var/lib/dpkg/info"
        if not shutil.which("readelf") or not os.path.isdir(info):
            self.skipTest("readelf or the dpkg database missing")
        needed = subprocess.run(["readelf", "-d", harness.OSPREY_BIN], capture_output=True,
                                text=True, check=True).stdout
        sonames = [l.split("[")[1].rstrip("]") for l in needed.splitlines() if "(NEEDED)" in l]
        sonames = [so for so in sonames if not re.match(r"lib(asan|ubsan|tsan|lsan)\.so", so)]
        # soname -> path, preferring the native (64-bit) entry of the linker cache.
        paths = {}
        cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
        for line in cache.splitlines():
            m = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)", line)
            if m and (m.group(1) not in paths or "," in m.group(2)):
                paths[m.group(1)] = m.group(3)

        def norm(path):  # merged /usr: /lib/x and /usr/lib/x are one file
            return path[4:] if path.startswith("/usr/") else path

        wanted = {}
        for so in sonames:
            self.assertIn(so, paths, "%s not found by ldconfig" % so)
            wanted[norm(paths[so])] = so
            wanted[norm(os.path.realpath(paths[so]))] = so
        owners = {}
        for name in os.listdir(info):
            if not name.endswith(".list"):
                continue
            with open(os.path.join(info, name), errors="replace") as f:
                for line in f:
                    so = wanted.get(norm(line.rstrip("\n")))
                    if so:
                        owners[so] = name[:-len(".list")].split(":")[0]
        packages = self.runtime_packages()
        self.assertIn("ca-certificates", packages)
        for so in sonames:
            self.assertIn(so, owners, "no package owns %s" % paths[so])
            self.assertTrue(owners[so] in packages or owners[so] == "libc6",
                            "%s (%s) is linked but the runtime stage does not install it"
                            % (so, owners[so]))

    def test_lint(self):
        linter = os.path.join(SRC, "tests", "npm", "node_modules", ".bin", "dockerfilelint")
        if not os.path.exists(linter):
            self.skipTest("dockerfilelint is not installed (scripts/npm-clients.sh)")
        r = subprocess.run([linter, "-o", "json", self.path], capture_output=True, text=True)
        report = json.loads(r.stdout)
        self.assertEqual(report["totalIssues"], 0, json.dumps(report, indent=1))
        self.assertEqual(r.returncode, 0)
        # The linter must be able to fail.
        with tempfile.NamedTemporaryFile("w", suffix=".Dockerfile", delete=False) as f:
            f.write("FROM debian:12-slim\nRUN apt-get update && apt-get install -y curl\n")
        try:
            bad = subprocess.run([linter, "-o", "json", f.name], capture_output=True, text=True)
        finally:
            os.unlink(f.name)
        self.assertGreater(json.loads(bad.stdout)["totalIssues"], 0)


class Entrypoint(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="osprey-entry-")
        self.config = {"agent": {"metrics_collection_interval": 60},
                       "metrics": {"metrics_collected": {"mem": {
                           "measurement": ["mem_used_percent"]}}},
                       "osprey": {"sinks": {"stdout": {}}}}

    def tearDown(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def run_entry(self, env, *args):
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TMPDIR": self.workdir,
                "OSPREY_BIN": os.path.abspath(harness.OSPREY_BIN)}
        full.update(env)
        return subprocess.run(["sh", ENTRYPOINT, *args], env=full, capture_output=True,
                              text=True, timeout=60)

    def test_syntax_and_shellcheck(self):
        self.assertEqual(subprocess.run(["sh", "-n", ENTRYPOINT]).returncode, 0)
        self.assertTrue(os.stat(ENTRYPOINT).st_mode & stat.S_IXUSR)
        if not shutil.which("shellcheck"):
            self.skipTest("shellcheck is not installed")
        r = subprocess.run(["shellcheck", "-s", "sh", ENTRYPOINT], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_config_content_written_privately(self):
        path = os.path.join(self.workdir, "etc", "osprey.json")
        os.mkdir(os.path.dirname(path))
        r = self.run_entry({"OSPREY_CONFIG_CONTENT": json.dumps(self.config),
                            "OSPREY_CONFIG": path}, "--check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("valid", r.stdout)
        with open(path) as f:
            self.assertEqual(json.load(f), self.config)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)

    def test_config_content_to_temp_when_dir_read_only(self):
        ro = os.path.join(self.workdir, "ro")
        os.mkdir(ro, 0o500)
        r = self.run_entry({"OSPREY_CONFIG_CONTENT": json.dumps(self.config),
                            "OSPREY_CONFIG": os.path.join(ro, "osprey.json")}, "--check-config")
        if os.geteuid() == 0:
            # root writes anywhere: the standard path is used.
            self.assertEqual(r.returncode, 0, r.stderr)
            return
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len([n for n in os.listdir(self.workdir) if n.startswith("osprey.")]), 1)

    def test_invalid_content_fails(self):
        r = self.run_entry({"OSPREY_CONFIG_CONTENT": '{"agent": {"bogus": 1}}',
                            "OSPREY_CONFIG": os.path.join(self.workdir, "osprey.json")},
                           "--check-config")
        self.assertEqual(r.returncode, 1)
        self.assertIn("bogus", r.stderr)

    def test_mounted_file_and_missing_config(self):
        path = os.path.join(self.workdir, "mounted.json")
        with open(path, "w") as f:
            json.dump(self.config, f)
        r = self.run_entry({"OSPREY_CONFIG": path}, "--check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(path, r.stdout)
        r = self.run_entry({"OSPREY_CONFIG": os.path.join(self.workdir, "absent.json")})
        self.assertEqual(r.returncode, 1)
        self.assertIn("OSPREY_CONFIG_CONTENT", r.stderr)


if __name__ == "__main__":
    unittest.main()
