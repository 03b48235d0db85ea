"""pytest plugin: what Agent's acceptance suite is expected to do, per target.

Loaded by run.py (-p stickybucket_acceptance) with ACCEPTANCE_TARGET set to
"agent" or "serve". Agent's tests are not edited; this plugin only marks
them, from the lists in expectations.py and agent_passes.txt:

- every target: the tests of EXCLUDED are deselected, each with its reason
  printed in the summary;
- agent: the tests Agent passes must be exactly those agent_passes.txt
  lists (the measurement the serve run relies on); ACCEPTANCE_RECORD=1
  rewrites the file instead;
- serve: every test of agent_passes.txt must pass, but those of
  KNOWN_GAPS, which are marked xfail(strict=True): one that starts passing
  fails the run, so the list only shrinks. A collected test that is
  neither excluded nor in agent_passes.txt is an error (measure Agent
  again), and so is a list entry that names no collected test.
"""

import os

import pytest

from expectations import EXCLUDED, KNOWN_GAPS

HERE = os.path.dirname(os.path.abspath(__file__))
AGENT_PASSES = os.path.join(HERE, "agent_passes.txt")


def test_id(item):
    """file::test[params], whatever pytest's rootdir."""
    return "%s::%s" % (os.path.basename(str(item.fspath)), item.name)


def exclusion(tid):
    """The EXCLUDED key that covers tid (the exact ID, its file::test name
    covering every parameter, or its file), or None."""
    file, _, name = tid.partition("::")
    for key in (tid, file + "::" + name.split("[")[0], file):
        if key in EXCLUDED:
            return key
    return None


def read_agent_passes():
    with open(AGENT_PASSES) as f:
        return {line.strip() for line in f if line.strip() and not line.startswith("#")}


class Expectations:
    def __init__(self, target):
        self.target = target
        self.record = os.environ.get("ACCEPTANCE_RECORD") == "1"
        self.agent_passes = set() if self.record else read_agent_passes()
        self.collected = set()
        self.excluded = {}
        self.outcomes = {}
        self.problems = []
        self.kept = 0

    # tryfirst: before -k and -m deselect, so the lists are checked against
    # the whole suite and a run of some tests checks only those.
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config, items):
        keep, drop = [], []
        for item in items:
            tid = test_id(item)
            self.collected.add(tid)
            key = exclusion(tid)
            if key is not None:
                self.excluded[key] = self.excluded.get(key, 0) + 1
                drop.append(item)
                continue
            keep.append(item)
            if self.target == "serve":
                if tid not in self.agent_passes:
                    self.problems.append("%s is neither excluded nor in agent_passes.txt: run `acceptance/test.sh agent --record` and add an exclusion if Agent fails it" % tid)
                if tid in KNOWN_GAPS:
                    reason, item_of_issue = KNOWN_GAPS[tid]
                    item.add_marker(pytest.mark.xfail(strict=True, reason="known gap (%s): %s" % (item_of_issue, reason)))
        for key in EXCLUDED:
            if not any(t == key or t.startswith(key + "::") or t.startswith(key + "[") for t in self.collected):
                self.problems.append("EXCLUDED names %s, which the suite does not have" % key)
        for tid in sorted(self.agent_passes - self.collected):
            self.problems.append("agent_passes.txt lists %s, which the suite does not have" % tid)
        self.kept = len(keep)
        for tid in KNOWN_GAPS:
            if tid not in self.collected:
                self.problems.append("KNOWN_GAPS names %s, which the suite does not have" % tid)
            elif self.target == "serve" and tid not in self.agent_passes:
                self.problems.append("KNOWN_GAPS names %s, which Agent does not pass either" % tid)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    def pytest_runtest_logreport(self, report):
        path, _, rest = report.nodeid.partition("::")
        tid = os.path.basename(path) + "::" + rest
        if report.when == "call" or report.outcome != "passed":
            prev = self.outcomes.get(tid)
            if prev in (None, "passed"):
                self.outcomes[tid] = "xfailed" if hasattr(report, "wasxfail") and report.skipped else report.outcome

    def pytest_sessionfinish(self, session):
        passed = {t for t, o in self.outcomes.items() if o == "passed"}
        if self.target == "agent":
            if self.record and len(self.outcomes) != self.kept:
                self.problems.append("--record needs the whole suite: %d of its %d tests ran; agent_passes.txt is left as it was" % (len(self.outcomes), self.kept))
            elif self.record:
                with open(AGENT_PASSES, "w") as f:
                    f.write("# The tests of Agent's acceptance suite that Agent (built from the pinned source)\n"
                            "# passes offline, as measured by `acceptance/test.sh agent --record`.\n"
                            "# The serve run requires each to pass there, but the known gaps.\n")
                    for t in sorted(passed):
                        f.write(t + "\n")
                print("\nstickybucket_acceptance: recorded %d tests Agent passes in %s" % (len(passed), AGENT_PASSES))
            else:
                for t in sorted((self.agent_passes & set(self.outcomes)) - passed):
                    self.problems.append("agent_passes.txt lists %s, which Agent did not pass here" % t)
                for t in sorted(passed - self.agent_passes):
                    self.problems.append("Agent passed %s, which agent_passes.txt does not list" % t)
        if self.problems:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter):
        tr = terminalreporter
        tr.section("stickybucket: Agent's acceptance suite on %s" % self.target)
        for key, n in sorted(self.excluded.items()):
            tr.write_line("excluded %s (%d): %s" % (key, n, EXCLUDED[key]))
        if self.target == "serve":
            expected = self.agent_passes & set(self.outcomes)
            passed = {t for t in expected if self.outcomes[t] == "passed"}
            tr.write_line("serve passed %d of the %d tests Agent passes offline; known gaps (xfail, strict): %d" % (
                len(passed), len(expected), sum(1 for t in expected if self.outcomes[t] == "xfailed")))
            for tid in sorted(KNOWN_GAPS):
                reason, item_of_issue = KNOWN_GAPS[tid]
                tr.write_line("known gap %s (%s): %s -> %s" % (tid, item_of_issue, reason, self.outcomes.get(tid, "not run")))
        else:
            n = sum(1 for o in self.outcomes.values() if o == "passed")
            if self.record:
                tr.write_line("Agent passed %d tests (recording them in agent_passes.txt)" % n)
            else:
                tr.write_line("Agent passed %d tests (agent_passes.txt lists %d)" % (n, len(self.agent_passes)))
        for p in self.problems:
            tr.write_line("PROBLEM: " + p, red=True)


def pytest_configure(config):
    target = os.environ.get("ACCEPTANCE_TARGET")
    if target not in ("agent", "serve"):
        raise pytest.UsageError("stickybucket_acceptance: set ACCEPTANCE_TARGET to agent or serve")
    config.pluginmanager.register(Expectations(target), "stickybucket_expectations")
