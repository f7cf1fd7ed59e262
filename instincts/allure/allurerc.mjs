// Allure 3 configuration for the instincts claims report (pinned: package.json / package-lock.json).
// Used by `python -m instincts report` (instincts/htmlreport.py), which runs the pinned
// `node_modules/.bin/allure generate <results> --config allurerc.mjs --output <dir>` under Node 22.
//
// Paths resolve against this file's folder, not the caller's cwd.
// INSTINCTS_ALLURE_HISTORY overrides the history file (tests point it at a temporary file so
// they do not append to the repository's trend history).
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { defineConfig } from "allure";

const root = dirname(fileURLToPath(import.meta.url));
const historyPath = process.env.INSTINCTS_ALLURE_HISTORY || resolve(root, "reports/history.jsonl");

export default defineConfig({
  name: "instincts claims",
  output: resolve(root, "reports/allure-report"),
  // One JSON line per generated report; the awesome plugin draws trends and per-claim history from it.
  historyPath,
  plugins: {
    awesome: {
      options: {
        reportName: "instincts claims",
        // One self-contained index.html (scripts, styles, attachments inlined) that opens from disk.
        singleFile: true,
        groupBy: ["epic", "feature", "story"],
      },
    },
  },
  // Allure 3 reads categories from here (categories.json in the results folder is ignored).
  // The first matching rule wins. A claim's verdict reaches Allure two ways: the assertion message
  // ("assert <Verdict REFUTED — ...>", "INCONCLUSIVE — ...") and the verdict tag label that
  // instincts/report.py adds (tag=refuted / tag=inconclusive), which is there even when no message is.
  categories: {
    rules: [
      {
        id: "claim-refuted",
        name: "Claim refuted",
        matchers: [
          { statuses: ["failed"], message: /REFUTED/ },
          { statuses: ["failed"], labels: { tag: /^refuted$/ } },
        ],
        expand: true,
      },
      {
        // skipped by default; failed under --strict-claims
        id: "claim-inconclusive",
        name: "Claim inconclusive",
        expand: true,
        matchers: [
          { statuses: ["skipped", "failed"], message: /INCONCLUSIVE/ },
          { statuses: ["skipped", "failed"], labels: { tag: /^inconclusive$/ } },
        ],
      },
      {
        // The regression gate's entry (instincts gate): a failed gate is a regression against the baseline.
        id: "gate-regression",
        name: "Gate: regression against the baseline",
        matchers: [{ statuses: ["failed"], labels: { tag: /^gate$/ } }],
        expand: true,
      },
      {
        // Errors (broken) and failures that are not a verdict (an exception outside the claim's check).
        id: "infrastructure-error",
        name: "Infrastructure error",
        matchers: [{ statuses: ["broken"] }, { statuses: ["failed"] }],
        expand: true,
      },
    ],
  },
});
