"""The Debian package: built with CPack from a Release tree of its own (<build>/pkg), then
checked from the outside as dpkg sees it.

- control fields (name, version from project(), Depends from dpkg-shlibdeps plus adduser),
  the exact file list with modes and owners, conffiles, the maintainer scripts;
- `dpkg -x` into a scratch root: the packaged binary validates the packaged configuration,
  and tells systemd READY=1 / STOPPING=1 over a real notification socket;
- the unit: the keys the hardening promises, `systemd-analyze verify` (a copy whose
  ExecStart points at the extracted binary, since verify needs it to exist) and the offline
  `systemd-analyze security` exposure score;
- as root only: `dpkg --root` install, reinstall, remove and purge in a scratch root with
  --force-script-chrootless, so the maintainer scripts run with DPKG_ROOT and change only the
  scratch root's users and files (the host's passwd/group/shadow are compared before/after).

Label "package" (tests/CMakeLists.txt): it runs in the ASan stage of scripts/test.sh only,
once per `make test`; the packaged binary itself is built without sanitizers.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

SOURCE_DIR = harness.SOURCE_DIR
BUILD_DIR = os.environ.get("OSPREY_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
PKG_DIR = os.path.join(BUILD_DIR, "pkg")
UNIT_PATH = "/lib/systemd/system/osprey.service"
CONFIG_PATH = "/etc/osprey/osprey.json"
HOST_IDENTITY_FILES = ["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"]

DEB = None       # path of the built .deb
VERSION = None   # project(osprey VERSION x.y.z)
SCRATCH = None   # scratch directory for this run
ROOT = None      # the package extracted with dpkg -x


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600)
    return subprocess.run(cmd, **kw)


def check(cmd, **kw):
    r = run(cmd, **kw)
    if r.returncode != 0:
        raise AssertionError("%s failed (%d)\nstdout:\n%s\nstderr:\n%s"
                             % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


def project_version():
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
        m = re.search(r"project\(osprey\s+VERSION\s+([0-9.]+)", f.read())
    assert m, "no project(osprey VERSION ...) in CMakeLists.txt"
    return m.group(1)


def build_package():
    """Configure <build>/pkg once (Release, prefix /usr, no sanitizers), build only the agent
    (the install step does not build tests: CMAKE_SKIP_INSTALL_ALL_DEPENDENCY) and run
    cpack. Re-runs are incremental."""
    jobs = str(min(2, os.cpu_count() or 1))
    env = dict(os.environ)
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"):
        env.pop(var, None)
    check(["cmake", "-S", SOURCE_DIR, "-B", PKG_DIR, "-DCMAKE_BUILD_TYPE=Release",
           "-DCMAKE_INSTALL_PREFIX=/usr", "-DOSPREY_SANITIZE=", "-DOSPREY_FUZZ=OFF",
           "-DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON"], env=env)
    check(["cmake", "--build", PKG_DIR, "-j", jobs, "--target", "osprey"], env=env)
    arch = check(["dpkg", "--print-architecture"]).stdout.strip()
    deb = os.path.join(PKG_DIR, "osprey_%s_%s.deb" % (VERSION, arch))
    if os.path.exists(deb):
        os.unlink(deb)  # a stale .deb must not pass for a new one
    check(["cpack", "-G", "DEB", "--config", os.path.join(PKG_DIR, "CPackConfig.cmake")],
          cwd=PKG_DIR, env=env)
    assert os.path.isfile(deb), "cpack did not write %s: %s" % (deb, os.listdir(PKG_DIR))
    return deb


def setUpModule():
    global DEB, VERSION, SCRATCH, ROOT
    for tool in ("cmake", "cpack", "dpkg", "dpkg-deb", "dpkg-shlibdeps"):
        if not shutil.which(tool):
            raise AssertionError("%s is missing (scripts/setup.sh installs it)" % tool)
    VERSION = project_version()
    started = time.monotonic()
    DEB = build_package()
    print("package: %s (%d bytes) built in %.1f s"
          % (DEB, os.path.getsize(DEB), time.monotonic() - started), file=sys.stderr)
    SCRATCH = tempfile.mkdtemp(prefix="osprey-pkg-")
    ROOT = os.path.join(SCRATCH, "x")
    check(["dpkg", "-x", DEB, ROOT])


def tearDownModule():
    if SCRATCH:
        shutil.rmtree(SCRATCH, ignore_errors=True)


def read_unit(path):
    """[Section] Key=Value lines of a unit file -> {(section, key): [values]}."""
    keys, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            keys.setdefault((section, key), []).append(value)
    return keys


class ControlTest(unittest.TestCase):
    def field(self, name):
        return check(["dpkg-deb", "--field", DEB, name]).stdout.strip()

    def test_fields(self):
        self.assertEqual(self.field("Package"), "osprey")
        self.assertEqual(self.field("Version"), VERSION)
        self.assertEqual(self.field("Architecture"),
                         check(["dpkg", "--print-architecture"]).stdout.strip())
        depends = [d.strip().split(" ")[0] for d in self.field("Depends").split(",")]
        # adduser for postinst; the libraries come from dpkg-shlibdeps.
        for pkg in ("adduser", "libc6", "libuv1", "libjansson4", "libcurl4", "libpcre2-8-0",
                    "libprotobuf-c1", "zlib1g"):
            self.assertIn(pkg, depends)
        self.assertTrue(any(d.startswith("libssl") for d in depends), depends)
        self.assertTrue(self.field("Maintainer"))
        self.assertTrue(self.field("Description"))

    def test_control_members(self):
        ctrl = os.path.join(SCRATCH, "control")
        check(["dpkg-deb", "--control", DEB, ctrl])
        with open(os.path.join(ctrl, "conffiles")) as f:
            self.assertEqual(f.read().split(), [CONFIG_PATH])
        for script in ("postinst", "prerm", "postrm"):
            path = os.path.join(ctrl, script)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o755, script)
            with open(path, "rb") as f, \
                    open(os.path.join(SOURCE_DIR, "packaging/debian", script), "rb") as src:
                self.assertEqual(f.read(), src.read(), script)
            check(["sh", "-n", path])  # syntax
            if shutil.which("dash"):
                check(["dash", "-n", path])
        self.assertFalse(os.path.exists(os.path.join(ctrl, "preinst")))


class ContentsTest(unittest.TestCase):
    def test_files_modes_owners(self):
        listing = check(["dpkg-deb", "--contents", DEB]).stdout.splitlines()
        entries = {}
        for line in listing:
            parts = line.split(None, 5)
            mode, owner, path = parts[0], parts[1], parts[5]
            entries[path.lstrip(".").rstrip("/") or "/"] = (mode, owner)
        files = {p: m for p, m in entries.items() if not m[0].startswith("d")}
        self.assertEqual(sorted(files), sorted([
            "/usr/bin/osprey", CONFIG_PATH, UNIT_PATH, "/usr/share/doc/osprey/host-daemon.md",
            "/usr/share/doc/osprey/changelog.gz", "/usr/share/man/man1/osprey.1.gz"]))
        for doc in ("/usr/share/doc/osprey/changelog.gz", "/usr/share/man/man1/osprey.1.gz"):
            self.assertEqual(files[doc], ("-rw-r--r--", "root/root"), doc)
        self.assertEqual(files["/usr/bin/osprey"], ("-rwxr-xr-x", "root/root"))
        self.assertEqual(files[CONFIG_PATH], ("-rw-r--r--", "root/root"))
        self.assertEqual(files[UNIT_PATH], ("-rw-r--r--", "root/root"))
        for path, (mode, owner) in entries.items():
            self.assertEqual(owner, "root/root", path)
            if mode.startswith("d"):
                self.assertEqual(mode, "drwxr-xr-x", path)
        # /var/lib/osprey is made by postinst (0700 osprey), not shipped root-owned.
        self.assertNotIn("/var/lib/osprey", entries)

    def test_binary_is_stripped_release(self):
        out = check(["file", "-L", os.path.join(ROOT, "usr/bin/osprey")]).stdout \
            if shutil.which("file") else ""
        if out:
            self.assertIn("stripped", out)
            self.assertNotIn("not stripped", out)
        r = check([os.path.join(ROOT, "usr/bin/osprey"), "--version"])
        self.assertEqual(r.stdout.strip(), "osprey %s" % VERSION)
        # No sanitizer runtime in the packaged binary.
        libs = check(["ldd", os.path.join(ROOT, "usr/bin/osprey")]).stdout
        self.assertNotIn("libasan", libs)
        self.assertNotIn("libtsan", libs)


class ConfigTest(unittest.TestCase):
    def config(self):
        with open(os.path.join(ROOT, CONFIG_PATH.lstrip("/"))) as f:
            return json.load(f)

    def check_config(self, env_extra):
        env = {k: v for k, v in os.environ.items()
               if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
        env.update(env_extra)
        return run([os.path.join(ROOT, "usr/bin/osprey"), "--check-config",
                    os.path.join(ROOT, CONFIG_PATH.lstrip("/"))], env=env)

    def test_packaged_binary_validates_packaged_config(self):
        # The package cannot know the host's region: systemd passes AWS_REGION from
        # /etc/default/osprey (EnvironmentFile=), as docs/host-daemon.md says.
        r = self.check_config({"AWS_REGION": "eu-west-1"})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("valid", r.stdout)

    def test_without_region(self):
        # Without agent.region or AWS_REGION the region comes from EC2 instance metadata at
        # start (docs/host-daemon.md), so the packaged config is valid as shipped.
        r = self.check_config({})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("valid", r.stdout)

    def test_defaults(self):
        c = self.config()
        self.assertNotIn("region", c.get("agent", {}))
        self.assertEqual(c["osprey"]["state_dir"], "/var/lib/osprey")
        files = c["logs"]["logs_collected"]["files"]["collect_list"]
        self.assertEqual([f["file_path"] for f in files], ["/var/log/syslog", "/var/log/messages"])
        # Every listener is on loopback.
        xray = c["traces"]["traces_collected"]["xray"]
        self.assertTrue(xray["bind_address"].startswith("127.0.0.1:"))
        self.assertTrue(xray["tcp_proxy"]["bind_address"].startswith("127.0.0.1:"))
        self.assertTrue(c["metrics"]["metrics_collected"]["statsd"]["service_address"]
                        .startswith("127.0.0.1:"))
        self.assertNotIn("service_address", c["logs"]["metrics_collected"]["emf"])  # loopback
        # The CloudWatch agent's "Standard" metric set, as in the example.
        with open(os.path.join(SOURCE_DIR, "packaging/examples/cwagent-standard.json")) as f:
            standard = json.load(f)["metrics"]
        for name, plugin in standard["metrics_collected"].items():
            self.assertEqual(c["metrics"]["metrics_collected"][name], plugin, name)
        self.assertEqual(c["metrics"]["append_dimensions"], standard["append_dimensions"])


class NotifyTest(unittest.TestCase):
    """The packaged binary speaks systemd's notification protocol (Type=notify)."""

    def test_ready_and_stopping(self):
        work = tempfile.mkdtemp(dir=SCRATCH)
        sock_path = os.path.join(work, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.settimeout(30)
        config = {
            "agent": {"metrics_collection_interval": 1},
            "metrics": {"metrics_collected": {"mem": {"measurement": ["mem_used_percent"]}}},
            "osprey": {"state_dir": os.path.join(work, "state"), "summary_interval": 0,
                       "sinks": {"file": {"directory": os.path.join(work, "out")}}},
        }
        with open(os.path.join(work, "c.json"), "w") as f:
            json.dump(config, f)
        env = dict(os.environ, NOTIFY_SOCKET=sock_path)
        log = open(os.path.join(work, "log"), "wb")
        proc = subprocess.Popen([os.path.join(ROOT, "usr/bin/osprey"), "--config",
                                 os.path.join(work, "c.json")], env=env, stderr=log,
                                stdout=subprocess.DEVNULL)
        try:
            self.assertEqual(sock.recv(4096), b"READY=1")
            # Ready means running: the collector has started and a point reaches the sink.
            deadline = time.monotonic() + 20
            out = os.path.join(work, "out")
            while time.monotonic() < deadline and not (os.path.isdir(out) and os.listdir(out)):
                time.sleep(0.1)
            self.assertTrue(os.listdir(out))
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(sock.recv(4096), b"STOPPING=1")
            self.assertEqual(proc.wait(timeout=30), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
            sock.close()


class UnitTest(unittest.TestCase):
    def unit(self):
        return read_unit(os.path.join(ROOT, UNIT_PATH.lstrip("/")))

    def test_promised_keys(self):
        u = self.unit()
        want = {
            "Type": "notify",
            "ExecStart": "/usr/bin/osprey --config /etc/osprey/osprey.json",
            "ExecReload": "/bin/kill -HUP $MAINPID",
            "User": "osprey", "Group": "osprey", "SupplementaryGroups": "adm",
            "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "read-only",
            "PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
            "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
            "ProtectControlGroups": "yes",
            "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
            "CapabilityBoundingSet": "", "AmbientCapabilities": "",
            "StateDirectory": "osprey", "StateDirectoryMode": "0700",
            "Restart": "on-failure", "RestartSec": "5",
        }
        for key, value in want.items():
            self.assertEqual(u.get(("Service", key)), [value], key)
        for key in ("LimitNOFILE", "TimeoutStopSec"):
            self.assertIn(("Service", key), u)
        self.assertEqual(u[("Install", "WantedBy")], ["multi-user.target"])
        # The unit and the package agree on the paths it runs.
        self.assertTrue(os.access(os.path.join(ROOT, "usr/bin/osprey"), os.X_OK))
        self.assertTrue(os.path.isfile(os.path.join(ROOT, CONFIG_PATH.lstrip("/"))))

    def test_systemd_analyze(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed")
        work = tempfile.mkdtemp(dir=SCRATCH)
        with open(os.path.join(ROOT, UNIT_PATH.lstrip("/"))) as f:
            text = f.read()
        # verify needs the ExecStart binary to exist: point the copy at the extracted one.
        text = text.replace("/usr/bin/osprey", os.path.join(ROOT, "usr/bin/osprey"))
        unit = os.path.join(work, "osprey.service")
        with open(unit, "w") as f:
            f.write(text)
        r = run(["systemd-analyze", "verify", "--man=no", unit])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("osprey.service", r.stdout + r.stderr)  # no warnings about it
        r = run(["systemd-analyze", "security", "--offline=yes", "--no-pager", unit])
        m = re.search(r"Overall exposure level for osprey.service: ([0-9.]+)", r.stdout)
        self.assertTrue(m, r.stdout + r.stderr)
        print("systemd-analyze security: exposure %s" % m.group(1), file=sys.stderr)
        self.assertLessEqual(float(m.group(1)), 4.0)  # "OK"; 3.4 when this was written

    def test_lintian(self):
        if not shutil.which("lintian"):
            self.skipTest("lintian is not installed (not in scripts/setup.sh: ~150 packages)")
        r = run(["lintian", "--tag-display-limit", "0", DEB])
        print("lintian (exit %d):\n%s" % (r.returncode, r.stdout), file=sys.stderr)
        tags = set(re.findall(r"^[EW]: osprey(?: [a-z]+)?: ([a-z0-9-]+)", r.stdout, re.M))
        # Known gaps, for the project to decide: a maintainer address and the license
        # (debian/copyright). Anything else is a regression (lintian also checks the manual
        # page with groff and the changelog's format).
        known = {"bogus-mail-host", "bogus-mail-host-in-debian-changelog", "no-copyright-file"}
        self.assertEqual(tags - known, set(), r.stdout)


def file_hashes(paths):
    out = {}
    for p in paths:
        try:
            with open(p, "rb") as f:
                out[p] = hashlib.sha256(f.read()).hexdigest()
        except FileNotFoundError:
            out[p] = None
    return out


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("useradd"),
                     "dpkg --root with the maintainer scripts needs root (useradd --prefix)")
class DpkgRootTest(unittest.TestCase):
    """dpkg --root R --force-script-chrootless: dpkg runs the maintainer scripts on this host
    with DPKG_ROOT=R, and they write only below R. A chroot would need a whole Debian system
    (sh, adduser, passwd, dpkg) inside R; a bare scratch root is enough this way."""

    def setUp(self):
        self.root = tempfile.mkdtemp(dir=SCRATCH, prefix="root-")
        r = self.root
        for d in ("etc", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"):
            os.makedirs(os.path.join(r, d))
        for name in ("status", "available"):
            open(os.path.join(r, "var/lib/dpkg", name), "w").close()
        files = {
            "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
            "etc/group": "root:x:0:\nadm:x:4:syslog\n",
            "etc/shadow": "root:*:19000:0:99999:7:::\n",
            "etc/gshadow": "root:*::\nadm:*::syslog\n",
        }
        for name, text in files.items():
            with open(os.path.join(r, name), "w") as f:
                f.write(text)
        os.chmod(os.path.join(r, "etc/shadow"), 0o640)
        os.chmod(os.path.join(r, "etc/gshadow"), 0o640)
        self.host_before = file_hashes(HOST_IDENTITY_FILES + [
            "/etc/systemd/system/multi-user.target.wants/osprey.service"])

    def tearDown(self):
        self.assertEqual(file_hashes(list(self.host_before)), self.host_before,
                         "the host's users or units changed")

    def dpkg(self, *args):
        return check(["dpkg", "--root=%s" % self.root, "--force-script-chrootless",
                      "--force-depends", "--log=%s" % os.path.join(self.root, "dpkg.log"),
                      *args])

    def path(self, p):
        return os.path.join(self.root, p.lstrip("/"))

    def entries(self, name):
        with open(self.path(name)) as f:
            return {line.split(":")[0]: line.rstrip("\n").split(":") for line in f}

    def status(self):
        r = run(["dpkg-query", "--admindir=%s" % self.path("/var/lib/dpkg"), "-W",
                 "-f=${db:Status-Abbrev}", "osprey"])
        return r.stdout.strip() if r.returncode == 0 else ""

    def test_install_reinstall_remove_purge(self):
        self.dpkg("-i", DEB)
        self.assertEqual(self.status(), "ii")
        passwd, group = self.entries("/etc/passwd"), self.entries("/etc/group")
        user = passwd["osprey"]
        self.assertEqual(user[5:], ["/var/lib/osprey", "/usr/sbin/nologin"])
        self.assertLess(int(user[2]), 1000)  # a system user
        self.assertEqual(group["osprey"][2], user[3])
        self.assertEqual(group["adm"][3].split(","), ["syslog", "osprey"])
        st = os.stat(self.path("/var/lib/osprey"))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        self.assertEqual((st.st_uid, st.st_gid), (int(user[2]), int(user[3])))
        self.assertEqual(stat.S_IMODE(os.stat(self.path(CONFIG_PATH)).st_mode), 0o644)
        wants = self.path("/etc/systemd/system/multi-user.target.wants/osprey.service")
        self.assertEqual(os.readlink(wants), UNIT_PATH)
        with open(self.path("/var/lib/dpkg/status")) as f:
            self.assertRegex(f.read(), r"Conffiles:\n %s [0-9a-f]{32}\n" % CONFIG_PATH)
        # The installed binary validates the installed configuration.
        r = run([self.path("/usr/bin/osprey"), "--check-config", self.path(CONFIG_PATH)],
                env=dict(os.environ, AWS_REGION="eu-west-1"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        # Reinstall (postinst configure <old version>): idempotent.
        self.dpkg("-i", DEB)
        self.assertEqual(self.status(), "ii")
        with open(self.path("/etc/passwd")) as f:
            self.assertEqual(sum(1 for line in f if line.startswith("osprey:")), 1)
        self.assertEqual(self.entries("/etc/group")["adm"][3].split(","), ["syslog", "osprey"])

        # An administrator's change and the agent's state survive remove.
        with open(self.path(CONFIG_PATH), "a") as f:
            f.write("\n")
        with open(self.path("/var/lib/osprey/checkpoint"), "w") as f:
            f.write("state")
        self.dpkg("-r", "osprey")
        self.assertEqual(self.status(), "rc")
        self.assertFalse(os.path.exists(self.path("/usr/bin/osprey")))
        self.assertFalse(os.path.exists(self.path(UNIT_PATH)))
        self.assertTrue(os.path.isfile(self.path(CONFIG_PATH)))
        self.assertTrue(os.path.isfile(self.path("/var/lib/osprey/checkpoint")))
        self.assertIn("osprey", self.entries("/etc/passwd"))
        # As debhelper does: the unit is masked (nothing left behind can start it) and the
        # enablement is remembered for a reinstall; purge forgets both.
        self.assertEqual(os.readlink(self.path("/etc/systemd/system/osprey.service")),
                         "/dev/null")

        # Purge removes configuration, state, user and group, and the adm membership.
        self.dpkg("--purge", "osprey")
        self.assertEqual(self.status(), "")
        self.assertFalse(os.path.exists(self.path("/etc/osprey")))
        self.assertFalse(os.path.exists(self.path("/var/lib/osprey")))
        self.assertNotIn("osprey", self.entries("/etc/passwd"))
        group = self.entries("/etc/group")
        self.assertNotIn("osprey", group)
        self.assertEqual(group["adm"][3].split(","), ["syslog"])
        self.assertFalse(os.path.lexists(self.path("/etc/systemd/system/osprey.service")))
        self.assertFalse(os.path.lexists(wants))


if __name__ == "__main__":
    unittest.main(verbosity=2)
