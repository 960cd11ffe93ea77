package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// newGenDocsCmd writes the shell completions and man pages that releases
// ship (goreleaser runs it on the built binary; nothing is committed).
func newGenDocsCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:    "gen-docs",
		Short:  "Write shell completions and man pages (for packaging)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root := cmd.Root()
			completions, man := filepath.Join(dir, "completions"), filepath.Join(dir, "man")
			for _, d := range []string{completions, man} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
			}
			for file, gen := range map[string]func(string) error{
				"jan.bash": func(p string) error { return root.GenBashCompletionFileV2(p, true) },
				"jan.zsh":  root.GenZshCompletionFile,
				"jan.fish": func(p string) error { return root.GenFishCompletionFile(p, true) },
				"jan.ps1":  root.GenPowerShellCompletionFileWithDesc,
			} {
				if err := gen(filepath.Join(completions, file)); err != nil {
					return fmt.Errorf("completion %s: %w", file, err)
				}
			}
			if err := writeManPages(root, man, "jan "+buildVersion().Version); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s\n", completions, man)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "dist-docs", "write completions/ and man/ under this `directory`")
	return cmd
}
