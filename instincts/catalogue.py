"""The catalogue at a glance: one forest plot of every claim part, a markdown table beside it, and an
Allure summary entry that puts both at the top of the report.

Parts measure different things (accuracy in pp, seconds, slopes, log ratios), so the plot puts them
on one axis as the standardized paired effect d_z = mean / sd of the per-seed differences (for a
trend: of the per-seed slopes); the CI and the claim's margin are divided by the same sd. The
t-interval of each part is recomputed from its per-seed data at the claim's confidence level (the
deciding part's interval is the claim's own CI). ``exact`` parts have no spread: they are drawn as
a marker at |error| / tol (<= 1 holds). SKIPPED and ERROR claims are listed without a bar.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from instincts import fmt, results
from instincts.cache import write_atomic
from instincts.results import VERDICTS, ClaimResult, Part

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLOURS = {"SUPPORTED": "#2e7d32", "REFUTED": "#c62828", "INCONCLUSIVE": "#ef6c00",
           "SKIPPED": "#9e9e9e", "ERROR": "#6a1b9a"}
SECTIONS = {"BS": "Batch size", "GPU": "GPU", "HW": "Hardware", "DS": "Data set size", "IN": "Inputs",
            "RC": "Recipes"}
SUMMARY_NAME = "Catalogue at a glance"
_SUMMARY_UUID = uuid.uuid5(uuid.NAMESPACE_URL, "instincts:catalogue-summary")  # one summary, overwritten per run
GATE_NAME = "Gate: changes against the baseline"
_GATE_UUID = uuid.uuid5(uuid.NAMESPACE_URL, "instincts:gate")
LINTHRESH = 1.0  # the x axis is linear within |d_z| <= 1, logarithmic beyond (effects span 0.1 .. 100)
ROW_INCHES = 0.19


@dataclass(frozen=True)
class Row:
    """One line of the forest plot: a claim part's standardized effect, CI and margin band."""

    claim: ClaimResult
    part: Part | None  # None: a claim without parts (SKIPPED, ERROR)
    label: str
    verdict: str
    dz: float | None = None
    ci: tuple[float, float] | None = None
    band: tuple[float, float] | None = None  # where the claim holds, in d_z (+-inf for one-sided)
    exact: float | None = None  # |error| / tol of an exact part

    @property
    def section(self) -> str:
        return section_of(self.claim.id)


def section_of(claim_id: str) -> str:
    """The seed section of a catalogue id: its prefix before the dash ("RC-12" -> "RC")."""
    return claim_id.split("-", 1)[0]


def _band(expect: dict | None, kind: str | None) -> tuple[float, float] | None:
    """The region of the effect (in its own unit) where the part holds; None where it has none."""
    expect = expect or {}
    how = expect.get("kind", kind)
    inf = math.inf
    if how in ("equivalent",) and expect.get("margin") is not None:
        return -expect["margin"], expect["margin"]
    if how == "predicts" and expect.get("tol") is not None:
        return -expect["tol"], expect["tol"]
    if how == "noninferior" and expect.get("margin") is not None:
        return -expect["margin"], inf
    if how == "superior":
        return float(expect.get("min_effect") or 0.0), inf
    if how == "increasing":
        return 0.0, inf
    if how == "decreasing":
        return -inf, 0.0
    return None


def standardized(part: Part, confidence: float) -> tuple[float, tuple[float, float], tuple[float, float] | None] | None:
    """(d_z, its CI, the margin band in d_z) of a part with per-seed data and spread; None without."""
    import numpy as np

    from instincts.stats import is_degenerate, t_interval

    d = part.per_seed()
    if d is None or d.size < 2 or is_degenerate(d):
        return None
    sd = float(np.std(d, ddof=1))
    lo, hi = t_interval(d, confidence, (part.expect or {}).get("test", "t"))
    band = _band(part.expect, part.kind)
    scaled = None if band is None else (band[0] / sd, band[1] / sd)
    return float(d.mean()) / sd, (lo / sd, hi / sd), scaled


