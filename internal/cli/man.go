package cli

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/nsai/ingot-top/internal/buildinfo"
)

// ManCmd prints the man page. It is generated from the same kong model as --help, so the
// page lists every command and flag of the binary that printed it, with the same defaults
// and environment variables; the packages install its output as ingot-top(1).
type ManCmd struct{}

// Help is shown under the command's usage.
func (ManCmd) Help() string {
	return `The packages install it as ingot-top(1). Without a package:

  ingot-top man | man -l -                                            # read it
  ingot-top man | gzip -9n > /usr/local/share/man/man1/ingot-top.1.gz   # install it`
}

// Run writes the page to stdout.
func (ManCmd) Run(env *Env, kctx *kong.Context) error {
	w := bufio.NewWriter(env.Stdout)
	writeManPage(w, kctx.Model, buildinfo.Get())
	if err := w.Flush(); err != nil {
		return fmt.Errorf("man: %w", err)
	}
	return nil
}

// manSummary is the NAME line: what apropos and whatis show.
const manSummary = "live terminal dashboard and headless exporter for the Ingot labeling platform's telemetry"

// writeManPage renders the kong model as a man(7) page. Flags that several commands share
// with the same meaning (the NATS connection flags, the probes) are listed once, in a
// section per group, instead of once per command.
func writeManPage(w io.Writer, app *kong.Application, info buildinfo.Info) {
	m := &manWriter{w: w}
	date := info.Date
	if len(date) >= 10 {
		date = date[:10]
	}
	m.macro("TH", "INGOT-TOP", "1", date, "ingot-top "+info.Version, "User Commands")
	m.macro("nh")   // flag names must not be hyphenated across lines
	m.line(".ad l") // nor stretched: ragged right reads better than justified flag lists
	m.macro("SH", "NAME")
	m.line(roffEscape("ingot-top - " + manSummary))

	commands := leafCommands(app.Node)
	m.macro("SH", "SYNOPSIS")
	m.synopsis(app.Name, "[flags]")
	for _, c := range commands {
		m.synopsis(app.Name, c.Summary())
	}

	m.macro("SH", "DESCRIPTION")
	m.text(app.Help)

	m.macro("SH", "GLOBAL FLAGS")
	m.line("These apply to every command.")
	for _, f := range app.Node.Flags {
		if !f.Hidden {
			m.flag(f)
		}
	}

	shared := sharedFlags(commands)
	m.macro("SH", "COMMANDS")
	for _, c := range commands {
		title := app.Name + " " + c.Summary()
		if c == app.Node.DefaultCmd {
			title += " (the default command)"
		}
		m.macro("SS", title)
		m.text(c.Help)
		if c.Detail != "" && c.Detail != c.Help {
			m.text(c.Detail)
		}
		for _, p := range c.Positional {
			m.macro("TP")
			m.line(`\fI` + roffEscape(p.Summary()) + `\fR`)
			m.line(roffEscape(helpValueFormatter(p)))
		}
		var groups []string
		for _, f := range c.Flags {
			if f.Hidden {
				continue
			}
			if g, ok := shared.groupOf[flagKey(f)]; ok {
				if !contains(groups, g) {
					groups = append(groups, g)
				}
				continue
			}
			m.flag(f)
		}
		if len(groups) > 0 {
			m.macro("PP")
			m.line(roffEscape("It also takes the " + joinWords(groups) + " (sections below)."))
		}
	}

	for _, g := range shared.order {
		m.macro("SH", strings.ToUpper(g))
		m.line(roffEscape("Taken by " + joinCommands(app.Name, shared.users[g]) + "."))
		for _, f := range shared.flags[g] {
			m.flag(f)
		}
	}

	m.macro("SH", "ENVIRONMENT")
	m.environment(app.Node)

	m.macro("SH", "FILES")
	for _, f := range manFiles() {
		m.macro("TP")
		m.line(`\fI` + roffEscape(f[0]) + `\fR`)
		m.line(roffEscape(f[1]))
	}

	m.macro("SH", "EXIT STATUS")
	for _, e := range []struct {
		code int
		what string
	}{
		{ExitOK, "success"},
		{ExitProblem, "the command ran and found a problem (snapshot thresholds exceeded)"},
		{ExitUsage, "bad flags, environment or config file"},
		{ExitNoConnect, "could not connect to NATS"},
		{ExitInternal, "internal error"},
	} {
		m.macro("TP")
		m.line(fmt.Sprintf(`\fB%d\fR`, e.code))
		m.line(roffEscape(e.what))
	}

	m.macro("SH", "SEE ALSO")
	m.line(`\fBnats\fR(1), \fBprometheus\fR(1), \fBpromtool\fR(1), \fBsystemd.service\fR(5)`)
	m.macro("PP")
	m.line(roffEscape("README.md, RUNBOOK.md (the runbook of every alert), docs/ and the Prometheus rules in /usr/share/doc/ingot-top when installed from a package; https://github.com/nsai/ingot-top"))
}

