// Package alertrules owns the tests of the Prometheus rule files ingot-top ships in
// deploy/prometheus: ingot-alerts.yml (the ADR-008 runbook alerts) and its promtool unit
// tests ingot-alerts_test.yml. Its Go tests run `promtool check rules` and
// `promtool test rules` on them and check that every alert is complete: a `for`, a page or
// ticket severity, summary and description, a runbook_url whose anchor exists in
// RUNBOOK.md, and unit tests in which it both fires and stays quiet.
package alertrules
