package cli

import (
	"fmt"

	"github.com/alecthomas/kong"
	"github.com/posener/complete"
	"github.com/willabides/kongplete"

	"github.com/nsai/ingot-top/internal/config"
)

// CompletionCmd prints a shell's completion script. The scripts are thin: on Tab the shell
// runs ingot-top with COMP_LINE set and the binary answers from its own kong model
// (kongplete), so completions never drift from the flags of the installed version.
type CompletionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"Shell to print the script for: ${enum}."`
}

// Help is shown under the command's usage.
func (CompletionCmd) Help() string {
	return `The packages install these scripts; by hand:

  bash:  ingot-top completion bash > ~/.local/share/bash-completion/completions/ingot-top
         (or: source <(ingot-top completion bash) in ~/.bashrc)
  zsh:   ingot-top completion zsh > "${fpath[1]}/_ingot-top"
         (or: source <(ingot-top completion zsh) in ~/.zshrc, after compinit)
  fish:  ingot-top completion fish > ~/.config/fish/completions/ingot-top.fish

The scripts call ingot-top (from PATH) to compute the candidates.`
}

// Run prints the script.
func (c *CompletionCmd) Run(env *Env) error {
	script, ok := completionScript(c.Shell)
	if !ok { // kong's enum check makes this unreachable from the command line
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("completion: unknown shell %q (bash, zsh, fish)", c.Shell)}
	}
	_, err := fmt.Fprint(env.Stdout, script)
	return err
}

// completionScript returns the script that registers `ingot-top` as its own completer. Each
// shell passes the line up to the cursor in COMP_LINE, as posener/complete (under kongplete)
// expects.
func completionScript(shell string) (string, bool) {
	switch shell {
	case "bash":
		return bashCompletion, true
	case "zsh":
		return zshCompletion, true
	case "fish":
		return fishCompletion, true
	}
	return "", false
}

const bashCompletion = `# bash completion for ingot-top (ingot-top completion bash).
# ingot-top itself computes the candidates from COMP_LINE; -o default falls back to file
# names where it has none.
complete -o default -o bashdefault -C ingot-top ingot-top
`

// zshCompletion works both from $fpath (autoloaded as the body of _ingot-top) and sourced.
const zshCompletion = `#compdef ingot-top
# zsh completion for ingot-top (ingot-top completion zsh).
# The command being completed computes the candidates from COMP_LINE.
_ingot-top() {
  local line="${(j: :)words[1,CURRENT]}"
  local -a candidates
  candidates=("${(@f)$(COMP_LINE="$line" COMP_POINT=${#line} "${words[1]}" 2>/dev/null)}")
  candidates=(${candidates:#})
  if (( ${#candidates} )); then
    compadd -- "${candidates[@]}"
  else
    _files
  fi
}
if [[ "${funcstack[1]}" == "_ingot-top" ]]; then
  _ingot-top "$@"
else
  compdef _ingot-top ingot-top
fi
`

const fishCompletion = `# fish completion for ingot-top (ingot-top completion fish).
# ingot-top itself computes the candidates from COMP_LINE.
function __ingot_top_complete
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    ingot-top
end
complete -c ingot-top -f -a "(__ingot_top_complete)"
`

// completeLine answers a shell's completion request (COMP_LINE, COMP_POINT) on env.Stdout.
func completeLine(env Env) int {
	var root Root
	parser, err := newParser(&root, config.Empty(), &env, func(int) {})
	if err != nil {
		fmt.Fprintf(env.Stderr, "ingot-top: completion: %v\n", err)
		return ExitInternal
	}
	cmd, err := completionModel(parser)
	if err != nil {
		fmt.Fprintf(env.Stderr, "ingot-top: completion: %v\n", err)
		return ExitInternal
	}
	c := complete.New(parser.Model.Name, cmd)
	c.Out = env.Stdout
	c.Complete() // reads COMP_LINE and COMP_POINT from the process environment
	return ExitOK
}

// completionModel is kongplete's translation of the kong model with two additions kong's
// tags cannot express: the default command's flags complete at the top level
// (`ingot-top -s` is the dashboard's -s), and flags of type path complete file names.
func completionModel(parser *kong.Kong) (complete.Command, error) {
	cmd, err := kongplete.Command(parser)
	if err != nil {
		return complete.Command{}, fmt.Errorf("building completions: %w", err)
	}
	addFilePredictors(parser.Model.Node, &cmd)
	if d := parser.Model.Node.DefaultCmd; d != nil {
		cmd.Flags = complete.Flags{}
		for name, p := range cmd.Sub[d.Name].GlobalFlags {
			if _, global := cmd.GlobalFlags[name]; !global {
				cmd.Flags[name] = p
			}
		}
	}
	return cmd, nil
}

// addFilePredictors walks the kong node and its completion command together.
func addFilePredictors(node *kong.Node, cmd *complete.Command) {
	for _, f := range node.Flags {
		var p complete.Predictor
		switch f.Tag.Type {
		case "path", "existingfile", "filecontent":
			p = complete.PredictFiles("*")
		case "existingdir":
			p = complete.PredictDirs("*")
		default:
			continue
		}
		cmd.GlobalFlags["--"+f.Name] = p
		if f.Short != 0 {
			cmd.GlobalFlags["-"+string(f.Short)] = p
		}
	}
	for _, child := range node.Children {
		sub, ok := cmd.Sub[child.Name]
		if !ok {
			continue
		}
		addFilePredictors(child, &sub)
		cmd.Sub[child.Name] = sub
	}
}
