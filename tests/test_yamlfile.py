"""YAML files with positions: aliases are bounded by what they expand to,
self-containing aliases and deep nesting are one clear line, and positions
survive the fast loader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from monitor import yamlfile
from monitor.config import ConfigError, load_config
from monitor.engine import load_rules
from monitor.yamlfile import MAX_ALIAS_NODES, FileError, load_yaml, parse_yaml

ROOT = Path(__file__).resolve().parent.parent


def nine_by_nine() -> str:
    # 81 aliases, 9**9 leaves: under any cap on the count of aliases.
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_a_nine_by_nine_alias_bomb_is_refused_with_its_position():
    with pytest.raises(FileError) as e:
        parse_yaml(nine_by_nine() + "rules: []\n", "bomb.yaml")
    err = str(e.value)
    assert err.startswith("bomb.yaml:") and "possible alias bomb" in err
    assert e.value.line is not None and 2 <= e.value.line <= 10
    assert "\n" not in err


def test_files_are_read_by_libyaml_where_pyyaml_has_it():
    assert yamlfile._Loader is (yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)


@pytest.mark.parametrize("loader", ["libyaml", "pure"])
def test_a_bomb_file_is_refused_by_either_loader(tmp_path, monkeypatch, loader):
    if loader == "libyaml" and not yaml.__with_libyaml__:
        pytest.skip("PyYAML without libyaml")
    monkeypatch.setattr(
        yamlfile, "_Loader", yaml.CSafeLoader if loader == "libyaml" else yaml.SafeLoader
    )
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(nine_by_nine() + "rules: []\n")
    with pytest.raises(FileError) as e:
        load_yaml(bomb)
    assert str(e.value).startswith(f"{bomb}:") and "possible alias bomb" in str(e.value)
    assert e.value.line is not None and 2 <= e.value.line <= 10


def test_the_bomb_in_a_rule_file_leaves_other_files_loading(tmp_path):
    (tmp_path / "bomb.yaml").write_text(nine_by_nine() + "rules: []\n")
    (tmp_path / "good.yaml").write_text("rules:\n  - {id: g, title: G, match: leak}\n")
    rs, problems = load_rules([tmp_path])
    assert len(problems) == 1 and "possible alias bomb" in str(problems[0])
    assert [r.id for r in rs.rules] == ["g"]


def test_the_bomb_in_the_config_is_one_line_from_monitor_check(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(nine_by_nine() + "sources: []\n")
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    assert len(e.value.errors) == 1 and "possible alias bomb" in str(e.value.errors[0])
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    lines = [ln for ln in out.stdout.splitlines() + out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{cfg}:") and "alias bomb" in lines[0]


def test_aliases_that_add_up_to_the_bound_load_and_one_more_node_is_refused():
    # A shared list of terms referenced many times is what a rule writer does.
    per = 999  # each reference adds the sequence node and its 999 scalars
    refs = MAX_ALIAS_NODES // (per + 1)
    terms = ", ".join(f"t{i}" for i in range(per))
    body = f"shared: &s [{terms}]\nuses:\n" + "".join("  - *s\n" for _ in range(refs))
    doc = parse_yaml(body, "ok.yaml")
    assert len(doc.data["uses"]) == refs and doc.data["uses"][0][-1] == f"t{per - 1}"
    with pytest.raises(FileError, match="alias bomb"):
        parse_yaml(body + "  - {x: *s, y: *s}\n", "over.yaml")


@pytest.mark.parametrize("text", ["a: &a [1, *a]\n", "a: &a {b: {c: *a}}\n"])
def test_an_alias_inside_its_own_anchor_is_refused(text):
    with pytest.raises(FileError) as e:
        parse_yaml(text, "loop.yaml")
    assert str(e.value).startswith("loop.yaml:1:") and "contains it" in str(e.value)


def test_deep_nesting_is_one_line_not_a_crash():
    with pytest.raises(FileError) as e:
        parse_yaml("x: " + "[" * 50_000 + "]" * 50_000 + "\n", "deep.yaml")
    assert str(e.value).startswith("deep.yaml:1:") and "\n" not in str(e.value)


def test_positions_point_at_the_key_and_value():
    doc = parse_yaml("top:\n  items:\n    - a\n    - {name: b, kind: x}\n", "p.yaml")
    key = doc.node_at(("top", "items", 1, "kind"))
    assert (key.start_mark.line + 1, key.start_mark.column + 1) == (4, 17)
    assert str(doc.error(("top", "items", 0), "bad")) == "p.yaml:3:7: bad"
    assert doc.data == {"top": {"items": ["a", {"name": "b", "kind": "x"}]}}


def _marks(node):
    out = [(type(node).__name__, node.start_mark.line, node.start_mark.column)]
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            out += _marks(child)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            out += _marks(k) + _marks(v)
    return out


def test_every_node_has_the_position_the_pure_python_composer_gives():
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    text += 'extra:\n  - 人脸识别: "多字节"\n    next: [a, {b: c}]\n'
    pure = yaml.compose(text, Loader=yaml.SafeLoader)
    assert _marks(parse_yaml(text, "c.yaml").root) == _marks(pure)
    for rule_file in sorted((ROOT / "rules").glob("*.yaml")):
        text = rule_file.read_text(encoding="utf-8")
        pure = yaml.compose(text, Loader=yaml.SafeLoader)
        assert _marks(parse_yaml(text, rule_file).root) == _marks(pure), rule_file
