"""Checks of what is committed under results/ and docs/results/ (not synthetic data, unlike test_report.py):

- provenance: every HDF5 result under results/ (sweep records, rf, train and throughput records alike) comes from
  a build of a clean tree (`git_dirty` = 0) at a commit that is an ancestor of main (skipped, saying why, when the
  checkout has no branch main);
- the committed report is current: scripts/report.py --strict over results/ rewrites docs/results/ (Markdown, CSV,
  LaTeX) and the throughput tables of docs/throughput.md byte for byte. The PNG figures are compared too, but a
  difference there is printed, not failed: matplotlib's antialiasing may differ by a pixel on another CPU.

A record committed without regenerating the report (`cmake --build --preset release --target report`) fails here.
Run: /usr/bin/python3 -m unittest discover -s tests/report -v   (CTest: fast/report; needs build/release/vitbench, as
the `report` target does, for the MACs per image)
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import h5py

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report as R  # noqa: E402
from test_report import read_tree  # noqa: E402


def committed_results():
    """Every .h5 under results/ that git tracks (untracked local files are not this test's business)."""
    r = subprocess.run(["git", "-C", REPO, "ls-files", "-z", "results"], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return sorted(p for p in r.stdout.split("\0") if p.endswith(".h5"))


class CommittedResultsTest(unittest.TestCase):
    def test_provenance_clean_and_on_main(self):
        files = committed_results()
        if files is None:
            self.skipTest(f"{REPO} is not a git checkout")
        self.assertTrue(files, "no HDF5 results tracked under results/")
        git = R.GitAncestry(REPO)
        if git.unavailable:
            self.skipTest(git.unavailable)
        problems = []
        for rel in files:
            try:
                with h5py.File(os.path.join(REPO, rel), "r") as h:
                    commit, dirty = R.text(h.attrs.get("git_commit", "")), h.attrs.get("git_dirty")
            except OSError as e:
                problems.append(f"{rel}: unreadable ({e})")
                continue
            if dirty is None or int(dirty) != 0:
                problems.append(f"{rel}: from a modified tree (git_dirty = {dirty}) at {commit[:10] or '(none)'}")
            elif not git.is_ancestor(commit):
                problems.append(f"{rel}: commit {commit[:10] or '(none)'} is not an ancestor of main")
        self.assertEqual(problems, [], "results/ must hold records of clean builds of commits on main:\n  "
                         + "\n  ".join(problems))

    def test_report_current(self):
        if not os.path.isdir(os.path.join(REPO, "results", "sweeps")):
            self.skipTest("no results/sweeps")
        # the binary the `report` target uses (its path is part of the report's text): MACs per image
        vitbench = os.path.join(REPO, "build", "release", "vitbench")
        if not os.access(vitbench, os.X_OK):
            self.skipTest(f"no {os.path.relpath(vitbench, REPO)}: the report's MACs per image need it "
                          "(cmake --build --preset release)")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "results")
            doc = os.path.join(tmp, "throughput.md")
            shutil.copy(os.path.join(REPO, "docs", "throughput.md"), doc)
            r = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "report.py"), "--results",
                                os.path.join(REPO, "results"), "--out", out, "--throughput-doc", doc, "--strict",
                                "--repo", REPO, "--vitbench", vitbench], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            ours, theirs = read_tree(out), read_tree(os.path.join(REPO, "docs", "results"))
            self.assertEqual(sorted(ours), sorted(theirs), "the files of docs/results/ differ from a regeneration")
            changed = [name for name in ours if ours[name] != theirs[name]]
            stale = [name for name in changed if not name.endswith(".png")]
            pixels = [name for name in changed if name.endswith(".png")]
            with open(doc, "rb") as a, open(os.path.join(REPO, "docs", "throughput.md"), "rb") as b:
                if a.read() != b.read():
                    stale.append("../throughput.md (the throughput tables)")
            for name in pixels:
                print(f"test_report_current: docs/results/{name} differs from its regeneration (a figure: "
                      "not failed)", file=sys.stderr)
            self.assertEqual(stale, [], "docs/results/ is not what results/ gives: run `cmake --build --preset "
                             "release --target report` and commit it")


if __name__ == "__main__":
    unittest.main()
