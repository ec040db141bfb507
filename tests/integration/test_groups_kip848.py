"""KIP-848 consumer groups (group.protocol=consumer) with a real client:
runs js848/kip848_groups.js (@confluentinc/kafka-javascript, whose bundled
librdkafka 2.15 speaks ConsumerGroupHeartbeat, ConsumerGroupDescribe and
OffsetCommit/OffsetFetch with member epochs) against SLUICE_BOOTSTRAP. Two
cases, each with three consumers in one group, a leave and a resume from
committed offsets: the broker's default assignor (uniform) and
group.remote.assignor=range. See the script's header for what is checked.

The client is installed by .ci/setup into tests/integration/js848 (a native
build of a minute or two). Where it is missing the test is skipped, except
under CI (CI set), where .ci/setup must have installed it: there it fails.

Environment: SLUICE_BOOTSTRAP; SLUICE_STATE_DIR (librdkafka's debug log is
written there as js848-kip848.log); JS848_DEBUG (librdkafka debug contexts,
default "cgrp").
"""

import os
import shutil
import signal
import subprocess
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
JS_DIR = os.path.join(HERE, "js848")
JS = os.path.join(JS_DIR, "kip848_groups.js")
PKG = os.path.join(JS_DIR, "node_modules", "@confluentinc", "kafka-javascript")
# The script stops itself after BUDGET_S; the process is killed KILL_S later.
BUDGET_S = 105
KILL_S = BUDGET_S + 10


def _client_or_skip():
    node = shutil.which("node")
    installed = node and os.path.exists(os.path.join(PKG, "package.json")) and \
        os.path.isdir(os.path.join(PKG, "build", "Release"))
    if installed:
        return node
    why = ("node is not installed" if not node else
           "@confluentinc/kafka-javascript is not installed in tests/integration/js848")
    if os.environ.get("CI"):
        pytest.fail("%s, under CI: .ci/setup should have installed it" % why)
    pytest.skip("%s: run .ci/setup (or CKJS_LINKING=dynamic npm ci in tests/integration/js848)"
                % why)


def test_kip848_consumer_groups():
    node = _client_or_skip()
    boot = os.environ.get("SLUICE_BOOTSTRAP")
    assert boot, "set SLUICE_BOOTSTRAP (tests/integration/run.sh does)"
    state = os.environ.get("SLUICE_STATE_DIR") or tempfile.mkdtemp(prefix="js848-")
    log = os.path.join(state, "js848-kip848.log")
    # Own process group: a timeout kills node and anything it started.
    proc = subprocess.Popen([node, JS, "--bootstrap", boot, "--log", log,
                             "--budget-s", str(BUDGET_S)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=JS_DIR,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=KILL_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError("kip848_groups.js still running after %d s; output:\n%s"
                             % (KILL_S, out.decode(errors="replace")[-6000:]))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = out.decode(errors="replace")
    print(text)
    summary = text[text.rfind("----- summary"):] if "----- summary" in text else text[-3000:]
    assert proc.returncode == 0, "kip848_groups.js exited with %d (librdkafka log: %s):\n%s" % (
        proc.returncode, log, summary[-4000:])