// manFiles are the paths the program and its packages use.
func manFiles() [][2]string {
	return [][2]string{
		{"$XDG_CONFIG_HOME/ingot-top/config.yaml", "The config file (~/.config/ingot-top/config.yaml when XDG_CONFIG_HOME is unset). Keys are flag names; flags and environment win over it."},
		{"/etc/ingot-top/config.yaml", "The daemon's config file in the packages (ingot-top.service passes it with --config)."},
		{"/var/lib/ingot-top/audit", "The daemon's audit trail when it runs as root or under ingot-top.service; otherwise $XDG_STATE_HOME/ingot-top/audit."},
		{"/var/log/ingot-top", "The daemon's log files under ingot-top.service."},
	}
}

type manWriter struct{ w io.Writer }

func (m *manWriter) line(s string) { fmt.Fprintln(m.w, s) }

// macro writes a request; arguments are quoted, so they may hold spaces.
func (m *manWriter) macro(name string, args ...string) {
	var b strings.Builder
	b.WriteString("." + name)
	for _, a := range args {
		b.WriteString(` "` + strings.ReplaceAll(roffEscape(a), `"`, `\(dq`) + `"`)
	}
	m.line(b.String())
}

func (m *manWriter) synopsis(name, rest string) {
	m.line(`\fB` + roffEscape(name) + `\fR ` + roffEscape(rest))
	m.macro("br")
}

// text renders help text: blank lines separate paragraphs, lines within a paragraph are
// filled, and indented lines (examples, key lists) keep their layout.
func (m *manWriter) text(s string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return
	}
	var para []string
	var pre []string
	flushPara := func() {
		if len(para) > 0 {
			m.macro("PP")
			m.line(roffEscape(strings.Join(para, " ")))
			para = nil
		}
	}
	flushPre := func() {
		if len(pre) > 0 {
			indent := len(pre[0])
			for _, l := range pre {
				indent = min(indent, len(l)-len(strings.TrimLeft(l, " \t")))
			}
			m.macro("RS", "4")
			m.macro("nf")
			for _, l := range pre {
				m.line(roffEscape(l[indent:]))
			}
			m.macro("fi")
			m.macro("RE")
			pre = nil
		}
	}
	for _, l := range strings.Split(s, "\n") {
		switch {
		case strings.TrimSpace(l) == "":
			flushPara()
			flushPre()
		case l[0] == ' ' || l[0] == '\t':
			flushPara()
			if len(pre) == 0 {
				m.macro("PP")
			}
			pre = append(pre, strings.TrimRight(l, " \t"))
		default:
			flushPre()
			para = append(para, strings.TrimSpace(l))
		}
	}
	flushPara()
	flushPre()
}

func (m *manWriter) flag(f *kong.Flag) {
	m.macro("TP")
	m.line(flagUsage(f))
	if help := helpValueFormatter(f.Value); help != "" {
		m.line(roffEscape(help))
	}
}

// environment lists every variable a flag reads, with the flags it sets.
func (m *manWriter) environment(root *kong.Node) {
	vars := map[string][]string{}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			for _, e := range f.Envs {
				if !contains(vars[e], "--"+f.Name) {
					vars[e] = append(vars[e], "--"+f.Name)
				}
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(root)
	vars["NO_COLOR"] = nil
	vars["XDG_CONFIG_HOME"] = nil
	vars["XDG_STATE_HOME"] = nil
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m.macro("TP")
		m.line(`\fB` + roffEscape(n) + `\fR`)
		switch n {
		case "NO_COLOR":
			m.line(roffEscape("When set to a non-empty value, the dashboard draws without colours (as --no-color)."))
		case "XDG_CONFIG_HOME":
			m.line(roffEscape("Where the default config file is looked for."))
		case "XDG_STATE_HOME":
			m.line(roffEscape("Where a daemon not running as root keeps its audit trail by default."))
		default:
			m.line(roffEscape("Sets " + strings.Join(vars[n], ", ") + "; a flag on the command line wins over it, and it wins over the config file."))
		}
	}
}