def _config_text(config: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items())


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def rows(claims: Sequence[ClaimResult]) -> list[Row]:
    """Every claim part as a plot row, sorted by section and id; the first part of a claim carries
    its statement, the others their config."""
    out: list[Row] = []
    for claim in sorted(claims, key=lambda c: (list(SECTIONS).index(s) if (s := section_of(c.id)) in SECTIONS
                                               else len(SECTIONS), s, _id_key(c.id), c.nodeid)):
        head = f"{claim.id}  {_short(claim.statement, 58)}"
        if not claim.parts:
            why = claim.reason or claim.error or ""
            out.append(Row(claim, None, f"{claim.id}  {claim.verdict}: {_short(why or claim.statement, 50)}",
                           claim.verdict))
            continue
        for i, part in enumerate(claim.parts):
            label = head if i == 0 else f"      {_short(_config_text(part.config) or part.metric, 52)}"
            verdict = part.verdict or claim.verdict
            if part.kind == "exact":
                tol = (part.expect or {}).get("tol")
                ratio = (abs(part.effect or 0.0) / tol) if tol else (0.0 if not part.effect else math.inf)
                out.append(Row(claim, part, label, verdict, exact=ratio))
                continue
            std = standardized(part, claim.confidence or 0.9)
            if std is None:
                out.append(Row(claim, part, label, verdict))
                continue
            out.append(Row(claim, part, label, verdict, std[0], std[1], std[2]))
    return out


def _id_key(claim_id: str) -> tuple[str, int]:
    head, _, tail = claim_id.partition("-")
    return head, int(tail) if tail.isdigit() else 0


def counts(claims: Sequence[ClaimResult]) -> dict[str, Counter]:
    """Verdict counts of evidence and of checks, apart: {"evidence": Counter, "checks": Counter}."""
    return {"evidence": Counter(c.verdict for c in claims if not c.check),
            "checks": Counter(c.verdict for c in claims if c.check)}


def counts_text(claims: Sequence[ClaimResult]) -> str:
    """"evidence: 40 SUPPORTED, 4 REFUTED, ...; checks: 12 SUPPORTED" in the verdicts' order."""
    parts = []
    for name, counter in counts(claims).items():
        if counter:
            parts.append(f"{name}: " + ", ".join(f"{counter[v]} {v}" for v in VERDICTS if counter[v]))
    return "; ".join(parts) or "no claims"


# -- the forest plot ---------------------------------------------------------------------------


def _draw(ax, panel: list[Row], title: str) -> None:
    import numpy as np

    n = len(panel)
    y = np.arange(n)[::-1]
    finite = [abs(v) for r in panel for v in ((r.dz or 0.0), *(r.ci or ()), *(r.band or ()))
              if math.isfinite(v)]
    edge = max(10.0, min(1e3, 1.3 * max(finite, default=10.0)))
    ax.set_xscale("symlog", linthresh=LINTHRESH, linscale=1.5)
    ax.set_xlim(-edge, edge)
    ax.set_ylim(-0.7, n - 0.3)
    ax.axvline(0.0, color="#616161", lw=0.8, zorder=1)
    last = None
    for yi, r in zip(y, panel):
        if r.section != last and last is not None:
            ax.axhline(yi + 0.5, color="#bdbdbd", lw=0.7)
        last = r.section
        colour = COLOURS.get(r.verdict, "#000")
        if r.band is not None:
            lo, hi = (max(-edge, min(edge, b)) for b in r.band)
            ax.fill_betweenx([yi - 0.42, yi + 0.42], lo, hi, color="#c8e6c9", lw=0, zorder=0)
        if r.ci is not None and r.dz is not None:
            lo, hi = (max(-edge, min(edge, v)) for v in r.ci)
            ax.plot([lo, hi], [yi, yi], color=colour, lw=2.2, solid_capstyle="butt", zorder=3)
            hollow = r.claim.check
            ax.plot([max(-edge, min(edge, r.dz))], [yi], marker="o", ms=4.5, zorder=4, color=colour,
                    mfc="white" if hollow else colour)
        elif r.exact is not None:
            x = min(edge, r.exact) if math.isfinite(r.exact) else edge
            ax.plot([x], [yi], marker="D", ms=4.5, color=colour, mfc="white", zorder=4)
            ax.fill_betweenx([yi - 0.42, yi + 0.42], 0, 1, color="#c8e6c9", lw=0, zorder=0)
        else:
            note = "no bar: " + (r.verdict.lower() if r.part is None else "no spread")
            ax.text(-edge * 0.9, yi, note, va="center", fontsize=6.5, color=colour, style="italic")
    ax.set_yticks(y, [r.label for r in panel], fontsize=7)
    for tick, r in zip(ax.get_yticklabels(), panel):
        tick.set_color(COLOURS.get(r.verdict, "#000") if r.part is None else "#212121")
    sections = [(i, r.section) for i, r in enumerate(panel) if i == 0 or panel[i - 1].section != r.section]
    for i, s in sections:
        ax.text(1.005, y[i], SECTIONS.get(s, s), transform=ax.get_yaxis_transform(), fontsize=8,
                fontweight="bold", va="top", color="#37474f")
    ax.grid(axis="x", color="#eeeeee", lw=0.6)
    ax.set_axisbelow(True)
    ax.set_title(title, fontsize=10, loc="left")
    ax.tick_params(axis="x", labelsize=7, labeltop=True)


