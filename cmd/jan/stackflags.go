package main

import (
	"context"
	"strings"

	"github.com/spf13/pflag"

	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/stack"
)

// stackOptions are the flags that shape the stack (jan up, jan doctor).
type stackOptions struct {
	GPU       string
	Inference string
	Without   []string
	Images    []string // service=ref
	Publish   []string // name=port
}

func (o *stackOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.GPU, "gpu", "auto", "vLLM profile: `auto` (detect an NVIDIA GPU), nvidia (insist), none (CPU profile)")
	fs.StringVar(&o.Inference, "inference", "", "where answers come from: `auto` (vLLM on a GPU, else an engine already running, else vLLM on the CPU), vllm, or external (an engine already running: --engine URL or one on the usual local ports; no vLLM container) (JAN_INFERENCE; default auto)")
	fs.StringSliceVar(&o.Without, "without", nil, "leave `SERVICE` out: kong (clients then use the llm-api address) or otel-collector (no traces); repeatable or comma-separated (JAN_WITHOUT)")
	fs.StringArrayVar(&o.Images, "image", nil, "use another image for a service, `SERVICE=REF` (repeatable; JAN_IMAGE_<SERVICE>)")
	fs.StringArrayVar(&o.Publish, "publish", nil, "publish a service on another host port, `NAME=PORT` (repeatable; names: gateway, keycloak, api-db, keycloak-db, otel-grpc, otel-http, vllm)")
}

// choices are the stack's choice flags, checked: --gpu, --inference (or
// JAN_INFERENCE) and --without (or JAN_WITHOUT).
func (o *stackOptions) choices(getenv func(string) string) (gpu stack.GPUMode, inf stack.InferenceMode, without []string, err error) {
	if gpu, err = stack.ParseGPUMode(o.GPU); err != nil {
		return
	}
	if inf, err = o.inference(getenv); err != nil {
		return
	}
	without, err = o.without(getenv)
	return
}

// without is --without, or JAN_WITHOUT (comma-separated), checked.
func (o *stackOptions) without(getenv func(string) string) ([]string, error) {
	list := o.Without
	if len(list) == 0 {
		for _, s := range strings.Split(getenv("JAN_WITHOUT"), ",") {
			if s = strings.TrimSpace(s); s != "" {
				list = append(list, s)
			}
		}
	}
	return list, stack.CheckWithout(list)
}

// inference is --inference, or JAN_INFERENCE.
func (o *stackOptions) inference(getenv func(string) string) (stack.InferenceMode, error) {
	v := o.Inference
	if v == "" {
		v = getenv("JAN_INFERENCE")
	}
	return stack.ParseInferenceMode(v)
}

// env is the environment compose.yaml is interpolated with: the process
// environment over .env, then --image and --publish.
func (o *stackOptions) env() (map[string]string, error) {
	env, err := config.Environ()
	if err != nil {
		return nil, err
	}
	return env, stack.Overrides(env, o.Images, o.Publish)
}

// openStack finds and pings the Docker engine, for the project the
// environment (or .env) names with JAN_PROJECT.
func openStack(ctx context.Context) (*stack.Stack, error) {
	env, err := config.Environ()
	if err != nil {
		return nil, err
	}
	return stack.OpenStack(ctx, env)
}

// dataDirFlag is --data-dir on the commands that only read the state.
func dataDirFlag(fs *pflag.FlagSet) {
	fs.String("data-dir", "", "directory for jan's state (JAN_DATA_DIR)")
}

// fitOf is what the user brings instead of the stack's own services: the
// identity settings the server reads, and the services left out.
func fitOf(cfg config.Config, without []string) stack.Fit {
	return stack.Fit{Without: without, Issuer: cfg.Issuer, NoGuests: cfg.NoGuests, ClientID: cfg.OIDCClient.ID}
}