// flagUsage is the bold flag names with the value placeholder, as --help prints them.
func flagUsage(f *kong.Flag) string {
	var b strings.Builder
	if f.Short != 0 {
		b.WriteString(`\fB` + roffEscape("-"+string(f.Short)) + `\fR, `)
	}
	name := "--" + f.Name
	if f.Tag.Negatable != "" {
		name = "--[no-]" + f.Name
	}
	b.WriteString(`\fB` + roffEscape(name) + `\fR`)
	if !f.IsBool() && !f.IsCounter() {
		b.WriteString(`=\fI` + roffEscape(f.FormatPlaceHolder()) + `\fR`)
	}
	return b.String()
}

// sharedFlagGroups describes flags that several commands take with the same meaning.
type sharedFlagGroups struct {
	groupOf map[string]string       // flag key → group title
	flags   map[string][]*kong.Flag // group title → flags, in model order
	users   map[string][]string     // group title → command names
	order   []string
}

// sharedFlags groups the flags that at least two commands declare identically (name,
// help, default) by the set of commands that take them.
func sharedFlags(commands []*kong.Node) sharedFlagGroups {
	users := map[string][]string{}
	first := map[string]*kong.Flag{}
	var keys []string
	for _, c := range commands {
		for _, f := range c.Flags {
			if f.Hidden {
				continue
			}
			k := flagKey(f)
			if _, ok := first[k]; !ok {
				first[k] = f
				keys = append(keys, k)
			}
			users[k] = append(users[k], c.Name)
		}
	}
	g := sharedFlagGroups{groupOf: map[string]string{}, flags: map[string][]*kong.Flag{}, users: map[string][]string{}}
	for _, k := range keys {
		if len(users[k]) < 2 {
			continue
		}
		title := groupTitle(first[k])
		g.groupOf[k] = title
		if _, ok := g.flags[title]; !ok {
			g.order = append(g.order, title)
			g.users[title] = users[k]
		} else {
			for _, u := range users[k] {
				if !contains(g.users[title], u) {
					g.users[title] = append(g.users[title], u)
				}
			}
		}
		g.flags[title] = append(g.flags[title], first[k])
	}
	return g
}

// groupTitle names a shared flag's section after what the flags are for.
func groupTitle(f *kong.Flag) string {
	switch {
	case f.Name == "server" || f.Name == "context" || f.Name == "subject" || f.Name == "connect-timeout" ||
		f.Name == "creds" || f.Name == "nkey" || f.Name == "user" || f.Name == "password" || f.Name == "token" ||
		strings.HasPrefix(f.Name, "tls"):
		return "connection flags"
	case strings.HasPrefix(f.Name, "alert."):
		return "alert flags"
	case strings.HasPrefix(f.Name, "prometheus") || strings.HasPrefix(f.Name, "scrape"):
		return "Prometheus source flags"
	case strings.HasSuffix(f.Name, "-health") || strings.HasPrefix(f.Name, "health."):
		return "health probe flags"
	case strings.HasPrefix(f.Name, "from-daemon"):
		return "fleet flags"
	default:
		return "display flags"
	}
}

func flagKey(f *kong.Flag) string { return f.Name + "\x00" + f.Help + "\x00" + f.Default }

// leafCommands are the commands a user runs: a command with subcommands (audit) is listed as
// its subcommands (audit merge, audit verify), whose summaries carry the full path.
func leafCommands(n *kong.Node) []*kong.Node {
	var out []*kong.Node
	for _, c := range visibleChildren(n) {
		if sub := leafCommands(c); len(sub) > 0 {
			out = append(out, sub...)
		} else {
			out = append(out, c)
		}
	}
	return out
}

func visibleChildren(n *kong.Node) []*kong.Node {
	var out []*kong.Node
	for _, c := range n.Children {
		if !c.Hidden {
			out = append(out, c)
		}
	}
	return out
}

func joinCommands(app string, names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = app + " " + n
	}
	return strings.Join(q, ", ")
}

// joinWords joins "a", "b", "c" as "a, b and c".
func joinWords(w []string) string {
	if len(w) < 2 {
		return strings.Join(w, "")
	}
	return strings.Join(w[:len(w)-1], ", ") + " and " + w[len(w)-1]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// roffEscape makes text safe for man(7): a backslash would start an escape, a line starting
// with a dot or an apostrophe would be a request, and "-" must be \- so that flags render
// as the ASCII hyphen-minus a reader can copy into a shell. A slash gets a break point (\:)
// after it, so a URL longer than the terminal is wide can wrap instead of overflowing.
func roffEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	s = strings.ReplaceAll(s, "/", `/\:`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