def forest_plot(claims: Sequence[ClaimResult]) -> Figure:
    """Every claim part on one axis: standardized effect with its CI, the margin band shaded, coloured
    by verdict, grouped by section; checks (``check=True``) in a panel of their own, hollow markers."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    all_rows = rows(claims)
    evidence = [r for r in all_rows if not r.claim.check]
    checks = [r for r in all_rows if r.claim.check]
    panels = [(p, t) for p, t in ((evidence, f"Evidence: {len(evidence)} parts of "
                                              f"{sum(not c.check for c in claims)} claims"),
                                  (checks, f"Checks of the apparatus: {len(checks)} parts of "
                                           f"{sum(c.check for c in claims)} claims")) if p]
    heights = [len(p) + 3 for p, _ in panels] or [3]
    fig = Figure(figsize=(11, ROW_INCHES * sum(heights) + 1.6), layout="constrained")
    fig.get_layout_engine().set(h_pad=0.15)
    axes = fig.subplots(len(panels) or 1, 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, (panel, title) in zip(axes, panels):
        _draw(ax, panel, title)
    axes[-1].set_xlabel("standardized effect d_z = mean / sd of the per-seed paired differences (trends: per-seed "
                        "slopes); bar: the claim's CI / sd; symlog axis.\nExact checks (◇): |error| / tol, "
                        "holds within [0, 1]", fontsize=8)
    handles = [Line2D([], [], color=COLOURS[v], lw=2.2, marker="o", ms=4.5, label=v)
               for v in ("SUPPORTED", "REFUTED", "INCONCLUSIVE")]
    handles += [Line2D([], [], color="#424242", lw=0, marker="o", mfc="white", ms=4.5, label="check (not evidence)"),
                Patch(color="#c8e6c9", label="where the claim holds (margin / sd)")]
    fig.suptitle(f"instincts catalogue: {counts_text(claims)}", fontsize=11)
    fig.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=8, frameon=False)
    return fig


def figure_bytes(fig: Figure, form: str) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=form, dpi=90)
    return buf.getvalue()


# -- the markdown table ------------------------------------------------------------------------


def _facts_text(claim: ClaimResult) -> str:
    """The deciding part's training facts, short: "epochs 33/33, train acc 99.1%/99.1%"."""
    part = next((p for p in claim.parts or () if p.verdict == claim.verdict and p.facts), None)
    part = part or next((p for p in claim.parts or () if p.facts), None)
    if part is None:
        return ""
    return fmt.training_facts(part.facts)


