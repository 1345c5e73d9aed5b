package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/nsai/ingot-top/internal/audit"
)

// AuditCmd works on audit trails written by daemons; it reads only its arguments (no config
// file, no environment), so that an auditor's check means the same on every machine.
type AuditCmd struct {
	Merge  AuditMergeCmd  `cmd:"" help:"Write the fleet's audit trail: one record per stream sequence, in order, redeliveries folded."`
	Verify AuditVerifyCmd `cmd:"" help:"Check that the trails hold every stream sequence once; exit 1 if any is missing."`
}

// auditInputs are the arguments merge and verify share.
type auditInputs struct {
	Trails  []string `arg:"" name:"trail" type:"path" help:"Audit directories (--audit.dir of each daemon; day files audit-YYYY-MM-DD.jsonl[.gz]) or trail files (a merged trail)."`
	MaxRuns int      `name:"max-runs" default:"1024" help:"Most sorted runs merged at once. A daemon's trail is in sequence order except where it got a redelivery; each such break starts a run, and each run costs about 64 KiB while merging."`
}

func (a auditInputs) validate() error {
	if a.MaxRuns < 1 {
		return fmt.Errorf("--max-runs %d: want at least 1", a.MaxRuns)
	}
	for _, p := range a.Trails {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("trail %s: %w", p, err)
		}
	}
	return nil
}

// AuditMergeCmd writes the merged trail.
type AuditMergeCmd struct {
	auditInputs `embed:""`
	Output      string `short:"o" name:"output" type:"path" placeholder:"FILE" help:"File to write the merged trail to (written beside it, fsynced, then renamed into place); default standard output."`
	Quiet       bool   `short:"q" help:"Do not print the summary to stderr."`
}

// Help is shown under the command's usage.
func (AuditMergeCmd) Help() string {
	return `Daemons that share a stream (--group) each write the audit records of the messages they
were handed. A daemon killed after writing a batch but before acknowledging it leaves
those records behind, and JetStream hands the messages to another daemon, which writes
them again. Every record carries its JetStream stream sequence ("seq"), so merge writes
one record per sequence, in sequence order, keeping the first and folding the others
(same content, receive time aside). Records without a sequence (core NATS) come last, in
input order.

The summary (stderr) is the one 'audit verify' prints. Exit status: 0 merged; 1 merged,
but sequences are missing, duplicates disagree, or lines are damaged; 2 bad arguments;
4 a trail could not be read or the output written.

Examples:
  ingot-top audit merge /srv/a/audit /srv/b/audit /srv/c/audit -o fleet-2026-12-07.jsonl
  ingot-top audit merge node1/audit node2/audit | jq -c 'select(.metadata.labeler_id=="user_789")'`
}

// Validate runs at parse time.
func (c *AuditMergeCmd) Validate() error { return c.validate() }

// Run merges.
func (c *AuditMergeCmd) Run(env *Env) error {
	opts := audit.MergeOptions{MaxRuns: c.MaxRuns}
	var rep *audit.MergeReport
	var err error
	if c.Output == "" {
		rep, err = audit.Merge(c.Trails, env.Stdout, opts)
	} else {
		rep, err = audit.MergeToFile(c.Trails, c.Output, opts)
	}
	if err != nil {
		return &ExitError{Code: ExitInternal, Err: fmt.Errorf("audit merge: %w", err)}
	}
	if !c.Quiet {
		writeAuditReport(env.Stderr, rep)
	}
	if !rep.Complete() {
		return &ExitError{Code: ExitProblem, Err: errors.New("audit merge: " + auditProblem(rep))}
	}
	return nil
}

// AuditVerifyCmd checks the trails without writing anything.
type AuditVerifyCmd struct {
	auditInputs `embed:""`
	First       uint64 `name:"first" placeholder:"SEQ" help:"Lowest stream sequence the trails must hold (default: the lowest found)."`
	Last        uint64 `name:"last" placeholder:"SEQ" help:"Highest stream sequence the trails must hold (default: the highest found); e.g. the stream's last sequence from 'nats stream info'."`
	JSON        bool   `name:"json" help:"Print the report as JSON (for scripts)."`
}

