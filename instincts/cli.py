"""The ``instincts`` command: ``instincts gate`` (regression gate) and ``instincts report`` (HTML report).

Exit status, both commands: 0 done (gate: no regression), 1 a regression or a failing tool,
2 unusable input, with one message on stderr. The logic lives in ``instincts.gate`` and
``instincts.htmlreport``; this module parses arguments, prints and maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from instincts import gate, results, runtime
from instincts.errors import ClaimsFileError, InvalidArgument, ReportError

_REPORT = ("Make the single-file Allure 3 HTML report (offline; Allure and Node pinned by the package's "
           "package-lock.json) and print the path of its index.html. Outside the instincts checkout the toolchain "
           "is installed once, with npm, into ~/.cache/instincts (INSTINCTS_CACHE_HOME moves it) and reused offline. "
           "Exit 0: made, 1: npm or Allure failed, 2: unusable input.")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="instincts", description="instincts: deep-learning folklore, tested.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    g = sub.add_parser("gate", help="compare claims.json with a baseline; exit 1 on regressions",
                       description="Compare the current claims.json with a committed baseline. Exit 0: clean, "
                                   "1: regression, 2: unusable input.")
    g.add_argument("--baseline", type=Path, default=None,
                   help=f"baseline claims.json (default: {gate.BASELINE_DIR}/<budget of the current run>.json)")
    g.add_argument("--current", type=Path, default=gate.DEFAULT_CURRENT,
                   help=f"this run (default: {gate.DEFAULT_CURRENT})")
    g.add_argument("--strict", action="store_true", help="warnings (SUPPORTED -> INCONCLUSIVE, chance flips) fail")
    g.add_argument("--tolerance", type=float, default=gate.DEFAULT_TOLERANCE,
                   help="absolute effect drift allowed on deterministic smoke/cpu runs "
                        f"(default: {gate.DEFAULT_TOLERANCE:g})")
    g.add_argument("--alpha", type=float, default=gate.DEFAULT_ALPHA,
                   help=f"family-wise false-alarm rate for Holm on random runs (default: {gate.DEFAULT_ALPHA:g})")
    g.add_argument("--effect-tolerance", type=gate.parse_effect_tolerance, default=gate.DEFAULT_EFFECT_TOLERANCE,
                   metavar="X|margin",
                   help="random runs: an effect that dropped by more than X (in each claim's metric unit) with "
                        "significance is a regression; 'margin' uses each expectation's own margin or tol "
                        f"(default: {gate.DEFAULT_EFFECT_TOLERANCE:g}, any significant drop)")
    g.add_argument("--max-claim-minutes", type=float, default=None, metavar="M",
                   help="also fail when the current claims took more than M minutes in all (each claim's own "
                        "time summed: serial minutes; with -n W the wall time is about M / W), in minutes of the "
                        "baseline's machine: divided by the median current/baseline duration ratio)")
    g.add_argument("--update", action="store_true",
                   help="write the current claims.json as the new baseline (deliberately) instead of gating")
    g.add_argument("--alluredir", type=Path, default=None,
                   help="attach the table of changes to this run's Allure results, when the folder holds some "
                        "(default: allure-results beside --current, e.g. reports/allure-results)")
    g.set_defaults(func=run_gate)

    from instincts.htmlreport import DEFAULT_HISTORY, DEFAULT_OUT, DEFAULT_RESULTS

    r = sub.add_parser("report", help="make the single-file Allure HTML report", description=_REPORT)
    r.add_argument("--results", type=Path, default=None,
                   help=f"Allure results folder (default: <project>/{DEFAULT_RESULTS})")
    r.add_argument("--out", type=Path, default=None,
                   help=f"report folder, emptied first (default: <project>/{DEFAULT_OUT})")
    r.add_argument("--history", type=Path, default=None,
                   help=f"history file for trends across runs (default: <project>/{DEFAULT_HISTORY})")
    r.add_argument("--repo-root", type=Path, default=None,
                   help="a folder with allurerc.mjs, package.json and package-lock.json whose node_modules to use "
                        "(default: the instincts checkout holding the current folder, else the packaged copies in "
                        "the per-user cache). <project> is the checkout, else the nearest folder from the current "
                        "one up with pytest.ini, pyproject.toml, tox.ini or setup.cfg, else the current folder")
    r.add_argument("--claims", type=Path, default=None,
                   help="claims.json of the run: its catalogue picture and table head the report and are written "
                        "beside it as catalogue.png/svg/md (default: <project>/reports/claims.json; skipped "
                        "when absent)")
    r.set_defaults(func=run_report)

    c = sub.add_parser("catalogue", help="write the catalogue's forest plot and markdown table",
                       description="Write catalogue.png, catalogue.svg and catalogue.md (every claim part's "
                                   "verdict at a glance). Exit 0: written, 2: unusable claims.json.")
    c.add_argument("--claims", type=Path, default=Path("reports") / "claims.json",
                   help="claims.json to draw (default: reports/claims.json)")
    c.add_argument("--out", type=Path, default=Path("reports"), help="folder to write into (default: reports)")
    c.set_defaults(func=run_catalogue)
    return parser


def run_catalogue(args: argparse.Namespace) -> int:
    """``instincts catalogue``: write the forest plot and table; print their paths."""
    from instincts import catalogue

    try:
        paths = catalogue.write(args.claims, args.out)
    except ClaimsFileError as exc:
        print(f"instincts catalogue: {exc}", file=sys.stderr)
        return 2
    print("\n".join(map(str, paths)))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``instincts COMMAND ...``; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error (argparse already printed it)
        return exc.code if isinstance(exc.code, int) else 2
    return args.func(args)


def run_gate(args: argparse.Namespace) -> int:
    """``instincts gate``: print the comparison table and summary; exit 0, 1 or 2."""
    try:
        gate.check_settings(args.tolerance, args.alpha, args.effect_tolerance)
        current = results.read(args.current, "current")
        baseline_path = args.baseline or gate.default_baseline(current, args.current)
        if args.update:
            print(gate.update_baseline(current, args.current, baseline_path))
            return 0
        if not baseline_path.exists():
            raise ClaimsFileError(f"baseline file {baseline_path} not found (after a deliberate review, create it "
                                  f"with: instincts gate --baseline {baseline_path} --current {args.current} "
                                  "--update)")
        baseline = results.read(baseline_path, "baseline")
        too_slow = "" if args.max_claim_minutes is None else runtime.over_limit(
            current.claims, args.max_claim_minutes, baseline.claims)
        try:
            result = gate.compare(baseline, current, strict=args.strict, tolerance=args.tolerance, alpha=args.alpha,
                                  effect_tolerance=args.effect_tolerance)
        except ClaimsFileError as exc:
            raise ClaimsFileError(f"{baseline_path} vs {args.current}: {exc}") from None
    except (ClaimsFileError, InvalidArgument) as exc:
        print(f"instincts gate: {exc}", file=sys.stderr)
        return 2
    print(f"baseline {baseline_path} ({baseline.written})  vs  current {args.current} ({current.written})")
    print(runtime.summary(current.claims))
    factor = runtime.machine_factor(current.claims, baseline.claims)
    if factor is not None:
        print(f"machine factor {factor:.2f} (median claim time here / in the baseline)")
    print(result.report())
    if too_slow:
        print(f"instincts gate: FAIL: {too_slow}")
    table = result.report() + (f"\nFAIL: {too_slow}" if too_slow else "")
    passed = result.exit_code == 0 and not too_slow
    _attach_gate(args.alluredir or args.current.parent / "allure-results", table, passed)
    return 1 if too_slow else result.exit_code


def _attach_gate(alluredir: Path, report: str, passed: bool) -> None:
    """The gate's table of changes as an entry of the run's Allure report (when its results are there)."""
    if not alluredir.is_dir() or not any(alluredir.glob("*-result.json")):
        return
    from instincts import catalogue

    print(f"gate table attached to the Allure results: {catalogue.allure_gate(alluredir, report, passed)}")


def run_report(args: argparse.Namespace) -> int:
    """``instincts report``: make the HTML report and print the path of its index.html."""
    from instincts.htmlreport import DEFAULT_HISTORY, DEFAULT_OUT, DEFAULT_RESULTS, make_report, project_root

    try:
        project = args.repo_root.resolve() if args.repo_root is not None else project_root()
        results_dir = args.results if args.results is not None else project / DEFAULT_RESULTS
        _catalogue_first(results_dir, args.claims or project / "reports" / "claims.json", args.claims is not None)
        index = make_report(results_dir, args.out if args.out is not None else project / DEFAULT_OUT,
                            args.repo_root.resolve() if args.repo_root is not None else None,
                            args.history if args.history is not None else project / DEFAULT_HISTORY)
    except ReportError as exc:
        print(f"instincts report: {exc}", file=sys.stderr)
        return exc.exit_code
    except ClaimsFileError as exc:
        print(f"instincts report: {exc}", file=sys.stderr)
        return 2
    print(index)
    return 0


def _catalogue_first(results_dir: Path, claims: Path, required: bool) -> None:
    """The catalogue's picture and table beside claims.json and at the top of the report, and each
    claim's effect over runs (claims-history.jsonl beside claims.json); a claims.json that is absent is
    skipped unless it was asked for (--claims)."""
    if not claims.exists() and not required:
        return
    from instincts import catalogue

    catalogue.write(claims, claims.parent)
    runs = catalogue.append_history(claims.parent / catalogue.HISTORY_NAME, results.read(claims))
    if results_dir.is_dir():
        catalogue.allure_summary(results_dir, claims)
        catalogue.attach_history(results_dir, runs)


if __name__ == "__main__":
    sys.exit(main())