def table(claims: Sequence[ClaimResult]) -> str:
    """The catalogue as a markdown table, one row per claim, sorted as the plot."""
    head = ("| id | statement | verdict | effect | CI | n | seeds used/max | training facts | anchor prediction |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    seen: list[ClaimResult] = []
    for r in rows(claims):
        if not seen or seen[-1] is not r.claim:
            seen.append(r.claim)
    lines = []
    for c in seen:
        unit = c.unit or ""
        ci = (fmt.labelled_interval(c.ci[0], c.ci[1], c.confidence, unit)
              if c.ci and None not in c.ci and c.confidence is not None else "")
        verdict = c.verdict + (" (check)" if c.check else "")
        seeds = f"{c.seeds_used}/{c.seeds_max}" if c.seeds_used is not None else ""
        cells = [c.id, _short(c.statement, 110), verdict, fmt.number(c.effect, unit) if c.effect is not None else "",
                 ci, "" if c.n is None else str(c.n), seeds, _facts_text(c),
                 _short(c.prediction, 110) if c.prediction else (_short(c.reason or c.error or "", 80))]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return head + "\n".join(lines) + "\n"


def markdown(claims: Sequence[ClaimResult]) -> str:
    return (f"# instincts catalogue\n\n{counts_text(claims)}\n\n![catalogue](catalogue.png)\n\n"
            f"{table(claims)}")


# -- files -------------------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes) -> None:
    write_atomic(path, data, mode=0o644)  # a report is for everyone, not only its writer


def write(claims_json_path: Path | str = Path("reports") / "claims.json",
          out_dir: Path | str = Path("reports")) -> list[Path]:
    """Write catalogue.png, catalogue.svg and catalogue.md into ``out_dir``, each atomically; their paths."""
    claims = results.read(Path(claims_json_path)).claims
    out_dir = Path(out_dir)
    fig = forest_plot(claims)
    files = {"catalogue.png": figure_bytes(fig, "png"), "catalogue.svg": figure_bytes(fig, "svg"),
             "catalogue.md": markdown(claims).encode()}
    for name, data in files.items():
        _write_atomic(out_dir / name, data)
    return [out_dir / name for name in files]


def _earliest_start(alluredir: Path, skip: str) -> int | None:
    """The earliest start (ms) of the folder's other results: the summary starts just before it, so
    that the report lists it first."""
    starts = []
    for path in alluredir.glob("*-result.json"):
        if path.name.startswith(skip):
            continue
        try:
            start = json.loads(path.read_text()).get("start")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            continue
        if isinstance(start, int) and not isinstance(start, bool):
            starts.append(start)
    return min(starts, default=None)


def _entry(uid: str, name: str, status: str, stamp: int, description: str, tag: str,
           attachments: list[dict[str, str]]) -> dict:
    """An Allure result of the report itself (not a claim): epic "Catalogue", a tag naming it."""
    return {"uuid": uid, "historyId": uid, "testCaseId": uid, "name": name, "fullName": name,
            "status": status, "stage": "finished", "start": stamp, "stop": stamp, "description": description,
            "labels": [{"name": "epic", "value": "Catalogue"}, {"name": "tag", "value": tag},
                       {"name": "suite", "value": "Catalogue"}],
            "attachments": attachments, "parameters": [], "steps": []}


def _summary_html(claims: Sequence[ClaimResult], png: bytes) -> str:
    """The summary's description: the verdict counts and the forest plot inline (a data: URI, so the
    single-file report shows it without a click)."""
    items = "".join(f"<li><b>{html.escape(name)}</b>: "
                    + html.escape(", ".join(f"{counter[v]} {v}" for v in VERDICTS if counter[v])) + "</li>"
                    for name, counter in counts(claims).items() if counter)
    image = base64.b64encode(png).decode("ascii")
    return (f"<p>{len(claims)} claims, {sum(len(c.parts or ()) for c in claims)} parts.</p><ul>{items}</ul>"
            f'<img alt="catalogue at a glance" style="max-width:100%" src="data:image/png;base64,{image}">')


def allure_summary(alluredir: Path | str, claims_json_path: Path | str) -> Path:
    """Write one passed Allure result, "Catalogue at a glance", with the forest plot and the table
    attached and the verdict counts as its description, listed before the claims; the picture is a
    global attachment of the report too. Its path; re-running replaces it."""
    alluredir = Path(alluredir)
    claims = results.read(Path(claims_json_path)).claims
    stem = str(_SUMMARY_UUID)
    png, md = f"{stem}-catalogue-attachment.png", f"{stem}-catalogue-attachment.md"
    _write_atomic(alluredir / png, figure_bytes(forest_plot(claims), "png"))
    _write_atomic(alluredir / md, table(claims).encode())
    earliest = _earliest_start(alluredir, stem)
    stamp = earliest - 1 if earliest is not None else int(Path(claims_json_path).stat().st_mtime * 1000)
    lines = [f"- **{name}**: " + ", ".join(f"{counter[v]} {v}" for v in VERDICTS if counter[v])
             for name, counter in counts(claims).items() if counter]
    description = (f"{len(claims)} claims, {sum(len(c.parts or ()) for c in claims)} parts.\n\n"
                   + "\n".join(lines) + "\n\nThe picture: every claim part's standardized effect with its CI; "
                   "the table: every claim's formatted verdict.")
    picture = {"name": "catalogue.png", "source": png, "type": "image/png"}
    result = _entry(stem, SUMMARY_NAME, "passed", stamp, description, "summary",
                    [picture, {"name": "catalogue.md", "source": md, "type": "text/markdown"}])
    result["descriptionHtml"] = _summary_html(claims, (alluredir / png).read_bytes())
    _write_atomic(alluredir / f"{stem}-globals.json",
                  json.dumps({"attachments": [{**picture, "timestamp": stamp}], "errors": []}).encode())
    path = alluredir / f"{stem}-result.json"
    _write_atomic(path, json.dumps(result, indent=1).encode())
    counts_in_environment(alluredir, claims)
    return path


COUNTS_KEYS = {"evidence": "claims_evidence", "checks": "claims_checks"}  # .properties keys: no spaces


def counts_in_environment(alluredir: Path, claims: Sequence[ClaimResult]) -> None:
    """Put the verdict counts first in environment.properties, the report's first screen ("Metadata"):
    the claims by verdict, evidence and checks apart, beside the run's facts."""
    path = alluredir / "environment.properties"
    old = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    keys = tuple(f"{k}=" for k in COUNTS_KEYS.values())
    lines = [f"{COUNTS_KEYS[name]}=" + ", ".join(f"{counter[v]} {v}" for v in VERDICTS if counter[v])
             for name, counter in counts(claims).items() if counter]
    lines += [line for line in old if not line.startswith(keys)]
    _write_atomic(path, ("\n".join(lines) + "\n").encode())


def allure_gate(alluredir: Path | str, report: str, passed: bool) -> Path:
    """Write the gate's table of changes as an Allure result, "Gate: changes against the baseline"
    (passed or failed as the gate), after the catalogue summary; its path. Re-running replaces it."""
    alluredir = Path(alluredir)
    stem = str(_GATE_UUID)
    source = f"{stem}-gate-attachment.txt"
    _write_atomic(alluredir / source, report.encode())
    earliest = _earliest_start(alluredir, stem)
    stamp = earliest if earliest is not None else int(time.time() * 1000)
    result = _entry(stem, GATE_NAME, "passed" if passed else "failed", stamp,
                    "The regression gate's comparison of this run with the committed baseline "
                    "(`instincts gate`).", "gate", [{"name": "gate table", "source": source, "type": "text/plain"}])
    if not passed:
        result["statusDetails"] = {"message": report.strip().splitlines()[-1] if report.strip() else "gate failed"}
    path = alluredir / f"{stem}-result.json"
    _write_atomic(path, json.dumps(result, indent=1).encode())
    return path


# -- trends across runs ------------------------------------------------------------------------

HISTORY_NAME = "claims-history.jsonl"  # beside claims.json: one line per run, each claim's verdict and effect


def history_entry(claims_file: results.ClaimsFile) -> dict:
    """One run in the history: when it was written, and each claim's verdict, effect, CI and unit by nodeid."""
    return {"written": claims_file.written, "budget": claims_file.meta.get("budget"),
            "claims": {c.nodeid: {"id": c.id, "verdict": c.verdict, "effect": c.effect, "ci": c.ci, "unit": c.unit}
                       for c in claims_file.claims}}


def append_history(path: Path, claims_file: results.ClaimsFile) -> list[dict]:
    """Add this run to the history file (once: a run already there, by its ``written`` time, is not
    added again) and return every run in it, oldest first. Unreadable lines are skipped."""
    runs = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                run = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(run, dict) and isinstance(run.get("claims"), dict):
                runs.append(run)
    entry = results.finite_or_none(history_entry(claims_file))
    if not runs or runs[-1].get("written") != entry["written"]:
        runs.append(entry)
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in runs)
        _write_atomic(path, text.encode())
    return runs


