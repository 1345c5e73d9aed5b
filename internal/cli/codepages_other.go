//go:build !linux

package cli

// releaseCodePages is Linux only: elsewhere the kernel's accounting of a binary's pages
// differs and there is nothing measured to release.
func releaseCodePages(dropCache bool) int64 { return 0 }
