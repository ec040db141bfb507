"""kafkajs 2.2.4 consumer groups: runs js/kafkajs_groups.js (three consumers in
one group read every record; one leaves and the two others take over; see the
script's header) against SLUICE_BOOTSTRAP. A missing node or kafkajs is a
failure, not a skip.

Environment: SLUICE_BOOTSTRAP.
"""

import os
import shutil
import subprocess

import groups_util as gu

JS = os.path.join(gu.HERE, "js", "kafkajs_groups.js")


def test_kafkajs_three_members():
    node = shutil.which("node")
    assert node, "node is not installed (run .ci/setup)"
    assert os.path.exists(os.path.join(gu.HERE, "js", "node_modules", "kafkajs", "package.json")), \
        "kafkajs is not installed in tests/integration/js (run .ci/setup)"
    env = dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1")
    try:
        res = subprocess.run([node, JS, "--bootstrap", gu.bootstrap(), "--count", "6000"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=240,
                             env=env, cwd=os.path.dirname(JS))
    except subprocess.TimeoutExpired as e:
        raise AssertionError("kafkajs_groups.js still running after 240 s; output:\n%s"
                             % (e.output or b"").decode(errors="replace")[-4000:])
    out = res.stdout.decode(errors="replace")
    print(out[-6000:])
    assert res.returncode == 0, "kafkajs_groups.js exited with %d:\n%s" % (res.returncode,
                                                                            out[-4000:])