def series(runs: Sequence[dict], nodeid: str) -> list[dict]:
    """A claim's points over the runs that have it: written, verdict, effect, ci, unit."""
    return [{"written": r.get("written"), **r["claims"][nodeid]} for r in runs if nodeid in r["claims"]]


def attach_history(alluredir: Path | str, runs: Sequence[dict]) -> int:
    """Attach "effect over runs" (a plot and a table) to every claim's Allure result; the results changed."""
    from instincts.plots import history_plot
    from instincts.report import claim_nodeid

    alluredir = Path(alluredir)
    changed = 0
    for path in alluredir.glob("*-result.json"):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        nodeid = claim_nodeid(doc) if isinstance(doc, dict) else None
        points = series(runs, nodeid) if nodeid else []
        if not points:
            continue
        stem = path.name.removesuffix("-result.json")
        unit = points[-1].get("unit") or ""
        png, txt = f"{stem}-history-attachment.png", f"{stem}-history-attachment.txt"
        _write_atomic(alluredir / png, history_plot(points, f"{doc.get('name', nodeid)}: effect over runs", unit))
        rows = [f"{p['written']}  {p['verdict']:<12} {fmt.number(p.get('effect'), unit)}"
                + (f"  {fmt.interval(p['ci'][0], p['ci'][1], unit)}" if p.get("ci") and None not in p["ci"] else "")
                for p in points]
        _write_atomic(alluredir / txt, ("\n".join(rows) + "\n").encode())
        kept = [a for a in doc.get("attachments") or () if a.get("source") not in (png, txt)]
        doc["attachments"] = kept + [{"name": "effect over runs", "source": png, "type": "image/png"},
                                     {"name": "effect over runs (table)", "source": txt, "type": "text/plain"}]
        _write_atomic(path, json.dumps(doc).encode())
        changed += 1
    return changed
