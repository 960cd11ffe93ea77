package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "jan",
		Short: "A private, OpenAI-compatible LLM platform in one binary",
		Long: `jan runs an OpenAI-compatible LLM API with accounts and conversation
history on your machine, and the same server in production.

Start here:
  jan up                 the whole stack on Docker (Postgres, Keycloak, Kong, vLLM) and the server
  jan up --embedded      the server alone on embedded defaults (SQLite, built-in identity)
  jan chat               chat with it in the terminal
  jan status · jan logs · jan doctor · jan down`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.HiddenDefaultCmd = false // jan completion bash|zsh|fish|powershell
	v := buildVersion()
	root.Version = v.Version
	root.SetVersionTemplate("jan {{.Version}}\n")
	root.AddCommand(newServeCmd(), newUpCmd(), newVersionCmd(), newDevCmd(), newChatCmd(), newGuestCmd(), newModelsCmd(), newLoginCmd(), newUpgradeCmd(),
		newDownCmd(), newStatusCmd(), newLogsCmd(), newDoctorCmd(), newDeployCmd(), newGenDocsCmd())
	return root
}