// Help is shown under the command's usage.
func (AuditVerifyCmd) Help() string {
	return `Reads the trails as 'audit merge' does and prints: the records (one per stream
sequence), the duplicates folded (redeliveries of a killed daemon's batch), conflicts (one
sequence with two different records: the stream was recreated, or a trail was altered),
damaged lines, records without a sequence, and the sequences missing between the first
and the last (or --first and --last), listed as ranges.

Exit status: 0 every sequence is there once; 1 sequences missing, conflicts or damaged
lines; 2 bad arguments; 4 a trail could not be read.

Examples:
  ingot-top audit verify /srv/a/audit /srv/b/audit /srv/c/audit
  ingot-top audit verify fleet-2026-12-07.jsonl --first 1 --last 30000 --json`
}

// Validate runs at parse time.
func (c *AuditVerifyCmd) Validate() error {
	if err := c.validate(); err != nil {
		return err
	}
	if c.First != 0 && c.Last != 0 && c.Last < c.First {
		return fmt.Errorf("--last %d is below --first %d", c.Last, c.First)
	}
	return nil
}

// Run verifies.
func (c *AuditVerifyCmd) Run(env *Env) error {
	rep, err := audit.Merge(c.Trails, nil, audit.MergeOptions{First: c.First, Last: c.Last, MaxRuns: c.MaxRuns})
	if err != nil {
		return &ExitError{Code: ExitInternal, Err: fmt.Errorf("audit verify: %w", err)}
	}
	if c.JSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return &ExitError{Code: ExitInternal, Err: fmt.Errorf("audit verify: %w", err)}
		}
	} else {
		writeAuditReport(env.Stdout, rep)
	}
	if !rep.Complete() {
		return &ExitError{Code: ExitProblem, Err: errors.New("audit verify: " + auditProblem(rep))}
	}
	return nil
}

func auditProblem(rep *audit.MergeReport) string {
	return fmt.Sprintf("the trail is not complete: %d sequences missing, %d conflicts, %d damaged lines", rep.Missing, rep.Conflicts, rep.Damaged)
}

func writeAuditReport(w io.Writer, rep *audit.MergeReport) {
	fmt.Fprintf(w, "trails            %d (%d files, %d lines, %d sorted runs)\n", len(rep.Sources), rep.Files, rep.Lines, rep.Runs)
	if rep.FirstSeq != 0 {
		fmt.Fprintf(w, "records           %d (stream sequences %d..%d)\n", rep.Records, rep.FirstSeq, rep.LastSeq)
	} else {
		fmt.Fprintf(w, "records           %d\n", rep.Records)
	}
	fmt.Fprintf(w, "duplicates folded %d\n", rep.Duplicates)
	fmt.Fprintf(w, "conflicts         %d\n", rep.Conflicts)
	fmt.Fprintf(w, "unsequenced       %d\n", rep.Unsequenced)
	fmt.Fprintf(w, "damaged lines     %d\n", rep.Damaged)
	for _, at := range rep.DamagedAt {
		fmt.Fprintf(w, "  damaged at %s\n", at)
	}
	fmt.Fprintf(w, "missing           %d\n", rep.Missing)
	for _, r := range rep.MissingRanges {
		if r.From == r.To {
			fmt.Fprintf(w, "  missing %d\n", r.From)
		} else {
			fmt.Fprintf(w, "  missing %d-%d (%d)\n", r.From, r.To, r.To-r.From+1)
		}
	}
	if shown := len(rep.MissingRanges); uint64(shown) < rep.Missing && shown == 100 {
		fmt.Fprintf(w, "  (first %d ranges shown)\n", shown)
	}
}
