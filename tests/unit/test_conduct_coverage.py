from flask import Flask

from tenants.conduct import coverage
from tenants.conduct.presets import PRESETS, preset
from web import cli


def test_every_enforced_rule_of_every_preset_has_a_test():
    """Each rule the engine enforces is named by at least one test (`flask conduct coverage` lists them)."""
    rows = coverage.coverage()
    assert {(r.preset, r.rule_id) for r in rows} == {(c, r.id) for c in PRESETS for r in preset(c).rules}
    missing = [f"{r.preset}:{r.rule_id}" for r in coverage.untested_enforced(rows)]
    assert not missing, f"enforced rules no test names: {', '.join(missing)}"


def test_the_readme_table_is_current():
    """The README's "Conduct rules coverage" table is what `flask conduct coverage --readme` writes today."""
    readme = (coverage.repo_root() / "README.md").read_text(encoding="utf-8")
    assert coverage.readme_table(readme) == coverage.as_markdown(coverage.coverage()), (
        "README.md's conduct coverage table is stale: run `.venv/bin/flask --app web conduct coverage --readme`")


def test_a_rule_id_counts_only_as_a_whole_token():
    def named(text):
        return "US.3P" in coverage.dotted_names(text)

    assert named('"""US.3P — 12 CFR 1006.10(b)"""') and named("rule US.3P.") and named('["US.3P"]')
    assert not named("CN.3P.TARGET") and not named("US.3PX") and not named("XUS.3P") and not named("US.3P.EXTRA")
    assert not named("a.US.3P")


def test_only_test_functions_count_and_each_is_named_by_file_and_test(tmp_path):
    tests = tmp_path / "tests"
    (tests / "unit").mkdir(parents=True)
    (tests / "unit" / "test_x.py").write_text(
        'RULES = ["CN.HOURS"]\n\n'
        'def helper():\n    return "CN.VISIT"\n\n'
        'def test_hours():\n    """CN.HOURS: the window."""\n\n'
        'class TestVisits:\n    def test_visit(self):\n        assert "CN.VISIT"\n\n'
        'import pytest\n\n@pytest.mark.parametrize("rule", ["IN.3P"])\ndef test_param(rule):\n    pass\n')
    (tests / "unit" / "test_broken.py").write_text("def test_(:\n  CN.HOURS\n")
    rows = {r.rule_id: r.tests for r in coverage.coverage(tests, presets=("cn", "in"))}
    assert rows["CN.HOURS"] == ("tests/unit/test_x.py::test_hours",)
    assert rows["CN.VISIT"] == ("tests/unit/test_x.py::TestVisits::test_visit",)
    assert rows["IN.3P"] == ("tests/unit/test_x.py::test_param",)
    assert rows["CN.RECORDING"] == ()


def test_the_cli_prints_text_and_markdown_and_rewrites_only_the_readme_section(tmp_path):
    """`flask conduct coverage` (the command needs no database: a bare app carries the CLI)."""
    app = Flask(__name__)
    cli.init_app(app)
    runner = app.test_cli_runner()
    rows = coverage.coverage()
    plain = runner.invoke(args=["conduct", "coverage"]).output
    assert "CN.HOURS" in plain and "GB/T 45251-2025" in plain and "data only" in plain
    assert "tests/unit/test_conduct_cn.py::test_hours_2159_allowed_2200_blocked_with_next_time" in plain
    assert "0 enforced without a test" in plain
    markdown = runner.invoke(args=["conduct", "coverage", "--markdown"]).output
    assert markdown.strip() == coverage.as_markdown(rows)

    readme = tmp_path / "README.md"
    readme.write_text(f"# Top\n\n## Conduct rules coverage\n{coverage.README_START}\nold\n{coverage.README_END}\n"
                      "\n## Next\nkept\n", encoding="utf-8")
    assert coverage.update_readme(readme, rows) is True
    new = readme.read_text(encoding="utf-8")
    assert new.startswith("# Top\n\n## Conduct rules coverage\n") and new.endswith("\n## Next\nkept\n")
    assert coverage.readme_table(new) == coverage.as_markdown(rows)
    assert coverage.update_readme(readme, rows) is False
