package stacktest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"

	"github.com/janhq/jan/internal/stack"
)

// PostgresImage is the Postgres stand-in for api-db and keycloak-db, built
// by scripts/test-images/postgres.sh (not by this package: it needs root
// and a Debian mirror).
const PostgresImage = "jan-test/postgres:15"

// StandIns are the images of a stack that runs without a registry.
type StandIns struct {
	Kong          string // jan-test/kong:<digest>
	Keycloak      string // jan-test/keycloak:<digest>
	OtelCollector string // jan-test/otelcol:<digest>: the real collector, built from tools/otelcol
	VLLM          string // jan-test/vllm:<digest>, for vllm-cpu and vllm-llama
	Postgres      string // PostgresImage, for api-db and keycloak-db
}

// Env is the JAN_IMAGE_* variables that point compose.yaml at the images;
// an image left empty is left out.
func (s StandIns) Env() map[string]string {
	env := map[string]string{}
	for service, ref := range map[string]string{
		stack.ServiceKong:          s.Kong,
		stack.ServiceKeycloak:      s.Keycloak,
		stack.ServiceOtelCollector: s.OtelCollector,
		stack.ServiceVLLMCPU:       s.VLLM,
		stack.ServiceVLLMGPU:       s.VLLM,
		stack.ServiceAPIDB:         s.Postgres,
		stack.ServiceKeycloakDB:    s.Postgres,
	} {
		if ref != "" {
			env[stack.ImageEnv(service)] = ref
		}
	}
	return env
}

// standInImage is one FROM scratch image of one binary: where the binary
// is copied (the entrypoint first, then the programs its healthcheck runs).
type standInImage struct {
	repo  string
	paths []string
}

var standInImages = []standInImage{
	{"jan-test/kong", []string{"/usr/local/bin/kong"}},
	{"jan-test/keycloak", []string{"/opt/keycloak/bin/keycloak", "/bin/bash"}},
	{"jan-test/vllm", []string{"/usr/local/bin/vllm", "/usr/bin/python3"}},
}

// collectorImage is the real OpenTelemetry Collector (tools/otelcol), its
// binary where the contrib image has it.
var collectorImage = standInImage{"jan-test/otelcol", []string{"/otelcol-contrib"}}

var (
	buildOnce sync.Once
	built     StandIns
	buildErr  error
)

// Images returns the stand-in images, building them on first use in this
// process, and PostgresImage, which must exist already: without it t skips
// (or fails, see the package doc) with the command that builds it.
func Images(t testing.TB, cli *client.Client) StandIns {
	t.Helper()
	s := standIns(t, cli)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.ImageInspect(ctx, PostgresImage); err != nil {
		if cerrdefs.IsNotFound(err) {
			unavailable(t, "image %s is missing: build it with scripts/test-images/postgres.sh (as root; needs debootstrap)", PostgresImage)
		}
		t.Fatalf("stacktest: inspect %s: %v", PostgresImage, err)
	}
	s.Postgres = PostgresImage
	return s
}

// standIns builds (once) the images of cmd/jan-standin, without Postgres.
func standIns(t testing.TB, cli *client.Client) StandIns {
	t.Helper()
	buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // the collector's first build takes minutes
		defer cancel()
		start := time.Now()
		built, buildErr = buildStandIns(ctx, cli)
		if buildErr == nil {
			t.Logf("stacktest: stand-in images %s… ready in %v", built.Kong, time.Since(start).Round(10*time.Millisecond))
		}
	})
	if buildErr != nil {
		t.Fatalf("stacktest: stand-in images: %v", buildErr)
	}
	return built
}

func buildStandIns(ctx context.Context, cli *client.Client) (StandIns, error) {
	v, err := cli.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return StandIns{}, fmt.Errorf("engine version: %w", err)
	}
	if v.Os != "linux" {
		return StandIns{}, fmt.Errorf("the engine runs %s containers; the stand-ins are Linux images", v.Os)
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return StandIns{}, err
	}
	bin, err := buildBinary(ctx, root, "./cmd/jan-standin", v.Arch)
	if err != nil {
		return StandIns{}, err
	}
	otelcol, err := buildBinary(ctx, filepath.Join(root, "tools", "otelcol"), ".", v.Arch)
	if err != nil {
		return StandIns{}, err
	}
	images := append(slices.Clone(standInImages), collectorImage)
	bins := [][]byte{bin, bin, bin, otelcol}
	refs := make([]string, len(images))
	errs := make([]error, len(images))
	var wg sync.WaitGroup
	for i, img := range images {
		sum := sha256.Sum256(bins[i])
		refs[i] = img.repo + ":" + hex.EncodeToString(sum[:])[:12]
		wg.Go(func() { errs[i] = ensureImage(ctx, cli, refs[i], img, bins[i]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return StandIns{}, err
	}
	return StandIns{Kong: refs[0], Keycloak: refs[1], VLLM: refs[2], OtelCollector: refs[3]}, nil
}

// moduleRoot is the main module's directory.
func moduleRoot(ctx context.Context) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if _, err := os.Stat(filepath.Join(root, "cmd", "jan-standin")); err != nil {
		return "", fmt.Errorf("no cmd/jan-standin under the module root %s: %w", root, err)
	}
	return root, nil
}

// buildBinary compiles pkg in dir (a module's directory) statically for
// the engine's architecture; -trimpath keeps the bytes, and so the tag, the
// same for the same source wherever the checkout is. .ci/run builds
// tools/otelcol the same way first, so the build cache has it.
func buildBinary(ctx context.Context, dir, pkg, arch string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "jan-test-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "bin")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s in %s: %w\n%s", pkg, dir, err, msg)
	}
	return os.ReadFile(out)
}

// ensureImage builds ref unless the engine has it. Two processes building
// the same ref build the same image, so a race between them is harmless.
func ensureImage(ctx context.Context, cli *client.Client, ref string, img standInImage, bin []byte) error {
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect %s: %w", ref, err)
	}
	var df strings.Builder
	df.WriteString("FROM scratch\n")
	for _, p := range img.paths {
		fmt.Fprintf(&df, "COPY jan-standin %s\n", p)
	}
	fmt.Fprintf(&df, "ENV PATH=/usr/local/bin:/usr/bin:/bin\n")
	fmt.Fprintf(&df, "ENTRYPOINT [%q]\n", img.paths[0])
	fmt.Fprintf(&df, "LABEL org.jan.test-image=%s org.jan.test-image.personality=%s\n", img.repo, filepath.Base(img.paths[0]))

	var buildCtx bytes.Buffer
	tw := tar.NewWriter(&buildCtx)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(df.String())}, {"jan-standin", 0o755, bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}

	// The classic builder: BuildKit through the API needs a session, and
	// the classic one is what every engine (20.10 on) has.
	res, err := cli.ImageBuild(ctx, &buildCtx, client.ImageBuildOptions{
		Tags:        []string{ref},
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("build %s: %w", ref, err)
	}
	defer res.Body.Close()
	return buildResult(ref, res.Body)
}

// buildResult reads the build's JSON message stream; a build fails in it,
// not in the HTTP status.
func buildResult(ref string, body io.Reader) error {
	var out strings.Builder
	dec := json.NewDecoder(body)
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("build %s: reading the engine's answer: %w", ref, err)
		}
		out.WriteString(m.Stream)
		if m.Error != "" || m.ErrorDetail != nil {
			msg := m.Error
			if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
				msg = m.ErrorDetail.Message
			}
			return fmt.Errorf("build %s: %s\n%s", ref, msg, out.String())
		}
	}
}
