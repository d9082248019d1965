"""Every rule example in README's Rules section loads without a problem and
passes its own tests, like a rule file would."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.engine import load_rules

ROOT = Path(__file__).resolve().parent.parent


def rules_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text[text.index("\n## Rules\n") : text.index("\n## How it works\n")]


def test_readme_rule_examples_load_and_pass_their_tests(tmp_path):
    blocks = re.findall(r"```yaml\n(.*?)```", rules_section(), re.S)
    assert len(blocks) >= 8
    rules_dir = tmp_path / "rules"
    (rules_dir / "lists").mkdir(parents=True)
    for i, block in enumerate(blocks):
        first = block.splitlines()[0]
        named = re.match(r"# rules/(\S+\.yaml)", first)
        if named:
            (rules_dir / named.group(1)).write_text(block, encoding="utf-8")
            continue
        if block.startswith("  - id:"):
            block = "rules:\n" + block
        (rules_dir / f"example-{i:02d}.yaml").write_text(block, encoding="utf-8")
    ruleset, problems = load_rules([rules_dir])
    assert [str(p) for p in problems] == []
    assert len(ruleset.rules) == 9
    assert ruleset.run_tests() == []
    assert sum(len(r.tests) for r in ruleset.rules) >= 12
