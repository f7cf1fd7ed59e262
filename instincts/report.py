"""The Allure side of a claim: where results go (only claims reach the claims' folder), title,
labels, parameters, description and attachments, the run's environment, and the claim's own
attachments (``Experiment.attach``).

allure is imported only where something is attached to a running Allure report, so claims and
plain runs never load it.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from instincts import fmt
from instincts.cache import write_atomic, write_json_atomic
from instincts.errors import InvalidArgument
from instincts.results import ClaimResult, finite_or_none

if TYPE_CHECKING:
    from instincts.experiment import Record
    from instincts.marks import ClaimInfo

NODEID_LABEL = "instincts_nodeid"  # ties an Allure result to its claims.json entry; only claims carry it
DEFAULT_ALLUREDIR = Path("reports") / "allure-results"  # under the rootdir
ALLURE_OFF = "none"  # --claims-alluredir none / claims_alluredir = none: no Allure results
ALLURE_MISSING = "allure-pytest is not installed: Allure results are skipped (pip install allure-pytest)"
RESULT_PATTERNS = ("*-result.json", "*-container.json", "*-attachment*", "*-globals.json", "environment.properties")

# attachment kind -> allure.attachment_type member
KINDS = {"text": "TEXT", "txt": "TEXT", "csv": "CSV", "tsv": "TSV", "json": "JSON", "html": "HTML", "xml": "XML",
         "yaml": "YAML", "svg": "SVG", "png": "PNG", "jpg": "JPG", "jpeg": "JPG", "gif": "GIF", "pdf": "PDF"}
TEXT_KINDS = ("text", "txt", "csv", "tsv", "json", "html", "xml", "yaml", "svg")
FIGURE_KINDS = ("png", "svg", "pdf", "jpg", "jpeg")


# ---------------------------------------------------------------------------------------------
# where a run's results go


@dataclass(frozen=True)
class AllureDirs:
    """Where a run's Allure results go.

    ``final`` is the claims' folder. With ``staging`` allure-pytest writes every test there during
    the run and ``publish_claims`` moves only the claims into ``final`` at the end, so engine tests
    never reach it and a run without claims leaves it as it was. Without ``staging`` (``--alluredir``
    given) allure-pytest writes into ``final`` itself, every test, as it documents.
    """

    final: Path
    staging: Path | None = None


def allure_dirs(config: pytest.Config, staging: str | None = None) -> AllureDirs | None:
    """The run's Allure folders, set up for allure-pytest: ``--alluredir`` wins, else
    ``--claims-alluredir``, else the ``claims_alluredir`` ini option (relative to the ini file's
    folder), else ``<rootdir>/reports/allure-results``. None without allure-pytest or when the
    folder is ``none`` or an enclosing in-process session writes Allure results already.
    ``staging``: the controller's staging folder (an xdist worker's)."""
    if not hasattr(config.option, "allure_report_dir"):
        return None
    explicit = config.option.allure_report_dir
    if explicit:
        return AllureDirs(Path(explicit).absolute())
    final = _claims_alluredir(config)
    if final is None or _allure_already_writing():
        return None
    folder = Path(staging) if staging else Path(tempfile.mkdtemp(prefix="instincts-allure-"))
    config.option.allure_report_dir = str(folder)  # allure-pytest reads it in its own pytest_configure
    return AllureDirs(final, folder)


def _allure_already_writing() -> bool:
    """An enclosing session of this process (pytester's in-process runs) writes Allure results: allure-pytest's
    listener is process-wide, and a second one in the same process breaks the first's fixtures."""
    from allure_commons import plugin_manager
    from allure_commons.logger import AllureFileLogger

    return any(isinstance(plugin, AllureFileLogger) for plugin in plugin_manager.get_plugins())


def _claims_alluredir(config: pytest.Config) -> Path | None:
    given = config.getoption("claims_alluredir", None)
    if given:
        return None if given.lower() == ALLURE_OFF else Path(given).absolute()
    ini = str(config.getini("claims_alluredir") or "").strip()
    if ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return None if ini.lower() == ALLURE_OFF else (base / ini).absolute()
    return config.rootpath / DEFAULT_ALLUREDIR


def clear_results(alluredir: Path) -> None:
    """Remove a previous run's results (they would show up as retries of this run); history lives elsewhere."""
    if alluredir.is_dir():
        for pattern in RESULT_PATTERNS:
            for path in alluredir.glob(pattern):
                path.unlink(missing_ok=True)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def claim_nodeid(result: Mapping[str, Any]) -> str | None:
    """The claims.json nodeid an Allure result belongs to; None for a test that is not a claim."""
    return next((label.get("value") for label in result.get("labels") or ()
                 if label.get("name") == NODEID_LABEL), None)


def _sources(node: Mapping[str, Any]) -> Iterator[str]:
    """The attachment files of a result, fixture or step, its steps' included."""
    for attachment in node.get("attachments") or ():
        if attachment.get("source"):
            yield attachment["source"]
    for step in node.get("steps") or ():
        yield from _sources(step)


def publish_claims(staging: Path, final: Path, keep_old: bool = False) -> int:
    """Move the claims' results from ``staging`` into ``final``, with their attachments and the
    fixture containers around them; drop every other test's. ``final`` loses its old results first
    unless ``keep_old``; with no claim among the results it is left as it was. Returns the claims moved."""
    claims = {path: doc for path in staging.glob("*-result.json")
              if (doc := _read_json(path)) is not None and claim_nodeid(doc)}
    if not claims:
        return 0
    final.mkdir(parents=True, exist_ok=True)
    if not keep_old:
        clear_results(final)
    uuids = {doc.get("uuid") for doc in claims.values()}
    sources = {source for doc in claims.values() for source in _sources(doc)}
    for path in staging.glob("*-container.json"):
        container = _read_json(path)
        children = [c for c in (container or {}).get("children") or () if c in uuids]
        if container is None or not children:
            continue
        fixtures = [*(container.get("befores") or ()), *(container.get("afters") or ())]
        sources.update(s for fixture in fixtures for s in _sources(fixture))
        write_atomic(final / path.name, json.dumps({**container, "children": children}).encode(), mode=0o644)
    for source in sorted(sources):
        if (staging / source).is_file():
            shutil.move(staging / source, final / source)
    for path in claims:
        shutil.move(path, final / path.name)
    return len(claims)


class AllureStage:
    """The controller's end of a staged run: publishes the claims before claims.json is written
    (``tryfirst``, so the environment and the refutation fix-ups land in the final folder) and
    removes the staging folder when pytest unconfigures."""

    def __init__(self, dirs: AllureDirs, keep_old: bool):
        self.dirs = dirs
        self.keep_old = keep_old

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.dirs.staging is not None and self.dirs.staging.is_dir():
            publish_claims(self.dirs.staging, self.dirs.final, self.keep_old)

    def cleanup(self) -> None:
        if self.dirs.staging is not None:
            shutil.rmtree(self.dirs.staging, ignore_errors=True)


def label_claim(item: pytest.Item, info: ClaimInfo) -> None:
    """Labels every claim's Allure result has, whether it runs, skips or errors: the statement as
    its title, section / question / id as epic / feature / story, and the nodeid label that marks
    it as a claim (``publish_claims`` keeps only those)."""
    for label_type, value in (("epic", info.section), ("feature", info.question), ("story", info.id),
                              (NODEID_LABEL, item.nodeid)):
        if value:
            item.add_marker(pytest.mark.allure_label(value, label_type=label_type))
    fn = getattr(item, "obj", None)
    if fn is not None and not hasattr(fn, "__allure_display_name__"):
        try:  # allure-pytest formats the title with the test's parameters: braces are literal here
            fn.__allure_display_name__ = info.statement.replace("{", "{{").replace("}", "}}")
        except (AttributeError, TypeError):
            pass


# ---------------------------------------------------------------------------------------------
# a claim's title, labels, parameters, description and attachments


def per_seed_csv(records: Sequence[Record]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["comparison", "config", "metric", "seed", "column", "value"])
    for i, r in enumerate(records, 1):
        cfg = json.dumps(r.config, sort_keys=True, default=str)
        for seed, row in zip(r.seeds, r.values):
            for label, value in zip(r.labels, row):
                writer.writerow([i, cfg, r.metric, seed, label, repr(value)])
    return buf.getvalue()


def facts_text(facts: Mapping[str, Mapping[str, float]]) -> str:
    """Training facts per arm in one line: "A: epochs_run 11.5 (10-12), cap_hit 0.25 (0-1); B: ..."."""
    arms = []
    for label, values in facts.items():
        parts = []
        for name, value in values.items():
            if name.endswith(("_min", "_max")):
                continue
            spread = (f" ({fmt.short(values[f'{name}_min'])}-{fmt.short(values[f'{name}_max'])})"
                      if f"{name}_min" in values else "")
            parts.append(f"{name} {fmt.short(value)}{spread}")
        arms.append(f"{label}: {', '.join(parts)}")
    return "; ".join(arms)


def checks_text(checks: Sequence[Mapping[str, Any]]) -> str:
    """Manipulation checks in one line, e.g. "b=512: train_accuracy 0.998 >= 0.5 passed"."""
    out = []
    for c in checks:
        bound = " and ".join(b for b in (f">= {fmt.short(c['at_least'])}" if c.get("at_least") is not None else "",
                                          f"<= {fmt.short(c['at_most'])}" if c.get("at_most") is not None else "")
                             if b)
        out.append(f"{c['arm']}: {c['metric']} {fmt.short(c['value'])} {bound} "
                   f"{'passed' if c['passed'] else 'FAILED'}")
    return "; ".join(out)


VERDICT_LABEL = "verdict"  # SUPPORTED / REFUTED / INCONCLUSIVE, and "check" beside it for a check


def _config_text(config: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def verdict_numbers(effect: float | None, ci: Sequence[float | None] | None, confidence: float | None,
                    p: float | None, unit: str = "") -> dict[str, str]:
    """The verdict's numbers as people read them: {"effect": "+0.1pp", "ci": "95% CI [-0.1, +0.4]",
    "p": "p<1e-4"}; a number that is absent is left out (the raw values are in the verdict JSON)."""
    out: dict[str, str] = {}
    if effect is not None:
        out["effect"] = fmt.number(effect, unit)
    if ci and len(ci) == 2 and None not in ci and confidence is not None:
        out["ci"] = fmt.labelled_interval(float(ci[0]), float(ci[1]), confidence, unit)
    if p is not None:
        out["p"] = fmt.pvalue(p)
    return out


def _seeds_text(result: ClaimResult) -> str:
    if result.seeds_used is None:
        return str(result.n) if result.n is not None else "-"
    return f"{result.seeds_used} of {result.seeds_max} seeds" if result.seeds_max else f"{result.seeds_used} seeds"


def claim_parameters(result: ClaimResult) -> list[tuple[str, str]]:
    """The excluded (history-neutral) parameters of a claim's Allure result, formatted."""
    numbers = verdict_numbers(result.effect, result.ci, result.confidence, result.p, result.unit or "")
    verdict = result.verdict + (" (check)" if result.check else "")
    return [("verdict", verdict), *((name, numbers.get(name, "-")) for name in ("effect", "ci", "p")),
            ("n", _seeds_text(result))]


def configs_table(records: Sequence[Record]) -> str:
    """Markdown: one row per comparison that ran (the configs hypothesis drew), with its verdict and numbers."""
    lines = ["| # | config | verdict | effect | CI | n |", "|---|---|---|---|---|---|"]
    for i, r in enumerate(records, 1):
        v = r.verdict
        if v.alpha == 0:  # exact: no interval
            numbers = {"effect": f"{v.label} {fmt.short(v.effect)}"}
        else:
            numbers = verdict_numbers(v.effect, v.ci, v.confidence_level, v.pvalue, v.unit)
        config = _config_text(r.config) or ", ".join(r.labels)
        cells = [str(i), config, v.outcome.value, numbers.get("effect", "-"), numbers.get("ci", "-"),
                 f"{v.n} of {v.seeds_max}" if v.seeds_max and v.seeds_max != v.n else str(v.n)]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def description(info: ClaimInfo, records: Sequence[Record], budget: str) -> str:
    """Markdown: the method, the configs that ran (a table), the pre-registered test (margin, alpha),
    each verdict with the arms' training facts and checks, the literature's prediction and anchors."""
    lines = [f"**{info.id}**: {info.statement}", ""]
    if info.check:
        lines += ["*Check, not evidence:* it guards the apparatus (an identity or a result true by construction) "
                  "and is counted apart from the catalogue's evidence.", ""]
    if info.question:
        lines += [f"*Seed question:* {info.question}", ""]
    if info.method:
        lines += [f"*Method:* {info.method}", ""]
    lines += [f"*Budget:* {budget}. Seeds are paired across arms (same init where shapes match, same data order).",
              "", f"*Configs that ran ({len(records)}):*", "", configs_table(records), ""]
    for i, r in enumerate(records, 1):
        v = r.verdict
        share = f"{fmt.short(r.alpha_refute or v.alpha)} to refute ({r.slot or 'fixed'} share)"
        alpha = "" if v.alpha == 0 else f", alpha {fmt.short(v.expectation.alpha)} to support, {share}"
        lines.append(f"- #{i} `{v.outcome.value}` {v.line()} — test: {v.test}{alpha}")
        if r.config:
            lines.append(f"  - config: {_config_text(r.config)}")
        if r.facts:
            lines.append(f"  - training: {facts_text(r.facts)}")
        if r.checks:
            lines.append(f"  - checks: {checks_text(r.checks)}")
    if info.prediction:
        lines += ["", f"*Literature predicts:* {info.prediction}"]
    if info.anchors:
        lines += ["", "*Anchors:* " + "; ".join(info.anchors)]
    return "\n".join(lines)


def attach_allure(info: ClaimInfo, records: Sequence[Record], result: ClaimResult, labelled: bool = False) -> None:
    """Title, labels, parameters and attachments for the running test (needs allure-pytest).

    ``labelled``: ``label_claim`` gave the test its epic, feature, story and nodeid labels already
    (a ``@claim`` test); otherwise (a plain test that uses the ``experiment`` fixture) they are added here.
    Parameters are formatted (``+0.1pp``, ``90% CI [-0.1, +0.4]``); the raw values are in the verdict JSON."""
    import allure

    from instincts.plots import claim_plot

    allure.dynamic.title(info.statement)
    if not labelled:
        if info.section:
            allure.dynamic.epic(info.section)
        if info.question:
            allure.dynamic.feature(info.question)
        allure.dynamic.story(info.id)
        allure.dynamic.label(NODEID_LABEL, result.nodeid)
    allure.dynamic.tag(result.verdict.lower())
    allure.dynamic.label(VERDICT_LABEL, result.verdict)
    if info.check:
        allure.dynamic.tag("check")
        allure.dynamic.label(VERDICT_LABEL, "check")
    plot = claim_plot(records, f"{info.id}: {info.statement}", timing=info.timing)
    picture = f"![the claim's plot: per-seed data, effect, CI and margin](data:image/png;base64,{_base64(plot)})"
    allure.dynamic.description(description(info, records, str(result.budget)) + "\n\n" + picture)
    for i, r in enumerate(records, 1):
        allure.dynamic.parameter(f"config {i}", _config_text(r.config) or json.dumps(r.arms, default=str))
    allure.dynamic.parameter("budget", result.budget)
    for name, value in claim_parameters(result):
        allure.dynamic.parameter(name, value, excluded=True)
    allure.attach(plot, name="paired per-seed values", attachment_type=allure.attachment_type.PNG)
    allure.attach(per_seed_csv(records), name="per-seed data", attachment_type=allure.attachment_type.CSV)
    full = {**result.to_dict(), "records": [r.to_dict() for r in records]}
    allure.attach(json.dumps(finite_or_none(full), indent=1, default=str), name="verdict",
                  attachment_type=allure.attachment_type.JSON)


def _base64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def write_environment(alluredir: Path, facts: dict[str, str]) -> None:
    alluredir.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{k}={str(v).replace(chr(10), ' ')}\n" for k, v in sorted(facts.items()))
    (alluredir / "environment.properties").write_text(text)


def show_refutations_as_failed(alluredir: Path, claims: Sequence[ClaimResult]) -> int:
    """A REFUTED claim pytest reports as xfail (a known finding, or a machine-dependent timing claim)
    is still a refutation: the Allure report shows it failed, in "Claim refuted", not skipped.

    Allure results are matched to ``claims`` by the nodeid label ``attach_allure`` writes."""
    xfailed = {c.nodeid: c for c in claims if c.known_finding}
    changed = 0
    for path in alluredir.glob("*-result.json"):
        try:
            result = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        nodeid = next((label.get("value") for label in result.get("labels", [])
                       if label.get("name") == NODEID_LABEL), None)
        claim = xfailed.get(nodeid)
        if claim is None or result.get("status") != "skipped":
            continue
        result["status"] = "failed"
        details = result.setdefault("statusDetails", {})
        details["message"] = f"REFUTED ({claim.xfail_reason}; xfail in pytest) — {claim.line}"
        write_json_atomic(path, result)
        changed += 1
    return changed


# ---------------------------------------------------------------------------------------------
# a claim's own attachments


def _rows_csv(rows: Sequence[Any], delimiter: str) -> str:
    buf = io.StringIO()
    if rows and all(isinstance(r, Mapping) for r in rows):
        header = list(dict.fromkeys(k for r in rows for k in r))
        writer = csv.DictWriter(buf, header, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    else:
        csv.writer(buf, delimiter=delimiter).writerows(rows)
    return buf.getvalue()


def _kind(obj: Any, kind: str | None) -> str:
    """The attachment kind of ``obj`` (``kind`` or its default), or InvalidArgument saying what fits."""
    if kind is not None and (not isinstance(kind, str) or kind.lower() not in KINDS):
        raise InvalidArgument(f"kind={kind!r} is not allowed: choose one of {', '.join(KINDS)}")
    kind = kind.lower() if kind else None
    if hasattr(obj, "savefig"):  # a matplotlib Figure
        allowed, default = FIGURE_KINDS, "png"
    elif isinstance(obj, (bytes, bytearray)):
        if kind is None:
            raise InvalidArgument("bytes need their kind: attach(name, data, kind='png') (or svg, pdf, csv, ...)")
        return kind
    elif isinstance(obj, str):
        allowed, default = TEXT_KINDS, "text"
    elif isinstance(obj, Mapping):
        allowed, default = ("json",), "json"
    elif isinstance(obj, (list, tuple)) and all(isinstance(r, (list, tuple, Mapping)) for r in obj):
        allowed, default = ("csv", "tsv"), "csv"
    else:
        raise InvalidArgument(f"cannot attach an object of type {type(obj).__name__}: give a matplotlib Figure, "
                              "rows (a list of lists or dicts), a str, a dict (JSON) or bytes with kind=")
    if kind is not None and kind not in allowed:
        raise InvalidArgument(f"kind={kind!r} does not fit a {type(obj).__name__}: use one of {', '.join(allowed)}")
    return kind or default


def _body(obj: Any, kind: str) -> str | bytes:
    if hasattr(obj, "savefig"):
        buf = io.BytesIO()
        obj.savefig(buf, format="jpg" if kind == "jpeg" else kind, dpi=80, bbox_inches="tight")
        return buf.getvalue()
    if isinstance(obj, (bytes, bytearray, str)):
        return bytes(obj) if isinstance(obj, bytearray) else obj
    if isinstance(obj, Mapping):
        return json.dumps(finite_or_none(dict(obj)), indent=1, default=str)
    return _rows_csv(obj, "\t" if kind == "tsv" else ",")


def attach(name: str, obj: Any, kind: str | None = None, *, active: bool) -> None:
    """Attach ``obj`` to the running test's Allure report when ``active``; check the arguments always."""
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"name={name!r} is not allowed: name the attachment, e.g. 'loss curves'")
    kind = _kind(obj, kind)
    if not active:
        return
    import allure

    allure.attach(_body(obj, kind), name=name, attachment_type=getattr(allure.attachment_type, KINDS[kind]))
