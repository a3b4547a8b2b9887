"""The board's statistics on crafted samples, checked against hand-computed values."""

import math

import pytest

from snnbench.stats import holm, mean_ci, standings, welch


def test_mean_ci_uses_student_t():
    mean, half = mean_ci([90.0, 92.0, 94.0])  # sd 2, sem 2/sqrt(3), t(0.975, 2) = 4.302653
    assert mean == 92.0 and half == pytest.approx(4.302653 * 2 / math.sqrt(3), rel=1e-6)
    assert mean_ci([95.0]) == (95.0, None)


def test_welch_matches_a_hand_computation():
    result = welch([1.0, 2.0, 3.0], [4.0, 6.0, 8.0])
    # var 1/3 and 4/3 per mean; t = -4 / sqrt(5/3); df = (5/3)^2 / ((1/3)^2/2 + (4/3)^2/2)
    assert result.t == pytest.approx(-4 / math.sqrt(5 / 3))
    assert result.df == pytest.approx((5 / 3) ** 2 / ((1 / 9) / 2 + (16 / 9) / 2))
    assert result.p == pytest.approx(0.0547868, abs=1e-6)  # scipy.stats.ttest_ind(..., equal_var=False)
    assert welch([1.0, 1.0], [1.0, 1.0]).p == 1.0 and welch([1.0, 1.0], [2.0, 2.0]).p == 0.0


def test_holm_steps_down_and_stays_monotone():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_standings_mark_rules_not_distinguishable_from_the_best():
    table = standings({"a": [97.0, 97.2, 96.8], "b": [96.9, 97.3, 96.5], "c": [80.0, 80.5, 79.5],
                       "d": [99.0]})
    by_name = {s.name: s for s in table}
    assert table[0].name == "d" or table[0].name == "a"
    assert by_name["d"].p_holm is None and by_name["d"].tied_with_best  # one seed decides nothing
    ranked = standings({"a": [97.0, 97.2, 96.8], "b": [96.9, 97.3, 96.5], "c": [80.0, 80.5, 79.5]})
    assert [s.name for s in ranked] == ["a", "b", "c"]
    assert ranked[0].best and ranked[0].tied_with_best and ranked[1].tied_with_best
    assert not ranked[2].tied_with_best and ranked[2].p_holm < 0.05


def test_a_one_seed_rule_is_not_ranked_beside_the_best_on_the_board():
    from snnbench.leaderboard import standing_rank

    table = {s.name: s for s in standings({"a": [97.0, 97.2, 96.8], "b": [96.9, 97.3, 96.5], "c": [10.0]})}
    assert standing_rank(table["a"]) == "1" and standing_rank(table["b"]) == "=1"
    assert standing_rank(table["c"]) == ""  # untested with one seed: neither "=1" nor "below"


def test_the_matrix_gathers_a_suites_tables_per_machine_and_orders_rules_by_rank():
    """The answer at a glance (first in LEADERBOARD.md, the page and ``suite report``): per suite and machine,
    one column per dataset and budget; a rule's cell is its mean ± CI and rank, "-" where it did not run."""
    from snnbench.leaderboard import StandingsTable, matrix_lines, standings_matrices

    def table(dataset: str, budget: str, samples: dict[str, list[float]]) -> StandingsTable:
        return StandingsTable(dataset, "cpu", budget, [(s, None) for s in standings(samples)])

    cpu = "cpu_s=30 on Some CPU, family 6 model 1"
    tables = [table("yin-yang", cpu, {"a": [97.0, 97.2, 96.8], "b": [90.0, 90.5, 89.5]}),
              table("mnist", "cpu_s=120 on Some CPU, family 6 model 1", {"b": [98.0, 98.2, 97.8],
                                                                          "a": [97.9, 98.3, 97.7], "c": [9.8, 9.8]}),
              table("yin-yang", "40 epochs", {"a": [95.0, 95.0], "b": [94.0, 94.0]})]
    timed, epochs = standings_matrices(tables)
    assert timed.machine == "Some CPU, family 6 model 1" and epochs.machine == ""  # compute budgets first
    assert [t.dataset for t in timed.columns] == ["mnist", "yin-yang"] and timed.rules == ["a", "b", "c"]
    assert timed.cell("a", timed.columns[1]) == "97.00 ± 0.50 (1)"
    assert timed.cell("a", timed.columns[0]).endswith("(=1)") and timed.cell("c", timed.columns[0]) == "9.80 ± 0.00"
    assert timed.cell("c", timed.columns[1]) == "-"
    lines = matrix_lines(timed)
    assert "| rule | mnist, cpu\\_s=120 | yin-yang, cpu\\_s=30 |" in lines and "Some CPU" in lines[0]


def test_the_t_functions_are_scipy_stats_numbers():
    """The quantile and Welch's p are computed in pure Python (the board imports no scipy): they agree with
    scipy.stats.t and ttest_ind(equal_var=False) to ~1e-11, far below the board's printed digits."""
    from scipy import stats as scipy_stats

    from snnbench.stats import t_quantile, t_sf

    for df in (1, 2, 3.7, 12.25, 40, 1e4):
        for probability in (0.6, 0.975, 0.995, 0.9995):
            assert t_quantile(probability, df) == pytest.approx(float(scipy_stats.t.ppf(probability, df)), rel=1e-9)
        for t in (0.0, 0.4, 2.0, 9.0):
            assert t_sf(t, df) == pytest.approx(float(scipy_stats.t.sf(t, df)), rel=1e-9)
        assert t_sf(-2.0, df) == pytest.approx(1 - float(scipy_stats.t.sf(2.0, df)), rel=1e-12)
    for a, b in (([97.1, 98.0, 97.6], [96.2, 97.9, 95.0]), ([10.0, 10.0, 10.1], [55.0, 80.2, 71.3, 66.0])):
        assert welch(a, b).p == pytest.approx(float(scipy_stats.ttest_ind(a, b, equal_var=False).pvalue), abs=1e-12)
    with pytest.raises(ValueError, match="probability"):
        t_quantile(1.0, 3)


def test_the_board_imports_no_scipy():
    import subprocess
    import sys

    code = ("import sys; from snnbench.leaderboard import build_rows, load_records, to_markdown; "
            "rows = build_rows(load_records('leaderboards/runs')[0]); to_markdown(rows, []); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'torch')))")
    root = __import__("pathlib").Path(__file__).parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
