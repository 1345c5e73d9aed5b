// Command ingot-top is the operator's terminal tool for the Ingot labeling platform.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/nsai/ingot-top/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(os.Args[1:], cli.DefaultEnv(ctx))
	stop()
	os.Exit(code)
}
