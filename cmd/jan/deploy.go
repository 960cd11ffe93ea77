package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	chart "github.com/janhq/jan/deploy/helm"
	"github.com/janhq/jan/internal/deploy"
)

func newDeployCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Kubernetes manifests for running jan on a cluster",
		Long: `Kubernetes manifests for jan, from the Helm chart built into this binary
(deploy/helm/jan in the repository): N stateless jan serve replicas on an
external Postgres, a Service, an HPA, a PodDisruptionBudget, probes on
/healthz and /readyz, a drain matched to the termination grace, and an
optional vLLM Deployment with a GPU request.

With Helm, install the chart itself; without it, render the manifests and
apply them with kubectl.`,
		Example: `  jan deploy values --example production > values.yaml   # edit it
  jan deploy render -f values.yaml | kubectl apply -n jan -f -
  jan deploy render --example gpu-vllm --set replicaCount=3`,
	}
	cmd.AddCommand(newDeployRenderCmd(), newDeployValuesCmd())
	return cmd
}

type deployOptions struct {
	files     []string
	set       []string
	example   string
	release   string
	namespace string
}

func newDeployRenderCmd() *cobra.Command {
	o := &deployOptions{}
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Print the Kubernetes manifests for a values file",
		Long: `Print the manifests the Helm chart renders for the given values, as
"helm template" prints them, without needing Helm: the chart's defaults,
then an example's values (--example), then each values file (-f) in order,
then each --set, the later winning; maps merge key by key, anything else is
replaced, and null removes a default.

Settings that cannot work (SQLite with more than one replica, a drain longer
than the grace, a Keycloak without its secret, …) fail with a message naming
the setting. Secrets are referred to by name, never rendered: create them
first (see "jan deploy values").`,
		Example: `  jan deploy render -f values.yaml | kubectl apply -n jan -f -
  jan deploy render --example production --namespace jan
  jan deploy render --set database.url.existingSecret=jan-db,replicaCount=3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := deploy.Options{Release: o.release, Namespace: o.namespace, Set: o.set}
			if o.example != "" {
				b, err := example(o.example)
				if err != nil {
					return err
				}
				opts.Values = append(opts.Values, b)
			}
			for _, f := range o.files {
				b, err := readValuesFile(f, cmd.InOrStdin())
				if err != nil {
					return err
				}
				opts.Values = append(opts.Values, b)
			}
			out, err := deploy.Render(chart.Chart(), opts)
			if err != nil {
				return fmt.Errorf("render the chart: %w", err)
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), out)
			return err
		},
	}
	cmd.Flags().StringArrayVarP(&o.files, "values", "f", nil, "values `file` (YAML; - for stdin), repeatable: later files win")
	cmd.Flags().StringArrayVar(&o.set, "set", nil, "set `key.path=value` (comma-separated pairs; numbers, true/false and null are typed), repeatable")
	cmd.Flags().StringVar(&o.example, "example", "", "start from a built-in example's values: "+strings.Join(exampleNames(), ", "))
	cmd.Flags().StringVar(&o.release, "release", "jan", "release `name`: the prefix of every object's name")
	cmd.Flags().StringVarP(&o.namespace, "namespace", "n", "default", "`namespace` the objects are meant for (kubectl apply -n must match)")
	return cmd
}

func newDeployValuesCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "values",
		Short: "Print the chart's values, to start a values file from",
		Long: `Print the chart's default values.yaml, every setting commented, or with
--example a built-in example's values (which are merged over the defaults
when rendered). Redirect it to a file, edit it, and render with -f.`,
		Example: `  jan deploy values > values.yaml
  jan deploy values --example production > values.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var b []byte
			var err error
			if name == "" {
				b, err = fs.ReadFile(chart.Chart(), "values.yaml")
			} else {
				b, err = example(name)
			}
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cmd.Flags().StringVar(&name, "example", "", "print a built-in example's values instead: "+strings.Join(exampleNames(), ", "))
	return cmd
}

func exampleNames() []string {
	var names []string
	for n := range chart.Examples() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func example(name string) ([]byte, error) {
	b, ok := chart.Examples()[name]
	if !ok {
		return nil, fmt.Errorf("no example %q: the examples are %s", name, strings.Join(exampleNames(), ", "))
	}
	return b, nil
}

func readValuesFile(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		b, err := io.ReadAll(io.LimitReader(stdin, 16<<20))
		if err != nil {
			return nil, fmt.Errorf("read values from stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("values file: %w", err)
	}
	return b, nil
}
