// Package config owns the YAML config file: where it lives (XDG), how its keys map onto
// command-line flags, validation that names the bad key, and the precedence
// flags > environment > file > defaults, implemented as a kong resolver that yields to
// any flag or environment variable the user set.
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/alecthomas/kong"
	"go.yaml.in/yaml/v3"
)

// maxFileBytes bounds what we read: a config file is a few hundred bytes, and a runaway
// file (a log pointed at by mistake) must not be slurped.
const maxFileBytes = 1 << 20

// Sections are top-level keys that hold structured settings rather than flags.
var Sections = []string{"queries"}

// File is a loaded config file. The zero value (no file) resolves nothing.
type File struct {
	Path   string
	Loaded bool
	flags  map[string]any               // flattened flag name → raw YAML value
	lines  map[string]int               // flattened key → line, for error messages
	sects  map[string]map[string]string // section → key → value
}

// DefaultPath is $XDG_CONFIG_HOME/ingot-top/config.yaml, or ~/.config/ingot-top/config.yaml.
func DefaultPath(getenv func(string) string) string {
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "ingot-top", "config.yaml")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "ingot-top", "config.yaml")
	}
	return ""
}

// Load reads path. A missing file is not an error unless explicit (the user named it).
func Load(path string, explicit bool) (*File, error) {
	f := &File{Path: path, flags: map[string]any{}, lines: map[string]int{}, sects: map[string]map[string]string{}}
	if path == "" {
		return f, nil
	}
	fh, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !explicit {
			return f, nil
		}
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	defer fh.Close()
	buf := make([]byte, maxFileBytes+1)
	n, err := readFull(fh, buf)
	if err != nil {
		return nil, fmt.Errorf("config file %s: reading: %w", path, err)
	}
	if n > maxFileBytes {
		return nil, fmt.Errorf("config file %s: larger than %d bytes", path, maxFileBytes)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(buf[:n], &root); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	f.Loaded = true
	if len(root.Content) == 0 { // empty file
		return f, nil
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config file %s: line %d: the top level must be a mapping of settings", path, doc.Line)
	}
	if err := f.flatten("", doc); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return f, nil
}

func readFull(fh *os.File, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := fh.Read(buf[n:])
		n += m
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		if m == 0 {
			return n, nil
		}
	}
	return n, nil
}

func isSection(key string) bool {
	for _, s := range Sections {
		if s == key {
			return true
		}
	}
	return false
}

func (f *File) flatten(prefix string, m *yaml.Node) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := k.Value
		if prefix != "" {
			key = prefix + "." + key
		}
		if prefix == "" && isSection(key) {
			if v.Kind != yaml.MappingNode {
				return fmt.Errorf("line %d: %q must be a mapping of name: value", v.Line, key)
			}
			sect := map[string]string{}
			for j := 0; j+1 < len(v.Content); j += 2 {
				if v.Content[j+1].Kind != yaml.ScalarNode {
					return fmt.Errorf("line %d: %s.%s must be a string", v.Content[j+1].Line, key, v.Content[j].Value)
				}
				sect[v.Content[j].Value] = v.Content[j+1].Value
			}
			f.sects[key] = sect
			continue
		}
		switch v.Kind {
		case yaml.MappingNode:
			if err := f.flatten(key, v); err != nil {
				return err
			}
		case yaml.ScalarNode:
			f.flags[key] = v.Value
			f.lines[key] = k.Line
		case yaml.SequenceNode:
			items := make([]any, 0, len(v.Content))
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					return fmt.Errorf("line %d: %s: list items must be plain values", it.Line, key)
				}
				items = append(items, it.Value)
			}
			f.flags[key] = items
			f.lines[key] = k.Line
		default:
			return fmt.Errorf("line %d: %s: unsupported value", v.Line, key)
		}
	}
	return nil
}

// Section returns a structured section such as "queries" (nil when absent).
func (f *File) Section(name string) map[string]string { return f.sects[name] }

// Empty is the absence of a config file: it resolves nothing.
func Empty() *File {
	return &File{flags: map[string]any{}, lines: map[string]int{}, sects: map[string]map[string]string{}}
}

// SetsFlags reports whether the file sets any flag (sections aside).
func (f *File) SetsFlags() bool { return len(f.flags) > 0 }

// Has reports whether the file sets a flag.
func (f *File) Has(flag string) bool { _, ok := f.flags[flag]; return ok }

// Resolver returns the kong resolver for this file. getenv decides whether an environment
// variable outranks the file.
func (f *File) Resolver(getenv func(string) string) kong.Resolver {
	return &resolver{file: f, getenv: getenv}
}

type resolver struct {
	file   *File
	getenv func(string) string
}

// Validate rejects keys that match no flag of any command, naming the key and its line.
func (r *resolver) Validate(app *kong.Application) error {
	known := map[string]bool{}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, fl := range n.Flags {
			known[fl.Name] = true
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(app.Node)
	var bad []string
	for k := range r.file.flags {
		if !known[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Slice(bad, func(i, j int) bool { return r.file.lines[bad[i]] < r.file.lines[bad[j]] })
	msgs := make([]string, 0, len(bad))
	for _, k := range bad {
		msg := fmt.Sprintf("line %d: unknown key %q", r.file.lines[k], k)
		if s := closest(k, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		msgs = append(msgs, msg)
	}
	return fmt.Errorf("config file %s: %s", r.file.Path, strings.Join(msgs, "; "))
}

// Resolve yields the file's value unless an environment variable of the flag is set.
func (r *resolver) Resolve(_ *kong.Context, _ *kong.Path, flag *kong.Flag) (any, error) {
	v, ok := r.file.flags[flag.Name]
	if !ok {
		return nil, nil
	}
	for _, env := range flag.Envs {
		if r.getenv(env) != "" {
			return nil, nil
		}
	}
	return v, nil
}

func closest(key string, known map[string]bool) string {
	best, bestD := "", 4
	for k := range known {
		if d := distance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance, for "did you mean" hints.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
